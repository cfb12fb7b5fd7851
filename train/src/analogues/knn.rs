//! Exact k-nearest-neighbour search over embeddings with a blocked GEMM: the library is read in blocks of
//! rows, each block's dot products with every query vector come from one `Q @ L_blockᵀ` multiply, and
//! distances are accumulated per candidate, so memory stays bounded (one block of dot products and one
//! row of candidate distances per query) whatever the library size.
//!
//! A query is a *window* of `w` consecutive states (the weather-analogue notebook's `time_window`; `w = 1`
//! is plain nearest-state search) and candidate `s` is the library window starting at `s`; its distance is
//! the mean over the window of the per-state distance: `D_s = (1/w) Σ_t d(q_t, l_{s+t})`, with
//! `d = ‖q − l‖²` (L2, squared, as the notebook) or `1 − cos(q, l)` (cosine).

use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use wrt_kernels::cpu::gemm::{gemm, Strides};

/// How two embeddings are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distance {
    /// Squared Euclidean distance `‖q − l‖²`.
    L2,
    /// `1 − q·l / (‖q‖ ‖l‖)`, in [0, 2].
    Cosine,
}

impl std::str::FromStr for Distance {
    type Err = Error;
    fn from_str(s: &str) -> Result<Distance> {
        match s.to_ascii_lowercase().as_str() {
            "l2" | "euclidean" => Ok(Distance::L2),
            "cosine" | "cos" => Ok(Distance::Cosine),
            _ => Err(Error::config("--metric", format!("'{s}': expected l2 or cosine"))),
        }
    }
}

/// A library of `n` embeddings of length `d`, row-major, with what the distances need precomputed.
pub struct Library<'a> {
    pub rows: &'a [f32],
    pub n: usize,
    pub d: usize,
    /// ‖l‖² (L2) or 1 / ‖l‖ (cosine; 0 for a zero vector) per row.
    aux: Vec<f32>,
    distance: Distance,
}

fn sq_norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum()
}

fn inv_norm(v: &[f32]) -> f32 {
    let n = sq_norm(v).sqrt();
    if n > 0.0 {
        1.0 / n
    } else {
        0.0
    }
}

impl<'a> Library<'a> {
    pub fn new(rows: &'a [f32], d: usize, distance: Distance) -> Result<Library<'a>> {
        if d == 0 || rows.len() % d != 0 {
            return Err(Error::data(format!("analogue library: {} values are not whole rows of {d}", rows.len())));
        }
        let aux = rows
            .par_chunks(d)
            .map(|r| match distance {
                Distance::L2 => sq_norm(r),
                Distance::Cosine => inv_norm(r),
            })
            .collect();
        Ok(Library { rows, n: rows.len() / d, d, aux, distance })
    }
}

/// One analogue: the library window's first index and its distance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbour {
    pub index: usize,
    pub distance: f32,
}

/// What to search for: `queries` holds `count` windows of `window` vectors each (row-major
/// `[count * window, d]`); `exclude(q, s)` drops candidate window `s` for query `q` (e.g. those overlapping
/// the query itself when it comes from the library).
pub struct Search<'a> {
    pub queries: &'a [f32],
    pub window: usize,
    pub k: usize,
    pub exclude: &'a (dyn Fn(usize, usize) -> bool + Sync),
}

/// Library rows per GEMM block: the dot products of a block for every query vector stay near 16 MiB.
fn block_rows(query_vectors: usize) -> usize {
    ((4 << 20) / query_vectors.max(1)).clamp(256, 16384)
}

/// Query windows searched together: their candidate distances (one f32 per library window each) stay near
/// 256 MiB.
fn query_chunk(candidates: usize) -> usize {
    ((64 << 20) / candidates.max(1)).max(1)
}

/// The `k` nearest library windows of every query window, nearest first (ties: lower index first), with
/// their exact distances.
pub fn search(lib: &Library<'_>, s: &Search<'_>) -> Result<Vec<Vec<Neighbour>>> {
    let (d, w) = (lib.d, s.window.max(1));
    if s.queries.len() % (d * w) != 0 {
        return Err(Error::data(format!("analogue search: {} query values are not whole windows of {w} x {d}", s.queries.len())));
    }
    if lib.n < w {
        return Err(Error::data(format!("analogue search: a window of {w} states needs at least {w} library states, the library has {}", lib.n)));
    }
    let count = s.queries.len() / (d * w);
    let candidates = lib.n - w + 1;
    let mut out = Vec::with_capacity(count);
    for q0 in (0..count).step_by(query_chunk(candidates)) {
        let cq = query_chunk(candidates).min(count - q0);
        let qv = &s.queries[q0 * w * d..(q0 + cq) * w * d];
        out.extend(search_chunk(lib, qv, cq, w, candidates, s.k, &|q, c| (s.exclude)(q0 + q, c))?);
    }
    Ok(out)
}

