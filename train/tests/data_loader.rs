//! DataLoader: order, seeded shuffle per epoch, drop_last, disjoint splits, workers that yield exactly the
//! batches of the calling-thread loader, and resume in the middle of an epoch.

mod data_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use wrt_tensor::Tensor;
use wrt_train::data::{self, train_val_split, Batch, DataLoader, Dataset, FieldInfo, LoaderConfig, Sample};

/// Sample i is x = [i, i + 0.5] plus a value drawn from (epoch, i) only, like AtmoDist's pairs; reads are
/// counted, and some indices sleep so that workers finish out of order.
struct Mem {
    n: usize,
    reads: AtomicUsize,
    fail_at: Option<usize>,
}

impl Mem {
    fn new(n: usize) -> Arc<Mem> {
        Arc::new(Mem { n, reads: AtomicUsize::new(0), fail_at: None })
    }
}

impl Dataset for Mem {
    fn len(&self) -> usize {
        self.n
    }
    fn get(&self, index: usize, epoch: u64) -> wrt_train::Result<Sample> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if Some(index) == self.fail_at {
            return Err(wrt_train::Error::data(format!("sample {index} is broken")));
        }
        if index % 7 == 3 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let r = data::derive_seed(epoch, &[index as u64]) % 1000;
        Ok(vec![
            ("x".into(), Tensor::from_vec(vec![index as f32, index as f32 + 0.5], &[2])?),
            ("r".into(), Tensor::scalar(r as i64)),
        ])
    }
    fn fields(&self) -> Vec<FieldInfo> {
        vec![FieldInfo::new("x", &[2], wrt_tensor::DType::F32), FieldInfo::new("r", &[], wrt_tensor::DType::I64)]
    }
}

fn cfg(batch_size: usize, shuffle: bool, drop_last: bool, num_workers: usize) -> LoaderConfig {
    LoaderConfig { batch_size, shuffle, drop_last, num_workers, seed: 11, ..Default::default() }
}

fn collect(l: &DataLoader, epoch: u64) -> Vec<Batch> {
    l.iter(epoch).unwrap().map(|b| b.unwrap()).collect()
}

fn same(a: &[Batch], b: &[Batch]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.indices, y.indices);
        assert_eq!(x.get("x").unwrap().to_vec::<f32>().unwrap(), y.get("x").unwrap().to_vec::<f32>().unwrap());
        assert_eq!(x.get("r").unwrap().to_vec::<i64>().unwrap(), y.get("r").unwrap().to_vec::<i64>().unwrap());
    }
}

