//! Fuzzed configs: 2,000 mutations (more with WRT_FUZZ_CASES) of the seed configs (random byte edits, deleted, duplicated and
//! re-indented lines, values swapped between lines, truncation, random flag values) must each load or give a
//! config error value, never panic. A deterministic generator keeps failures reproducible (the case number
//! is in the message).

use std::path::Path;
use wrt_train::config::{load_str, Override};
use wrt_train::Error;

/// SplitMix64: tiny, deterministic, good enough to pick mutations.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const YAML_BYTES: &[u8] = b":-[]{},&*!#'\"|>%@` \n\t0123456789.eE+abcxyz_?~";
const VALUES: &[&str] = &["", "~", "null", "true", "-1", "0", "1e-5", "1e999", ".nan", "[1, 2]", "{a: 1}", "ST^2", "'x'", "*a", "&a 3", "abc", "99999999999999999999", "0x1F", "[[[[", "- x"];

fn mutate(src: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = src.lines().map(str::to_string).collect();
    let edits = 1 + rng.below(3);
    for _ in 0..edits {
        match rng.below(7) {
            // Random byte edits (possibly breaking UTF-8: repaired lossily, as a reader of bytes would see).
            0 => {
                let mut bytes = lines.join("\n").into_bytes();
                for _ in 0..1 + rng.below(4) {
                    if bytes.is_empty() {
                        break;
                    }
                    let i = rng.below(bytes.len());
                    bytes[i] = if rng.below(8) == 0 { rng.next() as u8 } else { YAML_BYTES[rng.below(YAML_BYTES.len())] };
                }
                lines = String::from_utf8_lossy(&bytes).lines().map(str::to_string).collect();
            }
            1 if !lines.is_empty() => {
                let i = rng.below(lines.len());
                lines.remove(i);
            }
            2 if !lines.is_empty() => {
                let i = rng.below(lines.len());
                let l = lines[i].clone();
                lines.insert(rng.below(lines.len() + 1), l);
            }
            3 if lines.len() > 1 => {
                // Swap the values of two `key: value` lines.
                let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
                if let (Some((ka, va)), Some((kb, vb))) = (lines[i].split_once(':'), lines[j].split_once(':')) {
                    let (ka, va, kb, vb) = (ka.to_string(), va.to_string(), kb.to_string(), vb.to_string());
                    lines[i] = format!("{ka}:{vb}");
                    lines[j] = format!("{kb}:{va}");
                }
            }
            4 if !lines.is_empty() => {
                let i = rng.below(lines.len());
                let l = lines[i].trim_start().to_string();
                lines[i] = format!("{}{l}", " ".repeat(rng.below(7)));
            }
            5 if !lines.is_empty() => {
                // Replace a value with an odd one.
                let i = rng.below(lines.len());
                if let Some((k, _)) = lines[i].split_once(':') {
                    lines[i] = format!("{k}: {}", VALUES[rng.below(VALUES.len())]);
                }
            }
            _ => {
                let text = lines.join("\n");
                let cut = rng.below(text.len() + 1);
                let cut = (0..=cut).rev().find(|c| text.is_char_boundary(*c)).unwrap_or(0);
                lines = text[..cut].lines().map(str::to_string).collect();
            }
        }
    }
    lines.join("\n") + "\n"
}

fn random_flags(rng: &mut Rng) -> Vec<Override> {
    const PATHS: &[(&str, &str)] = &[
        ("training.max_epochs", "--max_epochs"),
        ("model.learning_rate", "--lr"),
        ("training.precision", "--precision"),
        ("training.devices", "--gpus"),
        ("logger", "--logger"),
        ("model.attn", "--attn"),
        ("model.type", "--model"),
        ("training.epochs", "--set"),
        ("model.res_out_channels_list", "--res_out_channels_list"),
        ("nope.x", "--set"),
    ];
    const FLAG_VALUES: &[&str] = &["5", "-3", "1e-4", "16-mixed", "0,1", "tensorboard,csv", "T->S", "tft", "satformer", "", "[1,2", "none", "x,y"];
    (0..rng.below(3))
        .map(|_| {
            let (p, f) = PATHS[rng.below(PATHS.len())];
            Override::new(p, FLAG_VALUES[rng.below(FLAG_VALUES.len())], f)
        })
        .collect()
}

#[test]
fn mutated_configs_give_values_or_errors_never_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/config");
    let seeds: Vec<String> = ["lightning_example.yaml", "multi_model_example.yaml", "dir/a_satformer.yaml", "dir/b_pair.yaml"]
        .iter()
        .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
        .collect();
    let mut rng = Rng(0x5eed_c0f1);
    let (mut ok, mut errs) = (0, 0);
    // WRT_FUZZ_CASES=200000 for a longer soak; CI runs the default.
    let cases: usize = std::env::var("WRT_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    for case in 0..cases {
        let src = &seeds[case % seeds.len()];
        let text = mutate(src, &mut rng);
        let flags = if case % 3 == 0 { random_flags(&mut rng) } else { Vec::new() };
        match std::panic::catch_unwind(|| load_str(&text, "fuzz.yaml", &flags)) {
            Ok(Ok(runs)) => {
                assert!(!runs.is_empty(), "case {case}: Ok with no runs");
                ok += 1;
            }
            Ok(Err(e)) => {
                assert!(matches!(e, Error::ConfigKey { .. } | Error::Io { .. }), "case {case}: unexpected error kind {e:?}");
                assert!(!e.to_string().is_empty());
                errs += 1;
            }
            Err(_) => panic!("case {case} panicked on input:\n{text}\nflags: {flags:?}"),
        }
    }
    // Not vacuous: the mutations produce both accepted and rejected configs.
    assert!(ok >= 100 && errs >= 500, "ok {ok}, errors {errs}");
}