fn search_chunk(
    lib: &Library<'_>,
    qv: &[f32],
    cq: usize,
    w: usize,
    candidates: usize,
    k: usize,
    exclude: &(dyn Fn(usize, usize) -> bool + Sync),
) -> Result<Vec<Vec<Neighbour>>> {
    let (d, nv) = (lib.d, cq * w);
    let q_aux: Vec<f32> = qv.chunks(d).map(|r| if lib.distance == Distance::L2 { sq_norm(r) } else { inv_norm(r) }).collect();
    let mut acc = vec![0f32; cq * candidates];
    let rows = block_rows(nv);
    let mut dots = vec![0f32; nv * rows];
    for j0 in (0..lib.n).step_by(rows) {
        let nb = rows.min(lib.n - j0);
        // dots[v, j] = q_v · l_{j0 + j}: Q [nv, d] @ L_blockᵀ [d, nb] (the block read transposed, no copy)
        gemm(nv, nb, d, 1.0, qv, 0, Strides::row_major(d), lib.rows, j0 * d, Strides::new(1, d), 0.0, &mut dots, 0, Strides::row_major(nb));
        acc.par_chunks_mut(candidates).enumerate().for_each(|(q, acc)| {
            for t in 0..w {
                let v = q * w + t;
                let row = &dots[v * nb..(v + 1) * nb];
                for (j, &dot) in row.iter().enumerate() {
                    // library state j0 + j is step t of the window starting at j0 + j - t
                    let Some(c) = (j0 + j).checked_sub(t).filter(|&c| c < candidates) else { continue };
                    let l = j0 + j;
                    acc[c] += match lib.distance {
                        Distance::L2 => (q_aux[v] + lib.aux[l] - 2.0 * dot).max(0.0),
                        Distance::Cosine => 1.0 - dot * q_aux[v] * lib.aux[l],
                    };
                }
            }
        });
    }
    // The GEMM form ‖q‖² + ‖l‖² − 2 q·l loses digits to cancellation when q ≈ l, so it only shortlists: a
    // pool of 2k + 8 candidates is re-scored exactly (differences, f64 sums) and the best k kept.
    let pool = 2 * k + 8;
    Ok(acc
        .par_chunks(candidates)
        .enumerate()
        .map(|(q, acc)| {
            let mut best: Vec<Neighbour> = top_k(acc, pool, |c| exclude(q, c))
                .into_iter()
                .map(|c| Neighbour { index: c, distance: exact(lib, &qv[q * w * d..(q + 1) * w * d], c, w) as f32 })
                .collect();
            best.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.index.cmp(&b.index)));
            best.truncate(k);
            best
        })
        .collect())
}

/// The mean distance between the query window `qw` (`w` vectors) and the library window starting at `c`,
/// computed directly.
fn exact(lib: &Library<'_>, qw: &[f32], c: usize, w: usize) -> f64 {
    let d = lib.d;
    let mut total = 0f64;
    for t in 0..w {
        let (q, l) = (&qw[t * d..(t + 1) * d], &lib.rows[(c + t) * d..(c + t + 1) * d]);
        total += match lib.distance {
            Distance::L2 => q.iter().zip(l).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>(),
            Distance::Cosine => {
                let (mut dot, mut qq, mut ll) = (0f64, 0f64, 0f64);
                for (a, b) in q.iter().zip(l) {
                    let (a, b) = (*a as f64, *b as f64);
                    dot += a * b;
                    qq += a * a;
                    ll += b * b;
                }
                let norm = (qq * ll).sqrt();
                1.0 - if norm > 0.0 { dot / norm } else { 0.0 }
            }
        };
    }
    total / w as f64
}

/// The indices of the `k` smallest entries of `acc` not excluded, ascending, ties by index.
fn top_k(acc: &[f32], k: usize, exclude: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut heap: std::collections::BinaryHeap<(Ordered, usize)> = std::collections::BinaryHeap::with_capacity(k + 1);
    for (c, &v) in acc.iter().enumerate() {
        if k == 0 || exclude(c) {
            continue;
        }
        let key = (Ordered(v), c);
        if heap.len() < k {
            heap.push(key);
        } else if heap.peek().is_some_and(|top| key < *top) {
            heap.pop();
            heap.push(key);
        }
    }
    let mut v: Vec<(Ordered, usize)> = heap.into_vec();
    v.sort();
    v.into_iter().map(|(_, index)| index).collect()
}

