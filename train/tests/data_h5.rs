//! HDF5 files written by h5py (tools/data/gen_h5_fixtures.py: chunked + gzip, bool enums, vlen string
//! attributes) read back exactly through every layout, and each validation failure reported with the file,
//! the dataset, what was expected and what was found.

mod data_common;

use data_common::*;
use std::path::Path;
use wrt_tensor::DType;
use wrt_train::data::{self, Dataset, Kind, Normalize, OpenOptions};

fn raw() -> OpenOptions {
    OpenOptions { normalize: Normalize::None, ..Default::default() }
}

fn f32s_of(s: &data::Sample, name: &str) -> Vec<f32> {
    s.iter().find(|(n, _)| n == name).unwrap().1.to_vec::<f32>().unwrap()
}

fn field<'a>(s: &'a data::Sample, name: &str) -> &'a wrt_tensor::Tensor {
    &s.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no field {name}")).1
}

#[test]
fn satformer_fixture_reads_back_exactly() {
    let d = data::SatformerDataset::open(&fixture("satformer_small.h5"), &raw()).unwrap();
    assert_eq!(d.len(), 6);
    assert_eq!(d.num_classes(), 5);
    assert_eq!(d.bin_edges().unwrap(), &[0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
    let all = ramp(6 * 96, 0.25, -3.0);
    for i in 0..6 {
        let s = d.get(i, 0).unwrap();
        assert_eq!(field(&s, "x").shape(), &[2, 3, 4, 4]);
        assert_eq!(f32s_of(&s, "x"), &all[i * 96..(i + 1) * 96]);
        assert_eq!(field(&s, "y").item::<i64>().unwrap(), (i as i64 * 3) % 5);
        assert_eq!(field(&s, "y").dtype(), DType::I64);
    }
    let names: Vec<String> = d.fields().into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["x", "y"]);
    assert!(d.get(6, 0).unwrap_err().to_string().contains("out of range"));
}

#[test]
fn atmodist_fixture_pairs_are_states_of_the_file() {
    let d = data::AtmoDistDataset::open(&fixture("atmodist_small.h5"), &OpenOptions { seed: 3, ..raw() }).unwrap();
    // time_interval 12 h at frequency 3h: 4 gap classes; one pair per time step.
    assert_eq!((d.num_classes(), d.len(), d.steps()), (4, 12, 12));
    assert_eq!(d.variables(), ["d2m", "msl"]);
    assert_eq!(d.frequency_hours(), Some(3.0));
    let all = ramp(12 * 32, 0.5, -3.0);
    let mut classes = std::collections::BTreeSet::new();
    for epoch in 0..3 {
        for i in 0..12 {
            let s = d.get(i, epoch).unwrap();
            let (t1, t2, class) = d.pair(i, epoch).unwrap();
            assert!(t1 < t2 && t2 - t1 <= 4 && (t1 == i || t2 == i), "pair ({t1}, {t2}) for anchor {i}");
            assert_eq!(class, (t2 - t1) as i64 - 1);
            assert_eq!(f32s_of(&s, "x1"), &all[t1 * 32..(t1 + 1) * 32]);
            assert_eq!(f32s_of(&s, "x2"), &all[t2 * 32..(t2 + 1) * 32]);
            assert_eq!(field(&s, "y").item::<i64>().unwrap(), class);
            // Same (seed, epoch, index), same pair.
            assert_eq!(d.pair(i, epoch).unwrap(), (t1, t2, class));
            classes.insert(class);
        }
    }
    assert_eq!(classes.len(), 4, "all gap classes occur");
    let per_epoch: Vec<Vec<_>> = (0..2).map(|e| (0..12).map(|i| d.pair(i, e).unwrap()).collect()).collect();
    assert_ne!(per_epoch[0], per_epoch[1], "pairs are redrawn each epoch");
}

#[test]
fn sitsformer_fixture_with_bool_mask_and_int32_labels() {
    let d = data::SitsformerDataset::open(&fixture("sitsformer_small.h5"), &raw()).unwrap();
    assert_eq!((d.len(), d.num_classes()), (5, 3));
    let all = ramp(5 * 96, 0.25, -3.0);
    let masks = [[true, true, true], [true, true, false], [true, true, true], [true, false, false], [true, true, true]];
    for i in 0..5 {
        let s = d.get(i, 0).unwrap();
        assert_eq!(field(&s, "mask").dtype(), DType::Bool);
        let m: Vec<bool> = field(&s, "mask").to_vec::<u8>().unwrap().into_iter().map(|b| b != 0).collect();
        assert_eq!(m, masks[i]);
        let seq = f32s_of(&s, "sequence");
        for t in 0..3 {
            let frame = &seq[t * 32..(t + 1) * 32];
            if masks[i][t] {
                assert_eq!(frame, &all[i * 96 + t * 32..i * 96 + (t + 1) * 32]);
            } else {
                assert!(frame.iter().all(|&v| v == 0.0), "padded frame is zeroed");
            }
        }
        assert_eq!(field(&s, "label").item::<i64>().unwrap(), [0, 2, 1, 2, 0][i]);
    }
}

#[test]
fn pangu_fixture_multi_step_targets_and_latitudes() {
    let opts = OpenOptions { pangu: data::PanguOptions { steps: 2 }, ..raw() };
    let d = data::PanguDataset::open(&fixture("pangu_small.h5"), &opts).unwrap();
    assert_eq!(d.len(), 4);
    assert_eq!(d.lat().unwrap(), &[60.0, 20.0, -20.0, -60.0]);
    let w = d.lat_weights().unwrap();
    assert!((w.iter().sum::<f32>() / 4.0 - 1.0).abs() < 1e-6 && w[1] > w[0]);
    let surf = ramp(6 * 64, 0.25, -3.0);
    let up = ramp(6 * 192, 0.125, 1.0);
    let s = d.get(1, 0).unwrap();
    let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["surface", "upper", "target_surface", "target_upper"]);
    assert_eq!(f32s_of(&s, "surface"), &surf[64..128]);
    assert_eq!(field(&s, "target_surface").shape(), &[2, 2, 4, 8]);
    assert_eq!(f32s_of(&s, "target_surface"), &surf[128..256]);
    assert_eq!(field(&s, "upper").shape(), &[2, 3, 4, 8]);
    assert_eq!(f32s_of(&s, "upper"), &up[192..384]);
    assert_eq!(f32s_of(&s, "target_upper"), &up[384..768]);
    assert!(data::PanguDataset::open(&fixture("pangu_small.h5"), &OpenOptions { pangu: data::PanguOptions { steps: 6 }, ..raw() }).is_err());
}

