//! The streaming metrics against scikit-learn, torchmetrics, pytorch-forecasting and the WeatherBench
//! formulas (tools/metrics/gen_metrics.py writes tests/fixtures/metrics/). Each case is fed once as one batch
//! and once cut into uneven batches: both must match the reference within a relative 1e-12 (f64 on both
//! sides; only the order of summation differs) and each other bit for bit.

use serde_json::Value;
use std::collections::BTreeMap;
use wrt_tensor::Tensor;
use wrt_train::metrics::{
    bin_values_uniform, BinnedPrecip, BinnedPrecipConfig, Classification, ClassificationConfig, CrpsForm, Forecast, Gridded, LabelSet,
    Metric, RocAuc,
};

const RTOL: f64 = 1e-12;

fn dir() -> String {
    format!("{}/../tests/fixtures/metrics", env!("CARGO_MANIFEST_DIR"))
}

fn load(case: &str) -> BTreeMap<String, Tensor> {
    wrt_tensor::io::load(format!("{}/{case}.safetensors", dir())).unwrap_or_else(|e| panic!("{e}"))
}

fn case(name: &str) -> Value {
    let m: Value = serde_json::from_str(&std::fs::read_to_string(format!("{}/expected.json", dir())).unwrap()).unwrap();
    m["cases"][name].clone()
}

fn close(got: f64, want: f64, what: &str) {
    let scale = got.abs().max(want.abs()).max(1e-300);
    assert!((got - want).abs() <= RTOL * scale, "{what}: wrt {got:e} vs reference {want:e} (rel {:e})", (got - want).abs() / scale);
}

/// Feed everything as one batch and as uneven batches (7, 1, 2 and the rest; 1, 1 and the rest for small
/// cases); return the first result after checking the two agree bit for bit.
fn run<M: Metric>(mk: impl Fn() -> M, x: &Tensor, y: &Tensor) -> BTreeMap<String, f64> {
    let n = x.shape()[0];
    let mut one = mk();
    one.update(x, y).unwrap();
    let mut many = mk();
    let mut start = 0;
    let cuts = if n > 10 { vec![7, 1, 2, n - 10] } else { vec![1, 1, n - 2] };
    for s in cuts {
        many.update(&x.narrow(0, start, s).unwrap(), &y.narrow(0, start, s).unwrap()).unwrap();
        start += s;
    }
    let (a, b) = (one.compute().unwrap(), many.compute().unwrap());
    assert_eq!(a.len(), b.len());
    for ((ka, va), (kb, vb)) in a.iter().zip(&b) {
        assert_eq!(ka, kb);
        assert_eq!(va.to_bits(), vb.to_bits(), "{ka} depends on the batch boundaries: {va} vs {vb}");
    }
    a.into_iter().collect()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("expected a number, got {v}"))
}

