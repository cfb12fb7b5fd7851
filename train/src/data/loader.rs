//! The DataLoader: an epoch's sample order (sequential, or a Philox permutation seeded by (seed, epoch)),
//! cut into batches (the last one short unless `drop_last`), read and collated either in the calling
//! thread (`num_workers = 0`) or by a pool of worker threads that prefetch up to `num_workers *
//! prefetch_factor` batches ahead and hand them back strictly in order. Because the order and any
//! per-sample randomness depend only on (seed, epoch, index), every worker count yields the same batches,
//! and `iter_from(epoch, b)` resumes at batch b without reading the batches before it.

use super::batch::{collate, Batch};
use super::rng::{self, SHUFFLE, SPLIT};
use super::Dataset;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

#[derive(Clone, Debug, PartialEq)]
pub struct LoaderConfig {
    pub batch_size: usize,
    pub shuffle: bool,
    pub drop_last: bool,
    /// Background threads reading batches; 0 reads in the calling thread.
    pub num_workers: usize,
    /// Batches each worker may have ready ahead of the consumer (PyTorch's `prefetch_factor`).
    pub prefetch_factor: usize,
    /// Seed of the shuffle (per epoch: derived from (seed, epoch)).
    pub seed: u64,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig { batch_size: 1, shuffle: false, drop_last: false, num_workers: 0, prefetch_factor: 2, seed: 0 }
    }
}

/// Split `0..n` into disjoint, sorted (train, val) index lists: a Philox permutation seeded by `seed` puts
/// round(n * train_fraction) indices into train and the rest into val. Same (n, fraction, seed), same split.
pub fn train_val_split(n: usize, train_fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(0.0..=1.0).contains(&train_fraction) {
        return Err(Error::data(format!("train_val_split: the train fraction must be in [0, 1], found {train_fraction}")));
    }
    let n_train = ((n as f64) * train_fraction).round() as usize;
    let perm = rng::generator(seed, &[SPLIT]).randperm(n)?.to_vec::<i64>()?;
    let mut train: Vec<usize> = perm[..n_train].iter().map(|&i| i as usize).collect();
    let mut val: Vec<usize> = perm[n_train..].iter().map(|&i| i as usize).collect();
    train.sort_unstable();
    val.sort_unstable();
    Ok((train, val))
}

/// Batches over a dataset (or a subset of its indices).
#[derive(Clone)]
pub struct DataLoader {
    dataset: Arc<dyn Dataset>,
    indices: Option<Arc<Vec<usize>>>,
    cfg: LoaderConfig,
}

impl std::fmt::Debug for DataLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataLoader({} samples, {:?})", self.num_samples(), self.cfg)
    }
}

impl DataLoader {
    pub fn new(dataset: Arc<dyn Dataset>, cfg: LoaderConfig) -> Result<DataLoader> {
        check_config(&cfg)?;
        Ok(DataLoader { dataset, indices: None, cfg })
    }