#[test]
fn tft_fixture_splits_encoder_and_decoder() {
    let d = data::TftDataset::open(&fixture("tft_small.h5"), &raw()).unwrap();
    assert_eq!((d.len(), d.encoder_length(), d.decoder_length(), d.feature_counts()), (5, 4, 2, (2, 2, 1)));
    let (st, kn, ob, tg) = (ramp(10, 0.25, -3.0), ramp(60, 0.25, 1.0), ramp(30, 0.25, 2.0), ramp(30, 0.25, -1.0));
    let i = 3;
    let s = d.get(i, 0).unwrap();
    assert_eq!(f32s_of(&s, "static"), &st[6..8]);
    assert_eq!(f32s_of(&s, "encoder_known"), &kn[i * 12..i * 12 + 8]);
    assert_eq!(f32s_of(&s, "decoder_known"), &kn[i * 12 + 8..i * 12 + 12]);
    assert_eq!(f32s_of(&s, "encoder_observed"), &ob[i * 6..i * 6 + 4]);
    assert_eq!(f32s_of(&s, "encoder_target"), &tg[i * 6..i * 6 + 4]);
    assert_eq!(f32s_of(&s, "target"), &tg[i * 6 + 4..i * 6 + 6]);
    assert_eq!(field(&s, "decoder_known").shape(), &[2, 2]);
}