#[test]
fn classification_matches_sklearn() {
    let c = case("classification");
    let exp = &c["expected"];
    let t = load("classification");
    let names: Vec<String> = serde_json::from_value(c["class_names"].clone()).unwrap();
    for (labels, tag) in [(LabelSet::Present, "present"), (LabelSet::All, "all")] {
        let mk = || {
            let mut cfg = ClassificationConfig::new(6);
            cfg.top_k = vec![2, 3];
            cfg.per_class = true;
            cfg.labels = labels;
            Classification::with_config(cfg).unwrap()
        };
        for target in ["input.target", "input.target_onehot"] {
            let got = run(mk, &t["input.logits"], &t[target]);
            close(got["acc"], f(&exp["acc"]), "acc");
            close(got["top2_acc"], f(&exp["top2_acc"]), "top2_acc");
            close(got["top3_acc"], f(&exp["top3_acc"]), "top3_acc");
            for (k, v) in exp[tag].as_object().unwrap() {
                close(got[k], f(v), &format!("{tag} {k}"));
            }
        }
    }
    let mut m = Classification::with_config(ClassificationConfig { per_class: true, ..ClassificationConfig::new(6) }).unwrap();
    m.update(&t["input.logits"], &t["input.target"]).unwrap();
    let got: BTreeMap<String, f64> = m.compute().unwrap().into_iter().collect();
    let pc = &exp["per_class"];
    for (i, label) in pc["labels"].as_array().unwrap().iter().enumerate() {
        let l = label.as_u64().unwrap() as usize;
        for s in ["precision", "recall", "f1"] {
            close(got[&format!("{s}_{l}")], f(&pc[s][i]), &format!("{s} of class {l}"));
        }
        assert_eq!(m.counts().class_scores(l).support, pc["support"][i].as_u64().unwrap());
    }
    assert!(!got.contains_key("f1_5"), "class 5 occurs nowhere, so the present label set leaves it out");
    let want: Vec<Vec<u64>> = serde_json::from_value(exp["confusion"].clone()).unwrap();
    assert_eq!(m.confusion_matrix(), want);
    close(m.counts().cohen_kappa(), f(&exp["kappa"]), "kappa");
    assert_eq!(m.report(2), exp["report_present_2"].as_str().unwrap());

    let mut named = ClassificationConfig::new(6);
    named.class_names = Some(names.clone());
    let mut m = Classification::with_config(named.clone()).unwrap();
    m.update(&t["input.logits"], &t["input.target"]).unwrap();
    assert_eq!(m.report(4), exp["report_present_4_names"].as_str().unwrap());
    named.labels = LabelSet::All;
    let mut m = Classification::with_config(named).unwrap();
    m.update(&t["input.logits"], &t["input.target"]).unwrap();
    assert_eq!(m.report(3), exp["report_all_3_names"].as_str().unwrap());
}

#[test]
fn roc_auc_matches_sklearn() {
    let c = case("roc_auc");
    let t = load("roc_auc");
    let got = run(|| RocAuc::new(4, true).unwrap(), &t["input.logits"], &t["input.target"]);
    close(got["auroc"], f(&c["expected"]["auroc"]), "multiclass ovr macro auroc");
    let got = run(|| RocAuc::new(2, false).unwrap(), &t["input.probs_binary"], &t["input.target_binary"]);
    close(got["auroc"], f(&c["expected"]["auroc_binary"]), "binary auroc with ties");
}

#[test]
fn binned_precip_matches_torchmetrics_and_the_reference_crps() {
    let c = case("precip");
    let exp = &c["expected"];
    let t = load("precip");
    let thresholds: Vec<f64> = serde_json::from_value(c["thresholds"].clone()).unwrap();
    for (form, key) in [(CrpsForm::Reference, "crps_reference"), (CrpsForm::Standard, "crps_standard")] {
        let mk = || {
            let mut cfg = BinnedPrecipConfig::new(16);
            cfg.crps = form;
            cfg.bin_values = Some(bin_values_uniform(16, f(&c["max"])));
            cfg.thresholds = thresholds.clone();
            BinnedPrecip::with_config(cfg).unwrap()
        };
        for target in ["input.target", "input.target_onehot"] {
            let got = run(mk, &t["input.logits"], &t[target]);
            close(got["csi"], f(&exp["csi"]), "csi");
            close(got["f1"], f(&exp["f1"]), "f1");
            close(got["crps"], f(&exp[key]), key);
            for (i, th) in thresholds.iter().enumerate() {
                close(got[&format!("csi@{th}")], f(&exp["events"]["csi"][i]), &format!("csi@{th}"));
                close(got[&format!("f1@{th}")], f(&exp["events"]["f1"][i]), &format!("f1@{th}"));
            }
        }
    }
}