#[test]
fn sequential_order_and_batch_contents() {
    let l = DataLoader::new(Mem::new(10), cfg(4, false, false, 0)).unwrap();
    assert_eq!((l.len(), l.num_samples()), (3, 10));
    let b = collect(&l, 0);
    assert_eq!(b.iter().map(|b| b.indices.clone()).collect::<Vec<_>>(), vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    assert_eq!(b[2].get("x").unwrap().shape(), &[2, 2]);
    assert_eq!(b[2].get("x").unwrap().to_vec::<f32>().unwrap(), vec![8.0, 8.5, 9.0, 9.5]);
    assert_eq!(b[0].get("r").unwrap().shape(), &[4]);
    // No shuffle: every epoch has the same order (only the per-epoch draw `r` changes).
    let e5 = collect(&l, 5);
    assert!(b.iter().zip(&e5).all(|(p, q)| p.indices == q.indices));
    assert_ne!(b[0].get("r").unwrap().to_vec::<i64>().unwrap(), e5[0].get("r").unwrap().to_vec::<i64>().unwrap());
}

#[test]
fn shuffle_is_seeded_per_epoch_and_a_permutation() {
    let l = DataLoader::new(Mem::new(50), cfg(8, true, false, 0)).unwrap();
    let e0 = l.epoch_order(0).unwrap();
    let e1 = l.epoch_order(1).unwrap();
    assert_ne!(e0, e1, "each epoch has its own order");
    assert_ne!(e0, (0..50).collect::<Vec<_>>());
    let mut s = e0.clone();
    s.sort();
    assert_eq!(s, (0..50).collect::<Vec<_>>());
    // Deterministic: another loader with the same seed gives the same orders.
    let again = DataLoader::new(Mem::new(50), cfg(8, true, false, 0)).unwrap();
    assert_eq!(again.epoch_order(0).unwrap(), e0);
    same(&collect(&l, 1), &collect(&again, 1));
    let other = DataLoader::new(Mem::new(50), LoaderConfig { seed: 12, ..cfg(8, true, false, 0) }).unwrap();
    assert_ne!(other.epoch_order(0).unwrap(), e0);
    let flat: Vec<usize> = collect(&l, 0).iter().flat_map(|b| b.indices.clone()).collect();
    assert_eq!(flat, e0);
}

#[test]
fn drop_last_drops_only_the_short_batch() {
    let keep = DataLoader::new(Mem::new(10), cfg(3, true, false, 0)).unwrap();
    let drop = DataLoader::new(Mem::new(10), cfg(3, true, true, 0)).unwrap();
    assert_eq!((keep.len(), drop.len()), (4, 3));
    let (a, b) = (collect(&keep, 2), collect(&drop, 2));
    assert_eq!(a.last().unwrap().len(), 1);
    assert!(b.iter().all(|b| b.len() == 3));
    same(&a[..3], &b);
    let exact = DataLoader::new(Mem::new(9), cfg(3, false, true, 0)).unwrap();
    assert_eq!(exact.len(), 3);
    assert_eq!(DataLoader::new(Mem::new(2), cfg(3, false, true, 0)).unwrap().len(), 0);
    assert!(DataLoader::new(Mem::new(2), cfg(0, false, false, 0)).is_err());
}

#[test]
fn split_is_disjoint_complete_and_deterministic() {
    let (tr, va) = train_val_split(101, 0.8, 42).unwrap();
    assert_eq!((tr.len(), va.len()), (81, 20));
    let mut all: Vec<usize> = tr.iter().chain(&va).cloned().collect();
    all.sort();
    assert_eq!(all, (0..101).collect::<Vec<_>>());
    assert!(tr.windows(2).all(|w| w[0] < w[1]) && va.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(train_val_split(101, 0.8, 42).unwrap(), (tr.clone(), va.clone()));
    assert_ne!(train_val_split(101, 0.8, 43).unwrap().1, va);
    assert_ne!(va, (81..101).collect::<Vec<_>>(), "the split is random, not a tail");
    assert_eq!(train_val_split(10, 1.0, 0).unwrap().1.len(), 0);
    assert!(train_val_split(10, 1.5, 0).is_err() && train_val_split(10, f64::NAN, 0).is_err());
    // A loader over one side serves only those indices.
    let l = DataLoader::with_indices(Mem::new(101), va.clone(), cfg(6, true, false, 0)).unwrap();
    let mut seen: Vec<usize> = collect(&l, 0).iter().flat_map(|b| b.indices.clone()).collect();
    seen.sort();
    assert_eq!(seen, va);
    assert!(DataLoader::with_indices(Mem::new(5), vec![5], cfg(1, false, false, 0)).is_err());
}

#[test]
fn workers_yield_the_same_batches_as_the_calling_thread() {
    for shuffle in [false, true] {
        let base = collect(&DataLoader::new(Mem::new(61), cfg(5, shuffle, false, 0)).unwrap(), 3);
        for workers in [1, 2, 4] {
            for prefetch in [1, 3] {
                let c = LoaderConfig { prefetch_factor: prefetch, ..cfg(5, shuffle, false, workers) };
                same(&base, &collect(&DataLoader::new(Mem::new(61), c).unwrap(), 3));
            }
        }
    }
}

#[test]
fn resume_mid_epoch_equals_the_tail_without_rereading() {
    for workers in [0, 2] {
        let ds = Mem::new(40);
        let l = DataLoader::new(ds.clone(), cfg(6, true, false, workers)).unwrap();
        let full = collect(&l, 4);
        // Stop after 3 batches, note the position, resume from it.
        let mut it = l.iter(4).unwrap();
        for _ in 0..3 {
            it.next().unwrap().unwrap();
        }
        let (epoch, at) = it.position();
        assert_eq!((epoch, at), (4, 3));
        drop(it);
        let before = ds.reads.load(Ordering::SeqCst);
        let mut resumed = l.iter_from(epoch, at).unwrap();
        assert_eq!(resumed.remaining(), full.len() - 3);
        let tail: Vec<Batch> = resumed.by_ref().map(|b| b.unwrap()).collect();
        same(&full[3..], &tail);
        assert_eq!(ds.reads.load(Ordering::SeqCst) - before, 40 - 18, "skipped batches are not read");
        assert_eq!(resumed.position(), (4, full.len()));
        assert_eq!(l.iter_from(4, full.len()).unwrap().count(), 0);
        assert!(l.iter_from(4, full.len() + 1).is_err());
    }
}

#[test]
fn errors_arrive_in_order_and_early_drop_stops_workers() {
    let ds = Arc::new(Mem { n: 30, reads: AtomicUsize::new(0), fail_at: Some(12) });
    for workers in [0, 3] {
        let l = DataLoader::new(ds.clone(), cfg(5, false, false, workers)).unwrap();
        let results: Vec<_> = l.iter(0).unwrap().collect();
        assert_eq!(results.len(), 6);
        for (k, r) in results.iter().enumerate() {
            assert_eq!(r.is_err(), k == 2, "batch {k}");
        }
        assert!(results[2].as_ref().unwrap_err().to_string().contains("sample 12 is broken"));
    }
    // Dropping an iterator after one batch joins its workers (the test would hang otherwise).
    let l = DataLoader::new(Mem::new(1000), cfg(2, true, false, 4)).unwrap();
    let mut it = l.iter(0).unwrap();
    it.next().unwrap().unwrap();
    drop(it);
}