#[test]
fn open_by_kind_and_inspect_listing() {
    for (kind, file) in [(Kind::Satformer, "satformer_small.h5"), (Kind::AtmoDist, "atmodist_small.h5"), (Kind::Sitsformer, "sitsformer_small.h5"), (Kind::Pangu, "pangu_small.h5"), (Kind::Tft, "tft_small.h5")] {
        let d = data::open(kind, fixture(file), &raw()).unwrap();
        assert!(!d.is_empty());
        let s = d.get(0, 0).unwrap();
        let fields = d.fields();
        assert_eq!(s.len(), fields.len());
        for ((n, t), f) in s.iter().zip(&fields) {
            assert_eq!((n, t.shape(), t.dtype()), (&f.name, f.shape.as_slice(), f.dtype), "{kind}");
        }
        assert_eq!(Kind::parse(kind.name()).unwrap(), kind);
    }
    assert!(Kind::parse("resnet").unwrap_err().to_string().contains("satformer"));
    let text = data::inspect(fixture("satformer_small.h5")).unwrap();
    assert!(text.contains("x: float32 [6, 2, 3, 4, 4], chunks [2, 1, 3, 4, 4], gzip(4)"), "{text}");
    assert!(text.contains("y: int64 [6]"), "{text}");
    assert!(text.contains("@bin_edges = float64 [0, 0.2"), "{text}");
    assert!(text.contains("@description = str \"wrt data fixture"), "{text}");
    let text = data::inspect(fixture("atmodist_small.h5")).unwrap();
    assert!(text.contains("@variables = str [\"d2m\", \"msl\"]") && text.contains("@frequency = str \"3h\""), "{text}");
    let text = data::inspect(fixture("sitsformer_small.h5")).unwrap();
    assert!(text.contains("mask: bool [5, 3]") && text.contains("label: int32 [5], contiguous"), "{text}");
}

#[test]
fn standard_normalisation_uses_stats_stored_once() {
    let dir = tmpdir("stats");
    let path = dir.join("sat.h5");
    std::fs::copy(fixture("satformer_small.h5"), &path).unwrap();
    let d = data::SatformerDataset::open(&path, &OpenOptions::default()).unwrap();
    let sidecar = data::NormStats::sidecar_path(&path);
    assert_eq!(sidecar, dir.join("sat.h5.stats.json"));
    let stats = data::NormStats::load(&sidecar).unwrap();
    let x = stats.get("x").unwrap();
    // Expected: per channel c of x [6, 2, 3, 4, 4], population mean and std of the ramp values.
    let all = ramp(6 * 96, 0.25, -3.0);
    for c in 0..3 {
        let v: Vec<f64> = all.iter().enumerate().filter(|(k, _)| (k / 16) % 3 == c).map(|(_, &v)| v as f64).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        assert!((x.mean[c] - mean).abs() < 1e-12 && (x.std[c] - std).abs() < 1e-12, "channel {c}");
        assert_eq!((x.min[c], x.max[c], x.count[c]), (v.iter().cloned().fold(f64::MAX, f64::min), v.iter().cloned().fold(f64::MIN, f64::max), 192));
    }
    let s = d.get(2, 0).unwrap();
    let got = f32s_of(&s, "x");
    for (k, g) in got.iter().enumerate() {
        let c = (k / 16) % 3;
        let want = ((all[2 * 96 + k] as f64 - x.mean[c]) / x.std[c]) as f32;
        assert!((g - want).abs() < 1e-5, "{g} vs {want}");
    }
    // Reused while the data file is unchanged (a marker written into the sidecar survives a reopen) ...
    let mut marked = stats.clone();
    marked.datasets.get_mut("x").unwrap().mean[0] = 123.0;
    marked.save(&sidecar).unwrap();
    data::SatformerDataset::open(&path, &OpenOptions::default()).unwrap();
    assert_eq!(data::NormStats::load(&sidecar).unwrap().get("x").unwrap().mean[0], 123.0);
    // ... and recomputed when it changes, or when the sidecar is garbage.
    std::fs::write(&sidecar, "{ not json").unwrap();
    data::SatformerDataset::open(&path, &OpenOptions::default()).unwrap();
    assert_eq!(data::NormStats::load(&sidecar).unwrap(), stats);
    // An explicit stats path (e.g. the run directory) instead of the sidecar; min-max scaling.
    let elsewhere = dir.join("run").join("stats.json");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    let opts = OpenOptions { normalize: Normalize::MinMax, stats_path: Some(elsewhere.clone()), ..Default::default() };
    let d = data::SatformerDataset::open(&path, &opts).unwrap();
    assert!(elsewhere.exists());
    let v = f32s_of(&d.get(5, 0).unwrap(), "x");
    assert!(v.iter().all(|&x| (-1e-6..=1.0 + 1e-6).contains(&x)) && v.iter().any(|&x| x > 0.99));
}