/// f32 with a total order (NaN last), for the heap.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Ordered(f32);
impl Eq for Ordered {}
impl PartialOrd for Ordered {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ordered {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force in f64, for comparison.
    fn brute(lib: &[f32], q: &[f32], d: usize, w: usize, dist: Distance) -> Vec<f64> {
        let n = lib.len() / d;
        let one = |a: &[f32], b: &[f32]| -> f64 {
            match dist {
                Distance::L2 => a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum(),
                Distance::Cosine => {
                    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
                    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
                    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
                    1.0 - dot / (na * nb)
                }
            }
        };
        (0..=n - w).map(|s| (0..w).map(|t| one(&q[t * d..(t + 1) * d], &lib[(s + t) * d..(s + t + 1) * d])).sum::<f64>() / w as f64).collect()
    }

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut g = wrt_tensor::Generator::new(seed);
        g.normal(&[n], 0.0, 1.0, wrt_tensor::DType::F32).unwrap().to_vec::<f32>().unwrap()
    }

    #[test]
    fn matches_brute_force_with_windows_and_both_distances() {
        let (n, d) = (700, 24);
        let lib = random(n * d, 1);
        for dist in [Distance::L2, Distance::Cosine] {
            for w in [1, 3] {
                let q = random(5 * w * d, 2);
                let l = Library::new(&lib, d, dist).unwrap();
                let got = search(&l, &Search { queries: &q, window: w, k: 7, exclude: &|_, _| false }).unwrap();
                for (qi, nb) in got.iter().enumerate() {
                    let want = brute(&lib, &q[qi * w * d..(qi + 1) * w * d], d, w, dist);
                    let mut order: Vec<usize> = (0..want.len()).collect();
                    order.sort_by(|a, b| want[*a].total_cmp(&want[*b]));
                    let ids: Vec<usize> = nb.iter().map(|x| x.index).collect();
                    assert_eq!(ids, order[..7].to_vec(), "{dist:?} w={w} query {qi}");
                    for x in nb {
                        assert!((x.distance as f64 - want[x.index]).abs() < 1e-6 * want[x.index].max(1.0), "{dist:?}: {} vs {}", x.distance, want[x.index]);
                    }
                }
            }
        }
    }

    #[test]
    fn planted_neighbours_are_found_in_a_library_of_100k() {
        // 100k random 64-d states; each query is a library state plus small noise, so its nearest analogue
        // is that state; a second, noisier copy planted elsewhere must rank second.
        let (n, d) = (100_000, 64);
        let mut lib = random(n * d, 3);
        let noise = random(16 * d * 2, 4);
        let targets: Vec<usize> = (0..16).map(|i| (i * 6151 + 17) % n).collect();
        let twins: Vec<usize> = (0..16).map(|i| (i * 3571 + 99_000) % n).collect();
        let mut q = Vec::new();
        for (i, (&t, &tw)) in targets.iter().zip(&twins).enumerate() {
            let base: Vec<f32> = lib[t * d..(t + 1) * d].to_vec();
            q.extend(base.iter().zip(&noise[i * d..(i + 1) * d]).map(|(x, e)| x + 0.01 * e));
            for (j, x) in base.iter().enumerate() {
                lib[tw * d + j] = x + 0.2 * noise[(16 + i) * d + j];
            }
        }
        for dist in [Distance::L2, Distance::Cosine] {
            let l = Library::new(&lib, d, dist).unwrap();
            let got = search(&l, &Search { queries: &q, window: 1, k: 3, exclude: &|_, _| false }).unwrap();
            for (i, nb) in got.iter().enumerate() {
                assert_eq!(nb[0].index, targets[i], "{dist:?} query {i}");
                assert_eq!(nb[1].index, twins[i], "{dist:?} query {i}");
                assert!(nb[0].distance <= nb[1].distance && nb[1].distance <= nb[2].distance);
            }
        }
    }

    #[test]
    fn exclusion_and_bad_shapes() {
        let d = 4;
        let lib: Vec<f32> = (0..40).map(|i| i as f32).collect();
        let l = Library::new(&lib, d, Distance::L2).unwrap();
        let q = lib[12..16].to_vec(); // row 3
        let got = search(&l, &Search { queries: &q, window: 1, k: 2, exclude: &|_, c| c.abs_diff(3) < 2 }).unwrap();
        assert_eq!(got[0].iter().map(|x| x.index).collect::<Vec<_>>(), vec![1, 5]);
        assert!(search(&l, &Search { queries: &q[..3], window: 1, k: 2, exclude: &|_, _| false }).is_err());
        assert!(search(&l, &Search { queries: &lib, window: 20, k: 2, exclude: &|_, _| false }).is_err());
        assert!(Library::new(&lib[..7], d, Distance::L2).is_err());
    }
}