    /// A loader over the given dataset indices only (e.g. one side of `train_val_split`).
    pub fn with_indices(dataset: Arc<dyn Dataset>, indices: Vec<usize>, cfg: LoaderConfig) -> Result<DataLoader> {
        check_config(&cfg)?;
        let n = dataset.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(Error::data(format!("DataLoader: index {bad} is out of range for a dataset of {n} samples")));
        }
        Ok(DataLoader { dataset, indices: Some(Arc::new(indices)), cfg })
    }

    pub fn dataset(&self) -> &Arc<dyn Dataset> {
        &self.dataset
    }
    pub fn config(&self) -> &LoaderConfig {
        &self.cfg
    }
    /// Samples per epoch (before drop_last).
    /// The dataset index of the loader's k-th sample (in unshuffled order).
    pub fn sample_index(&self, k: usize) -> Result<usize> {
        match &self.indices {
            Some(ix) => ix.get(k).copied(),
            None => (k < self.dataset.len()).then_some(k),
        }
        .ok_or_else(|| Error::data(format!("sample {k} of a loader over {} samples", self.num_samples())))
    }

    pub fn num_samples(&self) -> usize {
        self.indices.as_ref().map_or_else(|| self.dataset.len(), |v| v.len())
    }
    /// Batches per epoch.
    pub fn len(&self) -> usize {
        let (n, b) = (self.num_samples(), self.cfg.batch_size);
        if self.cfg.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dataset indices of `epoch` in the order they are served.
    pub fn epoch_order(&self, epoch: u64) -> Result<Vec<usize>> {
        let n = self.num_samples();
        let at = |k: usize| self.indices.as_ref().map_or(k, |v| v[k]);
        if !self.cfg.shuffle {
            return Ok((0..n).map(at).collect());
        }
        let perm = rng::generator(self.cfg.seed, &[SHUFFLE, epoch]).randperm(n)?.to_vec::<i64>()?;
        Ok(perm.into_iter().map(|k| at(k as usize)).collect())
    }

    /// The dataset indices of each batch of `epoch`.
    pub fn batches(&self, epoch: u64) -> Result<Vec<Vec<usize>>> {
        let order = self.epoch_order(epoch)?;
        Ok(order.chunks(self.cfg.batch_size).take(self.len()).map(<[usize]>::to_vec).collect())
    }

    /// Iterate over the batches of `epoch`.
    pub fn iter(&self, epoch: u64) -> Result<BatchIter> {
        self.iter_from(epoch, 0)
    }

    /// Iterate over the batches of `epoch` starting at batch `start_batch` (resume after a checkpoint taken
    /// with `BatchIter::position`): the skipped batches are never read.
    pub fn iter_from(&self, epoch: u64, start_batch: usize) -> Result<BatchIter> {
        let all = self.batches(epoch)?;
        if start_batch > all.len() {
            return Err(Error::data(format!("DataLoader: cannot resume at batch {start_batch} of epoch {epoch}: it has {} batches", all.len())));
        }
        let jobs: Arc<Vec<Vec<usize>>> = Arc::new(all.into_iter().skip(start_batch).collect());
        let pool = if self.cfg.num_workers > 0 && !jobs.is_empty() {
            Some(Pool::start(self.dataset.clone(), jobs.clone(), epoch, self.cfg.num_workers, self.cfg.prefetch_factor)?)
        } else {
            None
        };
        Ok(BatchIter { dataset: self.dataset.clone(), jobs, epoch, first: start_batch, next: 0, pool })
    }
}

fn check_config(cfg: &LoaderConfig) -> Result<()> {
    if cfg.batch_size == 0 {
        return Err(Error::data("DataLoader: batch_size must be at least 1"));
    }
    if cfg.num_workers > 0 && cfg.prefetch_factor == 0 {
        return Err(Error::data("DataLoader: prefetch_factor must be at least 1 when num_workers > 0"));
    }
    Ok(())
}

/// Read and collate one batch.
fn load(dataset: &dyn Dataset, indices: &[usize], epoch: u64) -> Result<Batch> {
    let samples = indices.iter().map(|&i| dataset.get(i, epoch).map(|s| (i, s))).collect::<Result<Vec<_>>>()?;
    collate(samples)
}

/// The batches of one epoch, in order. Dropping it stops and joins the workers.
pub struct BatchIter {
    dataset: Arc<dyn Dataset>,
    jobs: Arc<Vec<Vec<usize>>>,
    epoch: u64,
    /// Absolute index of jobs[0] within the epoch.
    first: usize,
    next: usize,
    pool: Option<Pool>,
}

impl BatchIter {
    /// (epoch, index of the next batch to be yielded): what a checkpoint stores to resume with `iter_from`.
    pub fn position(&self) -> (u64, usize) {
        (self.epoch, self.first + self.next)
    }
    /// Batches left in this epoch.
    pub fn remaining(&self) -> usize {
        self.jobs.len() - self.next
    }
}