#[test]
fn sitsformer_stats_skip_padded_frames() {
    let dir = tmpdir("sits-stats");
    let opts = OpenOptions { stats_path: Some(dir.join("s.json")), ..Default::default() };
    let d = data::SitsformerDataset::open(&fixture("sitsformer_small.h5"), &opts).unwrap();
    let st = d.stats().unwrap().get("sequences").unwrap();
    // 15 frames, 3 of them padded: 12 valid frames x 16 pixels per channel.
    assert_eq!(st.count, vec![12 * 16, 12 * 16]);
}

fn err(kind: Kind, path: &Path) -> String {
    match data::open(kind, path, &raw()) {
        Ok(_) => panic!("{} opened as {kind} but should not", path.display()),
        Err(e) => e.to_string(),
    }
}

fn has_all(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "error message lacks {p:?}: {msg}");
    }
}

#[test]
fn validation_errors_name_file_dataset_expected_and_found() {
    let dir = tmpdir("errors");
    let p = |n: &str| dir.join(n);

    write_h5(&p("missing.h5"), &[("x", f32s(&[3, 2, 1, 2, 2]))], &[]);
    has_all(&err(Kind::Satformer, &p("missing.h5")), &["missing.h5", "missing dataset 'y'", "expected [N]", "the file has: x"]);

    write_h5(&p("rank.h5"), &[("x", f32s(&[3, 1, 2, 2])), ("y", i64s(&[0, 1, 0]))], &[]);
    has_all(&err(Kind::Satformer, &p("rank.h5")), &["rank.h5", "dataset 'x'", "expected rank 5 [N, T, C, H, W]", "found rank 4 with shape [3, 1, 2, 2]"]);

    write_h5(&p("ydtype.h5"), &[("x", f32s(&[3, 2, 1, 2, 2])), ("y", f32s(&[3]))], &[]);
    has_all(&err(Kind::Satformer, &p("ydtype.h5")), &["ydtype.h5", "dataset 'y'", "expected an integer dtype", "found float32"]);

    write_h5(&p("xdtype.h5"), &[("x", Arr::I64(vec![0; 24], vec![3, 2, 1, 2, 2])), ("y", i64s(&[0, 1, 0]))], &[]);
    has_all(&err(Kind::Satformer, &p("xdtype.h5")), &["dataset 'x'", "expected a float dtype", "found int64"]);

    write_h5(&p("n.h5"), &[("x", f32s(&[4, 2, 1, 2, 2])), ("y", i64s(&[0, 1, 0]))], &[]);
    has_all(&err(Kind::Satformer, &p("n.h5")), &["n.h5", "'x' and 'y' disagree on the number of samples N", "'x' has 4", "'y' has 3"]);

    write_h5(&p("bins.h5"), &[("x", f32s(&[3, 2, 1, 2, 2])), ("y", i64s(&[0, 5, 0]))], &[]);
    let f = hdf5::File::open_rw(p("bins.h5")).unwrap();
    f.new_attr_builder().with_data(ndarray::arr1(&[0.0, 0.5, 1.0]).view()).create("bin_edges").unwrap();
    drop(f);
    has_all(&err(Kind::Satformer, &p("bins.h5")), &["dataset 'y'", "label 5 at index 1", "2 bins"]);

    // SITS-Former: a mask whose T differs; a float mask.
    write_h5(&p("mask.h5"), &[("sequences", f32s(&[2, 3, 1, 2, 2])), ("mask", Arr::Bool(vec![true; 4], vec![2, 2])), ("label", i64s(&[0, 1]))], &[]);
    has_all(&err(Kind::Sitsformer, &p("mask.h5")), &["'sequences' and 'mask' disagree on the number of time steps T"]);
    write_h5(&p("fmask.h5"), &[("sequences", f32s(&[2, 3, 1, 2, 2])), ("mask", f32s(&[2, 3])), ("label", i64s(&[0, 1]))], &[]);
    has_all(&err(Kind::Sitsformer, &p("fmask.h5")), &["dataset 'mask'", "expected bool", "found float32"]);

    // AtmoDist: variables that do not match C; too few steps for the classes; a bad frequency.
    write_h5(&p("vars.h5"), &[("fields", f32s(&[10, 2, 2, 2]))], &[("frequency", "3h"), ("time_interval", "6")]);
    let f = hdf5::File::open_rw(p("vars.h5")).unwrap();
    let names: Vec<hdf5::types::VarLenUnicode> = ["a", "b", "c"].iter().map(|s| s.parse().unwrap()).collect();
    f.new_attr::<hdf5::types::VarLenUnicode>().shape([3]).create("variables").unwrap().write_raw(&names).unwrap();
    drop(f);
    has_all(&err(Kind::AtmoDist, &p("vars.h5")), &["attribute 'variables' names 3 variables (a, b, c)", "C = 2"]);
    write_h5(&p("short.h5"), &[("fields", f32s(&[8, 2, 2, 2]))], &[]);
    has_all(&err(Kind::AtmoDist, &p("short.h5")), &["8 gap classes need more than 8 time steps, found T = 8"]);
    write_h5(&p("freq.h5"), &[("fields", f32s(&[20, 2, 2, 2]))], &[("frequency", "often"), ("time_interval", "24")]);
    has_all(&err(Kind::AtmoDist, &p("freq.h5")), &["attribute 'frequency' = 'often'"]);

    // Pangu: an upper-air grid of another size; latitudes of the wrong length.
    write_h5(&p("grid.h5"), &[("surface", f32s(&[3, 2, 4, 4])), ("upper", f32s(&[3, 1, 2, 4, 5]))], &[]);
    has_all(&err(Kind::Pangu, &p("grid.h5")), &["'surface' and 'upper' disagree on the grid width W", "'surface' has 4", "'upper' has 5"]);
    write_h5(&p("lat.h5"), &[("surface", f32s(&[3, 2, 4, 4])), ("lat", f32s(&[5]))], &[]);
    has_all(&err(Kind::Pangu, &p("lat.h5")), &["dataset 'lat'", "expected the grid height H of 'surface' = 4", "found 5"]);

    // TFT: lengths that do not add up; missing attributes.
    let tft = |n: &str, attrs: &[(&str, &str)]| {
        write_h5(&p(n), &[("static", f32s(&[2, 1])), ("known", f32s(&[2, 5, 1])), ("observed", f32s(&[2, 5, 1])), ("target", f32s(&[2, 5]))], attrs);
    };
    tft("len.h5", &[("encoder_length", "4"), ("decoder_length", "2")]);
    has_all(&err(Kind::Tft, &p("len.h5")), &["encoder_length = 4 and decoder_length = 2", "L = 5"]);
    tft("noattr.h5", &[]);
    has_all(&err(Kind::Tft, &p("noattr.h5")), &["missing attributes 'encoder_length' and 'decoder_length'"]);
    tft("frac.h5", &[("encoder_length", "3.5")]);
    has_all(&err(Kind::Tft, &p("frac.h5")), &["attribute 'encoder_length'", "whole number"]);

    // Not HDF5 at all, and no file.
    std::fs::write(p("text.h5"), "just text, long enough to look like something").unwrap();
    has_all(&err(Kind::Satformer, &p("text.h5")), &["text.h5", "cannot be read as an HDF5 file"]);
    let e = data::open(Kind::Satformer, p("absent.h5"), &raw()).err().unwrap();
    assert!(matches!(e, wrt_train::Error::Io { .. }), "{e}");
}

