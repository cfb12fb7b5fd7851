//! TensorBoardLogger read back with wrt's own reader (framing and CRCs checked), and the reader against a
//! committed event file whose contents the real tensorboard package read (tools/tensorboard/readback.py
//! --write-expected).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use wrt_train::log::plot::confusion_matrix_png;
use wrt_train::log::tensorboard::reader::{event_files, read_event_file, read_scalars, EventKind, ValueKind};
use wrt_train::log::tensorboard::{decode_hparams, HParamValue, HParamsData};
use wrt_train::log::{png_info, Logger, TensorBoardLogger};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wrt-log-tb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Every summary value of a run with its step: (step, tag, plugin name, value).
fn values(dir: &Path) -> Vec<(i64, String, Option<String>, ValueKind)> {
    let mut out = Vec::new();
    for f in event_files(dir).unwrap() {
        for e in read_event_file(&f).unwrap() {
            if let EventKind::Summary(vs) = e.what {
                for v in vs {
                    out.push((e.step, v.tag, v.plugin.map(|p| p.0), v.value));
                }
            }
        }
    }
    out
}

fn hparams_of(dir: &Path) -> Vec<HParamsData> {
    let mut out = Vec::new();
    for f in event_files(dir).unwrap() {
        for e in read_event_file(&f).unwrap() {
            if let EventKind::Summary(vs) = e.what {
                for v in vs.into_iter().filter_map(|v| v.plugin).filter(|p| p.0 == "hparams") {
                    out.push(decode_hparams(&v.1).unwrap());
                }
            }
        }
    }
    out
}