impl Iterator for BatchIter {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.next >= self.jobs.len() {
            return None;
        }
        let k = self.next;
        self.next += 1;
        Some(match &self.pool {
            Some(p) => p.take(k),
            None => load(self.dataset.as_ref(), &self.jobs[k], self.epoch),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

struct PoolState {
    /// Next job to hand to a worker.
    next_job: usize,
    /// Job the consumer is waiting for; workers stay within `window` jobs of it.
    next_yield: usize,
    done: BTreeMap<usize, Result<Batch>>,
    stop: bool,
    /// Workers still running, and whether one left by panicking: its batch will never come, so the
    /// consumer must not wait for it.
    alive: usize,
    panicked: bool,
}

struct Shared {
    state: Mutex<PoolState>,
    work: Condvar,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // A worker that panicked while holding the lock poisons it; the state itself stays consistent
        // (every update is a single assignment or insert), so keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Pool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// Decrements `alive` when a worker leaves, including by unwinding from a panic in dataset code.
struct Leave(Arc<Shared>);

impl Drop for Leave {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.alive -= 1;
        st.panicked |= std::thread::panicking();
        drop(st);
        self.0.ready.notify_all();
    }
}

impl Pool {
    fn start(dataset: Arc<dyn Dataset>, jobs: Arc<Vec<Vec<usize>>>, epoch: u64, workers: usize, prefetch: usize) -> Result<Pool> {
        let window = workers * prefetch;
        let shared = Arc::new(Shared {
            state: Mutex::new(PoolState { next_job: 0, next_yield: 0, done: BTreeMap::new(), stop: false, alive: workers, panicked: false }),
            work: Condvar::new(),
            ready: Condvar::new(),
        });
        let mut pool = Pool { shared: shared.clone(), threads: Vec::with_capacity(workers) };
        for w in 0..workers {
            let (shared, dataset, jobs) = (shared.clone(), dataset.clone(), jobs.clone());
            let spawned = std::thread::Builder::new().name(format!("wrt-data-{w}")).spawn(move || {
                let _leave = Leave(shared.clone());
                loop {
                    let job = {
                        let mut st = shared.lock();
                        while !st.stop && st.next_job < jobs.len() && st.next_job >= st.next_yield + window {
                            st = shared.work.wait(st).unwrap_or_else(|e| e.into_inner());
                        }
                        if st.stop || st.next_job >= jobs.len() {
                            return;
                        }
                        st.next_job += 1;
                        st.next_job - 1
                    };
                    let batch = load(dataset.as_ref(), &jobs[job], epoch);
                    shared.lock().done.insert(job, batch);
                    shared.ready.notify_all();
                }
            });
            match spawned {
                Ok(h) => pool.threads.push(h),
                Err(e) => {
                    // Dropping `pool` stops and joins the workers already started.
                    pool.shared.lock().alive -= workers - w;
                    return Err(Error::data(format!("DataLoader: cannot start worker thread {w}: {e}")));
                }
            }
        }
        Ok(pool)
    }

    /// Wait for job `k` (jobs are taken in order, so k is the consumer's next one).
    fn take(&self, k: usize) -> Result<Batch> {
        let mut st = self.shared.lock();
        st.next_yield = k;
        self.shared.work.notify_all();
        loop {
            if let Some(b) = st.done.remove(&k) {
                st.next_yield = k + 1;
                drop(st);
                self.shared.work.notify_all();
                return b;
            }
            if st.alive == 0 || st.panicked {
                return Err(Error::data(format!("DataLoader: the worker threads stopped before batch {k} was read (a worker panicked)")));
            }
            st = self.shared.ready.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.work.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The trainer reads a `DataLoader` through its `Loader` trait: the batches of an epoch from any start.
impl crate::trainer::Loader<Batch> for DataLoader {
    fn num_batches(&self) -> u64 {
        self.len() as u64
    }
    fn batches<'a>(&'a self, epoch: u64, start: u64) -> Result<Box<dyn Iterator<Item = Result<Batch>> + 'a>> {
        let start = usize::try_from(start).map_err(|_| Error::data(format!("batch index {start} is out of range")))?;
        Ok(Box::new(self.iter_from(epoch, start)?))
    }
}
