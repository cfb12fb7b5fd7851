//! Weather-analogue search (`wrt-train analogues`): embed every state of a library with a trained AtmoDist
//! encoder, store the index (`index.rs`), and for query states return the k most similar library states
//! (or windows of consecutive states) with their timestamps and distances, by exact search on a blocked
//! GEMM (`knn.rs`). Workflow and file format: docs/analogues.md.

mod index;
mod knn;

pub use index::{embed_steps, AnalogueIndex, BuildStats, IndexMeta};
pub use knn::{search, Distance, Library, Neighbour, Search};

use crate::Result;
use std::time::Instant;

/// What a query asks for.
#[derive(Clone, Copy, Debug)]
pub struct QueryOptions {
    pub k: usize,
    pub distance: Distance,
    /// States per query window (1: single states). Query step s stands for the window s..s+window-1, and
    /// so does every candidate.
    pub window: usize,
    /// When the queries are library steps: drop candidates starting fewer than this many steps from the
    /// query (0 keeps the query itself, which is then its own nearest analogue at distance 0).
    pub min_separation: usize,
}

/// One analogue of one query.
#[derive(Clone, Debug, PartialEq)]
pub struct Analogue {
    pub query: usize,
    /// 1 = nearest.
    pub rank: usize,
    /// The candidate window's first library step.
    pub step: i64,
    pub time: String,
    pub distance: f32,
}

/// How long a query took.
#[derive(Clone, Copy, Debug)]
pub struct QueryStats {
    pub queries: usize,
    /// Candidate windows per query (library states - window + 1).
    pub library: usize,
    pub seconds: f64,
}

impl QueryStats {
    pub fn queries_per_second(&self) -> f64 {
        self.queries as f64 / self.seconds.max(1e-9)
    }
    /// Query-candidate comparisons per second (each a window distance).
    pub fn comparisons_per_second(&self) -> f64 {
        self.queries as f64 * self.library as f64 / self.seconds.max(1e-9)
    }
}

/// The analogues of query windows whose states' embeddings are `queries` (`[count * window, dim]`).
/// `library_steps[q]`, when the queries are library states, is query q's first step, for `min_separation`.
pub fn query(index: &AnalogueIndex, queries: &[f32], library_steps: Option<&[i64]>, o: &QueryOptions) -> Result<(Vec<Vec<Analogue>>, QueryStats)> {
    let t0 = Instant::now();
    let lib = Library::new(&index.embeddings, index.dim, o.distance)?;
    let exclude = |q: usize, c: usize| -> bool {
        match library_steps {
            Some(steps) if o.min_separation > 0 => index.steps[c].abs_diff(steps[q]) < o.min_separation as u64,
            _ => false,
        }
    };
    let found = search(&lib, &Search { queries, window: o.window, k: o.k, exclude: &exclude })?;
    let stats = QueryStats { queries: found.len(), library: lib.n + 1 - o.window.clamp(1, lib.n.max(1)), seconds: t0.elapsed().as_secs_f64() };
    let out = found
        .into_iter()
        .enumerate()
        .map(|(q, nb)| {
            nb.into_iter()
                .enumerate()
                .map(|(r, n)| Analogue { query: q, rank: r + 1, step: index.steps[n.index], time: timestamp(index, n.index), distance: n.distance })
                .collect()
        })
        .collect();
    Ok((out, stats))
}

/// Row `i`'s time: ISO 8601 from the index's `time` column, else `step N` (with the offset in hours when the
/// frequency is known).
pub fn timestamp(index: &AnalogueIndex, i: usize) -> String {
    match &index.times {
        Some(t) => iso8601(t[i]),
        None => match index.meta.frequency_hours {
            Some(h) => format!("step {} (+{}h)", index.steps[i], index.steps[i] as f64 * h),
            None => format!("step {}", index.steps[i]),
        },
    }
}

/// Seconds since 1970-01-01 UTC as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian; Hinnant's civil_from_days).
pub fn iso8601(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_dates() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso8601(978_307_200 + 3 * 3600), "2001-01-01T03:00:00Z");
        assert_eq!(super::iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::iso8601(-1), "1969-12-31T23:59:59Z");
    }
}