#[test]
fn writes_what_it_reads_back() {
    let dir = tmp("roundtrip");
    let png = confusion_matrix_png(&[vec![3, 1], vec![0, 4]], &["a".into(), "b".into()], "cm").unwrap();
    let file;
    {
        // A long flush interval: everything after the first records is written by finalize/drop.
        let mut tb = TensorBoardLogger::new(&dir).unwrap().with_flush_secs(3600.0);
        file = tb.event_file().to_path_buf();
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.starts_with("events.out.tfevents."), "{name}");
        assert_eq!(name.split('.').count(), 7, "events.out.tfevents.TIME.HOST.PID.N: {name}");
        tb.log_hparams(&json!({"lr": 0.01, "opt": {"name": "adamw"}}), &[("val_acc".into(), 0.5)]).unwrap();
        tb.log_metrics(1, &[("train_loss".into(), 0.25), ("epoch".into(), 0.0)]).unwrap();
        tb.log_metrics(2, &[("train_loss".into(), f64::NAN)]).unwrap();
        tb.log_image("cm", 2, &png).unwrap();
        tb.log_text("report", 2, "ok").unwrap();
        assert!(tb.log_image("bad", 2, b"not a png").is_err());
    }
    let events = read_event_file(&file).unwrap();
    assert_eq!(events[0].what, EventKind::FileVersion("brain.Event:2".into()));
    assert!(events[0].wall_time > 1.6e9);
    assert_eq!((events[1].step, &events[1].what), (0, &EventKind::SessionLog(1)));

    let scalars = read_scalars(&dir).unwrap();
    assert_eq!(scalars["val_acc"], [(0, 0.5)]);
    assert_eq!(scalars["train_loss"][0], (1, 0.25));
    assert!(scalars["train_loss"][1].1.is_nan());
    assert_eq!(scalars["epoch"], [(1, 0.0)]);

    let vals = values(&dir);
    let (step, _, _, img) = vals.iter().find(|v| v.1 == "cm").unwrap();
    let info = png_info(&png).unwrap();
    assert_eq!(*step, 2);
    assert_eq!(*img, ValueKind::Image { height: info.height, width: info.width, colorspace: 3, png: png.clone() });
    let text = vals.iter().find(|v| v.1 == "report/text_summary").unwrap();
    assert_eq!((text.2.as_deref(), &text.3), (Some("text"), &ValueKind::Strings(vec![b"ok".to_vec()])));

    let hp = hparams_of(&dir);
    assert_eq!(
        hp,
        vec![
            HParamsData::Experiment { hparams: vec![("lr".into(), 3), ("opt/name".into(), 1)], metrics: vec!["val_acc".into()] },
            HParamsData::SessionStart {
                hparams: vec![("lr".into(), HParamValue::Number(0.01)), ("opt/name".into(), HParamValue::Str("adamw".into()))]
            },
            HParamsData::SessionEnd { status: 1 },
        ]
    );
    assert!(dir.join("hparams.yaml").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corruption_is_detected() {
    let dir = tmp("corrupt");
    let file = {
        let mut tb = TensorBoardLogger::new(&dir).unwrap();
        tb.log_metrics(3, &[("loss".into(), 1.0)]).unwrap();
        tb.finalize().unwrap();
        tb.event_file().to_path_buf()
    };
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n - 6] ^= 0x40; // inside the last payload
    std::fs::write(&file, &bytes).unwrap();
    let err = read_event_file(&file).unwrap_err().to_string();
    assert!(err.contains("CRC") && err.contains("events.out.tfevents"), "{err}");
    std::fs::write(&file, &bytes[..n - 2]).unwrap();
    assert!(read_event_file(&file).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_purges_steps_past_the_checkpoint() {
    let dir = tmp("purge");
    {
        let mut first = TensorBoardLogger::new(&dir).unwrap();
        for step in 0..10 {
            first.log_metrics(step, &[("loss".into(), step as f64)]).unwrap();
        }
    }
    // Make sure the second file sorts after the first (names start with the creation second).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    {
        let mut second = TensorBoardLogger::open(&dir, Some(5)).unwrap();
        for step in 5..8 {
            second.log_metrics(step, &[("loss".into(), 100.0 + step as f64)]).unwrap();
        }
    }
    assert_eq!(event_files(&dir).unwrap().len(), 2);
    let loss = &read_scalars(&dir).unwrap()["loss"];
    let want: Vec<(i64, f32)> = (0..5).map(|s| (s, s as f32)).chain((5..8).map(|s| (s, 100.0 + s as f32))).collect();
    assert_eq!(loss, &want);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The committed event file against what TensorBoard itself read from it.
#[test]
fn reads_the_fixture_as_tensorboard_does() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/log/tb_fixture");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();

    let files = event_files(&dir).unwrap();
    assert_eq!(files.len(), 1);
    let events = read_event_file(&files[0]).unwrap();
    assert_eq!(events[0].what, EventKind::FileVersion(expected["file_version"].as_str().unwrap().into()));

    let scalars = read_scalars(&dir).unwrap();
    let want = expected["scalars"].as_object().unwrap();
    assert_eq!(scalars.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (tag, pts) in want {
        let pts: Vec<(i64, f32)> =
            pts.as_array().unwrap().iter().map(|p| (p[0].as_i64().unwrap(), p[1].as_f64().unwrap() as f32)).collect();
        assert_eq!(scalars[tag], pts, "scalar {tag}");
    }

    let vals = values(&dir);
    for (tag, imgs) in expected["images"].as_object().unwrap() {
        let ours: Vec<(i64, u32, u32, u32)> = vals
            .iter()
            .filter(|v| &v.1 == tag)
            .map(|v| match &v.3 {
                ValueKind::Image { height, width, png, .. } => {
                    let info = png_info(png).unwrap();
                    assert_eq!((info.width, info.height), (*width, *height));
                    (v.0, *width, *height, info.channels())
                }
                other => panic!("{tag}: {other:?}"),
            })
            .collect();
        let theirs: Vec<(i64, u32, u32, u32)> = imgs
            .as_array()
            .unwrap()
            .iter()
            .map(|i| (i[0].as_i64().unwrap(), i[1].as_u64().unwrap() as u32, i[2].as_u64().unwrap() as u32, i[3].as_u64().unwrap() as u32))
            .collect();
        assert_eq!(ours, theirs, "image {tag}");
    }
    for (tag, texts) in expected["texts"].as_object().unwrap() {
        let ours: Vec<(i64, String)> = vals
            .iter()
            .filter(|v| &v.1 == tag)
            .map(|v| match &v.3 {
                ValueKind::Strings(s) => (v.0, String::from_utf8(s[0].clone()).unwrap()),
                other => panic!("{tag}: {other:?}"),
            })
            .collect();
        let theirs: Vec<(i64, String)> =
            texts.as_array().unwrap().iter().map(|t| (t[0].as_i64().unwrap(), t[1].as_str().unwrap().to_string())).collect();
        assert_eq!(ours, theirs, "text {tag}");
    }

    let hp = &expected["hparams"];
    let type_code = |name: &str| match name {
        "DATA_TYPE_STRING" => 1,
        "DATA_TYPE_BOOL" => 2,
        "DATA_TYPE_FLOAT64" => 3,
        other => panic!("type {other}"),
    };
    for data in hparams_of(&dir) {
        match data {
            HParamsData::Experiment { hparams, metrics } => {
                let want: Vec<(String, u64)> = hp["experiment"]["hparams"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| (h[0].as_str().unwrap().to_string(), type_code(h[1].as_str().unwrap())))
                    .collect();
                assert_eq!(hparams, want);
                let want: Vec<&str> = hp["experiment"]["metrics"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
                assert_eq!(metrics, want);
            }
            HParamsData::SessionStart { hparams } => {
                let want = hp["session_start"].as_object().unwrap();
                assert_eq!(hparams.len(), want.len());
                for (k, v) in hparams {
                    match v {
                        HParamValue::Number(x) => assert_eq!(Some(x), want[&k].as_f64(), "{k}"),
                        HParamValue::Str(s) => assert_eq!(Some(s.as_str()), want[&k].as_str(), "{k}"),
                        HParamValue::Bool(b) => assert_eq!(Some(b), want[&k].as_bool(), "{k}"),
                    }
                }
            }
            HParamsData::SessionEnd { status } => {
                assert_eq!(hp["session_end_status"], "STATUS_SUCCESS");
                assert_eq!(status, 1);
            }
        }
    }
}