#[test]
fn tft_windows_and_static_categoricals() {
    let dir = tmpdir("tft-windows");
    let p = |n: &str| dir.join(n);
    let win = |w: usize| OpenOptions { window: Some(w), ..raw() };
    // one series [T, F] = [10, 3], windows of 4: 6 samples, x = steps t..t+4, y = step t+4
    write_h5(&p("one.h5"), &[("series", f32s(&[10, 3]))], &[]);
    let d = data::TftWindowsDataset::open(&p("one.h5"), &win(4)).unwrap();
    assert_eq!((d.len(), d.features()), (6, 3));
    let all = ramp(30, 0.5, -1.0);
    let s = d.get(2, 0).unwrap();
    assert_eq!(f32s_of(&s, "x"), &all[6..18]);
    assert_eq!(f32s_of(&s, "y"), &all[18..21]);
    // two series [N, T, F] = [2, 6, 2], windows of 4: 2 per series, none across the boundary
    write_h5(&p("two.h5"), &[("series", f32s(&[2, 6, 2]))], &[]);
    let d = data::open(Kind::TftSeries, p("two.h5"), &win(4)).unwrap();
    assert_eq!(d.len(), 4);
    let all = ramp(24, 0.5, -1.0);
    assert_eq!(f32s_of(&d.get(2, 0).unwrap(), "y"), &all[12 + 8..12 + 10]);
    let e = data::open(Kind::TftSeries, p("two.h5"), &win(6)).err().unwrap().to_string();
    has_all(&e, &["a window of 6 steps", "has 6 steps", "data.window"]);
    // the multi-horizon layout given to the windows reader, and the other way round, say which is which
    has_all(&err(Kind::Tft, &p("one.h5")), &["holds 'series'", "model.variant: seed"]);

    // static categoricals: classes counted from the data, or checked against the cardinality attribute
    let arrays = |cat: &[i64]| {
        vec![
            ("static", f32s(&[2, 1])),
            ("static_cat", Arr::I64(cat.to_vec(), vec![2, 1])),
            ("known", f32s(&[2, 5, 1])),
            ("observed", f32s(&[2, 5, 1])),
            ("target", f32s(&[2, 5])),
        ]
    };
    let lengths = [("encoder_length", "3"), ("decoder_length", "2")];
    write_h5(&p("cat.h5"), &arrays(&[0, 2]), &lengths);
    let d = data::TftDataset::open(&p("cat.h5"), &raw()).unwrap();
    assert_eq!(d.names().categoricals, vec![("static_cat_0".to_string(), 3)]);
    assert_eq!((d.names().known.clone(), d.names().target.clone()), (vec!["known_0".to_string()], "target".to_string()));
    assert_eq!(field(&d.get(1, 0).unwrap(), "static_cat").to_vec::<i64>().unwrap(), vec![2]);
    write_h5(&p("card.h5"), &arrays(&[0, 2]), &[lengths[0], lengths[1], ("static_cat_cardinality", "2")]);
    has_all(&err(Kind::Tft, &p("card.h5")), &["static_cat[1, 0] = 2 is outside the 2 classes of 'static_cat_0'"]);
    std::fs::remove_dir_all(&dir).ok();
}
