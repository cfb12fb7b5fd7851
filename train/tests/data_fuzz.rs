//! Mutated inputs: byte flips, bit flips and truncations of small valid .h5 and .npy files, each written to
//! a temporary file and pushed through everything that reads user data (open for every layout, read every
//! sample, a loader pass, normalisation statistics, inspect). Each must give Ok or an error value; a panic
//! fails the test (no catch_unwind: the readers themselves must return errors).

mod data_common;

use data_common::*;
use std::path::Path;
use wrt_train::data::{self, DataLoader, Kind, LoaderConfig, NpyArray, OpenOptions};

/// SplitMix64: a reproducible stream of mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        data::derive_seed(self.0, &[])
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The i-th mutation of `good`: most edits land in the first 4 KiB (superblock, object headers, B-trees:
/// where a flip changes structure rather than a data value).
fn mutate(good: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = good.to_vec();
    let hot = b.len().min(4096);
    match rng.below(6) {
        0 => b.truncate(rng.below(b.len())),
        1 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(hot);
                b[at] = rng.next() as u8;
            }
        }
        2 => {
            let at = rng.below(hot);
            b[at] ^= 1 << rng.below(8);
        }
        3 => {
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(b.len());
                b[at] = rng.next() as u8;
            }
        }
        4 => {
            // A run of 0x00 or 0xff bytes: lengths and addresses become 0 or huge.
            let at = rng.below(hot);
            let fill = if rng.below(2) == 0 { 0x00 } else { 0xff };
            let end = (at + 1 + rng.below(8)).min(b.len());
            b[at..end].fill(fill);
        }
        _ => {
            let at = rng.below(hot);
            b[at] ^= 1 << rng.below(8);
            b.truncate(b.len() - rng.below(b.len() / 2));
        }
    }
    b
}

/// Everything a user's file goes through. Errors are fine; the point is that nothing panics.
fn exercise_h5(path: &Path, stats: &Path) -> usize {
    let mut ok = 0;
    let _ = data::inspect(path);
    for kind in Kind::ALL {
        for normalize in [data::Normalize::None, data::Normalize::Standard] {
            let opts = OpenOptions { normalize, stats_path: Some(stats.to_path_buf()), ..Default::default() };
            let Ok(d) = data::open(kind, path, &opts) else { continue };
            ok += 1;
            for i in 0..d.len().min(64) {
                let _ = d.get(i, 0);
            }
            if let Ok(l) = DataLoader::new(d.clone(), LoaderConfig { batch_size: 4, shuffle: true, ..Default::default() }) {
                if let Ok(it) = l.iter(1) {
                    for b in it.take(16) {
                        let _ = b;
                    }
                }
            }
            let _ = std::fs::remove_file(stats);
        }
    }
    ok
}

fn fuzz_h5(name: &str, cases: usize, seed: u64) {
    let dir = tmpdir(&format!("fuzz-{name}"));
    let good = std::fs::read(fixture(name)).unwrap();
    let (path, stats) = (dir.join("m.h5"), dir.join("m.stats.json"));
    assert!(exercise_h5(&fixture(name), &stats) > 0, "the unmutated file opens");
    let mut rng = Rng(seed);
    let mut opened = 0;
    let trace = std::env::var("WRT_FUZZ_TRACE").is_ok();
    for case in 0..cases {
        let bytes = mutate(&good, &mut rng);
        if trace {
            // Keep each case on disk, so that a crash inside libhdf5 leaves its input behind.
            std::fs::write(dir.join(format!("case-{case}.h5")), &bytes).unwrap();
            eprintln!("{name} case {case}");
        }
        std::fs::write(&path, bytes).unwrap();
        opened += exercise_h5(&path, &stats);
    }
    // Mutations of data bytes leave files readable: the loop did reach the sample reads.
    assert!(opened > 0, "{name}: no mutated file opened at all");
    eprintln!("{name}: {cases} mutated files, {opened} successful opens");
}

/// A soak run: `WRT_FUZZ_SEED=7 WRT_FUZZ_CASES=20000 cargo test -p wrt-train --test data_fuzz` (with
/// `WRT_FUZZ_TRACE=1` each case is kept on disk and named on stderr, so a crash leaves its input behind).
fn soak() -> (u64, usize) {
    let seed = std::env::var("WRT_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    let cases = std::env::var("WRT_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
    (seed, cases)
}

#[test]
fn mutated_h5_files_give_errors_not_panics() {
    let (seed, cases) = soak();
    fuzz_h5("satformer_small.h5", if cases > 0 { cases } else { 600 }, 1 + 1000 * seed);
    fuzz_h5("sitsformer_small.h5", if cases > 0 { cases } else { 500 }, 2 + 1000 * seed);
}

#[test]
fn mutated_npy_files_give_errors_not_panics() {
    let dir = tmpdir("fuzz-npy");
    let path = dir.join("m.npy");
    let mut rng = Rng(3);
    let mut opened = 0;
    for (k, base) in ["f32_v1.npy", "f32_v3.npy", "bool_v1.npy", "f16_v1.npy", "i64_v1.npy"].iter().enumerate() {
        let good = std::fs::read(fixture(base)).unwrap();
        for _ in 0..if k == 0 { 600 } else { 150 } {
            std::fs::write(&path, mutate(&good, &mut rng)).unwrap();
            if let Ok(a) = NpyArray::open(&path) {
                opened += 1;
                let _ = a.to_tensor();
                for i in 0..a.len().min(8) {
                    let _ = a.read_row(i);
                }
            }
        }
    }
    assert!(opened > 0);
    eprintln!("npy: 1200 mutated files, {opened} opened");
}
