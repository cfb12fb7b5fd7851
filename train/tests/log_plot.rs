//! The PNG plots decode, have the intended size and draw something.

use std::path::{Path, PathBuf};
use wrt_train::log::plot::{confusion_matrix_png, curves, from_csv, MetricsHistory};
use wrt_train::log::{png_info, PNG_SIGNATURE};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wrt-log-plot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Decode fully with the png crate; returns (width, height, RGB(A) bytes, channels).
fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>, usize) {
    assert_eq!(&bytes[..8], &PNG_SIGNATURE);
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().expect("valid PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("valid PNG data");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf, info.color_type.samples())
}

fn pixel(img: &(u32, u32, Vec<u8>, usize), x: u32, y: u32) -> [u8; 3] {
    let i = ((y * img.0 + x) as usize) * img.3;
    [img.2[i], img.2[i + 1], img.2[i + 2]]
}

#[test]
fn curves_write_decodable_pngs() {
    let mut h = MetricsHistory::new();
    for step in 0..40u64 {
        let s = step as f64;
        h.push(step, &[("train_loss_step".into(), 2.0 / (1.0 + s)), ("lr-AdamW".into(), 1e-3 * (1.0 - s / 40.0)), ("epoch".into(), (step / 10) as f64)]);
        if step % 10 == 9 {
            h.push(step, &[("val_loss".into(), 2.5 / (1.0 + s)), ("val_acc".into(), s / 40.0), ("train_acc".into(), s / 35.0)]);
        }
    }
    h.push(39, &[("val_f1/macro".into(), 0.7)]); // a single point still plots
    let dir = tmp("curves");
    let written = curves(&h, &dir).unwrap();
    let names: Vec<String> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["acc.png", "f1_macro.png", "loss.png", "lr.png"]);
    for p in &written {
        let bytes = std::fs::read(p).unwrap();
        let info = png_info(&bytes).unwrap();
        assert_eq!((info.width, info.height), (800, 500), "{}", p.display());
        let img = decode(&bytes);
        assert_eq!((img.0, img.1), (800, 500));
        // Something besides white and greys (the series colours) was drawn.
        let coloured = img.2.chunks(img.3).filter(|c| !(c[0] == c[1] && c[1] == c[2])).count();
        // A single point is a marker and a legend swatch; a curve is hundreds of pixels.
        let min = if p.ends_with("f1_macro.png") { 60 } else { 500 };
        assert!(coloured > min, "{}: {coloured} coloured pixels", p.display());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plots_lightnings_metrics_csv() {
    // Lightning's own file (with a NaN cell, which is skipped).
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/log/lightning_csv/metrics.csv");
    let dir = tmp("fromcsv");
    let written = from_csv(&csv, &dir).unwrap();
    let names: Vec<String> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["acc.png", "grad_norm.png", "loss.png", "lr.png", "tiny.png"]);
    let h = MetricsHistory::from_csv(&csv).unwrap();
    assert_eq!(h.series("val_loss").unwrap().len(), 3);
    assert!(h.series("val_loss").unwrap()[2].1.is_nan());
    assert_eq!(h.series("epoch").unwrap().len(), 14);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn from_csv_names_the_bad_cell() {
    let dir = tmp("badcsv");
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("metrics.csv");
    std::fs::write(&csv, "loss,step\r\n0.5,0\r\nabc,1\r\n").unwrap();
    let err = MetricsHistory::from_csv(&csv).unwrap_err().to_string();
    assert!(err.contains("line 3") && err.contains("loss") && err.contains("abc"), "{err}");
    std::fs::write(&csv, "loss\r\n0.5\r\n").unwrap();
    assert!(MetricsHistory::from_csv(&csv).unwrap_err().to_string().contains("step"));
    assert!(from_csv(&dir.join("missing.csv"), &dir).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn confusion_matrix_is_a_heatmap() {
    let counts = vec![vec![50, 3, 0], vec![4, 20, 6], vec![0, 1, 9]];
    let names: Vec<String> = ["cat", "dog", "bird"].iter().map(|s| s.to_string()).collect();
    let bytes = confusion_matrix_png(&counts, &names, "val").unwrap();
    let img = decode(&bytes);
    assert!(img.0 >= 320 && img.1 >= 240);
    // 3 classes: 64-pixel cells starting at (left, 50). The (0,0) cell holds the maximum: darkest blue; the
    // (0,2) cell holds 0: near white. Sample a cell corner, away from the count text.
    let left = (0..img.0).find(|&x| pixel(&img, x, 52) != [255, 255, 255]).unwrap();
    assert_eq!(pixel(&img, left + 3, 53), [8, 48, 107]);
    assert_eq!(pixel(&img, left + 2 * 64 + 3, 53), [247, 251, 255]);

    // Many classes with long names: labels turn vertical, counts are dropped when cells get small.
    let n = 40;
    let counts: Vec<Vec<u64>> = (0..n).map(|i| (0..n).map(|j| if i == j { 100 } else { (i * j % 7) as u64 }).collect()).collect();
    let names: Vec<String> = (0..n).map(|i| format!("precipitation_bin_{i}")).collect();
    let big = decode(&confusion_matrix_png(&counts, &names, "40 bins").unwrap());
    assert!(big.0 > 560 && big.1 > 560, "{}x{}", big.0, big.1);
}