#[test]
fn gridded_matches_weatherbench_formulas() {
    let t = load("gridded");
    let lat = t["input.lat"].to_vec_f64().unwrap();
    let names: Vec<String> = (0..3).map(|c| c.to_string()).collect();
    let mk = || Gridded::new(names.clone()).unwrap().with_latitudes(&lat).unwrap().with_climatology(&t["input.clim"]).unwrap();
    let got = run(mk, &t["input.preds"], &t["input.target"]);
    let exp = case("gridded")["expected"].clone();
    assert_eq!(got.len(), exp.as_object().unwrap().len(), "{:?}", got.keys().collect::<Vec<_>>());
    for (k, v) in exp.as_object().unwrap() {
        close(got[k], f(v), k);
    }

    let t = load("gridded_upper");
    let names: Vec<String> = (0..4).map(|c| c.to_string()).collect();
    let mk = || Gridded::new(names.clone()).unwrap().with_climatology(&t["input.clim"]).unwrap();
    let got = run(mk, &t["input.preds"], &t["input.target"]);
    let exp = case("gridded_upper")["expected"].clone();
    assert_eq!(got.len(), exp.as_object().unwrap().len(), "no latitudes, so no wrmse keys");
    for (k, v) in exp.as_object().unwrap() {
        close(got[k], f(v), k);
    }
}

#[test]
fn forecast_matches_pytorch_forecasting_and_sklearn() {
    let c = case("forecast");
    let exp = &c["expected"];
    let t = load("forecast");
    let qs: Vec<f64> = serde_json::from_value(c["quantiles"].clone()).unwrap();
    let check = |got: &BTreeMap<String, f64>, want: &Value, tag: &str| {
        for (k, v) in want.as_object().unwrap() {
            close(got[k], f(v), &format!("{tag} {k}"));
        }
        // the q-risks are the paper's (pytorch-forecasting has none): checked below against their formula
        let listed = got.keys().filter(|k| !k.ends_with("_risk")).count();
        assert_eq!(listed, want.as_object().unwrap().len(), "{tag}: {:?}", got.keys().collect::<Vec<_>>());
    };
    // The quantile case has only 5 series; cut it as 2 + 3 instead of run()'s split.
    let full = run_pair(|| Forecast::quantiles(&qs).unwrap(), &t["input.preds"], &t["input.target"], None);
    check(&full, &exp["full"], "full");
    // q-risk = 2 sum_i max(q e_i, (q - 1) e_i) / sum_i |y_i|, e = y - yhat_q, over every element (f64 here)
    let (p, y) = (t["input.preds"].to_vec_f64().unwrap(), t["input.target"].to_vec_f64().unwrap());
    let abs_y: f64 = y.iter().map(|v| v.abs()).sum();
    for (j, q) in qs.iter().enumerate() {
        let pin: f64 = y.iter().enumerate().map(|(i, &yv)| {
            let e = yv - p[i * qs.len() + j];
            (q * e).max((q - 1.0) * e)
        }).sum();
        let name = format!("p{}_risk", (q * 100.0).round() as i64);
        close(full[&name], 2.0 * pin / abs_y, &format!("full {name}"));
    }
    let lengths: Vec<usize> = t["input.lengths"].to_vec::<i64>().unwrap().iter().map(|&l| l as usize).collect();
    let masked = run_pair(|| Forecast::quantiles(&qs).unwrap(), &t["input.preds"], &t["input.target"], Some(&lengths));
    check(&masked, &exp["masked"], "masked");
    let point = run(Forecast::point, &t["input.point_preds"], &t["input.point_target"]);
    check(&point, &exp["point"], "point");
}

fn run_pair(mk: impl Fn() -> Forecast, x: &Tensor, y: &Tensor, lengths: Option<&[usize]>) -> BTreeMap<String, f64> {
    let feed = |m: &mut Forecast, start: usize, len: usize| {
        let (xs, ys) = (x.narrow(0, start, len).unwrap(), y.narrow(0, start, len).unwrap());
        match lengths {
            Some(l) => m.update_with_lengths(&xs, &ys, &l[start..start + len]).unwrap(),
            None => m.update(&xs, &ys).unwrap(),
        }
    };
    let n = x.shape()[0];
    let (mut one, mut two) = (mk(), mk());
    feed(&mut one, 0, n);
    feed(&mut two, 0, 2);
    feed(&mut two, 2, n - 2);
    let (a, b) = (one.compute().unwrap(), two.compute().unwrap());
    for ((k, va), (_, vb)) in a.iter().zip(&b) {
        assert_eq!(va.to_bits(), vb.to_bits(), "{k} depends on the batch boundaries");
    }
    a.into_iter().collect()
}
