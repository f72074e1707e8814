//! Repeated timing of one iteration closure, and the statistics over the samples.

use std::time::{Duration, Instant};

/// How long to measure one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Iterations run before measuring (at least one, which also calibrates).
    pub warmup: Duration,
    /// A sample times as many iterations as fit in this, so that short iterations are not
    /// dominated by the clock.
    pub sample_time: Duration,
    /// Samples wanted.
    pub samples: usize,
    /// Samples taken even past `max_time`.
    pub min_samples: usize,
    /// Stop taking samples (once `min_samples` are in) after this long.
    pub max_time: Duration,
}

impl Budget {
    /// `cage bench`: 30 samples of ≥ 10 ms, at most about 3 s per case.
    pub fn full() -> Self {
        Budget {
            warmup: Duration::from_millis(200),
            sample_time: Duration::from_millis(10),
            samples: 30,
            min_samples: 5,
            max_time: Duration::from_secs(3),
        }
    }

    /// `cage bench --quick`: 15 samples of ≥ 2 ms, at most about 0.6 s per case.
    pub fn quick() -> Self {
        Budget {
            warmup: Duration::from_millis(50),
            sample_time: Duration::from_millis(2),
            samples: 15,
            min_samples: 3,
            max_time: Duration::from_millis(600),
        }
    }

    /// Tests and doctests: one warm-up iteration, three single-iteration samples.
    pub fn smoke() -> Self {
        Budget {
            warmup: Duration::ZERO,
            sample_time: Duration::ZERO,
            samples: 3,
            min_samples: 3,
            max_time: Duration::ZERO,
        }
    }
}

/// Time per iteration over the samples of one case, in nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Samples taken.
    pub samples: usize,
    /// Iterations timed together in each sample.
    pub iterations_per_sample: u64,
    /// Median.
    pub median_ns: f64,
    /// 10th percentile.
    pub p10_ns: f64,
    /// 90th percentile.
    pub p90_ns: f64,
    /// Fastest sample.
    pub min_ns: f64,
    /// Slowest sample.
    pub max_ns: f64,
    /// Mean.
    pub mean_ns: f64,
}

impl Summary {
    /// Statistics of per-iteration times (not empty).
    pub fn from_samples(mut ns: Vec<f64>, iterations_per_sample: u64) -> Self {
        ns.sort_by(f64::total_cmp);
        let n = ns.len();
        let pick = |q: f64| {
            // Linear interpolation between the closest ranks.
            let pos = q * (n.saturating_sub(1)) as f64;
            let lo = pos.floor() as usize;
            let hi = pos.ceil() as usize;
            ns[lo] + (ns[hi] - ns[lo]) * (pos - lo as f64)
        };
        Summary {
            samples: n,
            iterations_per_sample,
            median_ns: pick(0.5),
            p10_ns: pick(0.1),
            p90_ns: pick(0.9),
            min_ns: ns[0],
            max_ns: ns[n - 1],
            mean_ns: ns.iter().sum::<f64>() / n as f64,
        }
    }
}

/// Runs `iter` under `budget` and summarises the time per iteration.
///
/// # Errors
/// The first error of an iteration.
pub fn measure(
    iter: &mut dyn FnMut() -> Result<(), String>,
    budget: &Budget,
) -> Result<Summary, String> {
    // Warm-up, which also estimates the time of one iteration.
    let start = Instant::now();
    let mut warm = 0u64;
    loop {
        iter()?;
        warm += 1;
        if start.elapsed() >= budget.warmup {
            break;
        }
    }
    let per_iter = start.elapsed().as_secs_f64() / warm as f64;
    let batch = if per_iter > 0.0 {
        (budget.sample_time.as_secs_f64() / per_iter)
            .ceil()
            .max(1.0) as u64
    } else {
        1
    };
    let started = Instant::now();
    let mut samples = Vec::with_capacity(budget.samples);
    while samples.len() < budget.samples.max(1)
        && (samples.len() < budget.min_samples || started.elapsed() < budget.max_time)
    {
        let t = Instant::now();
        for _ in 0..batch {
            iter()?;
        }
        samples.push(t.elapsed().as_nanos() as f64 / batch as f64);
    }
    Ok(Summary::from_samples(samples, batch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let s = Summary::from_samples((1..=11).rev().map(f64::from).collect(), 1);
        assert_eq!(s.samples, 11);
        assert_eq!(s.median_ns, 6.0);
        assert_eq!(s.p10_ns, 2.0);
        assert_eq!(s.p90_ns, 10.0);
        assert_eq!((s.min_ns, s.max_ns, s.mean_ns), (1.0, 11.0, 6.0));
        let s = Summary::from_samples(vec![1.0, 2.0], 4);
        assert_eq!(s.median_ns, 1.5);
        assert_eq!(s.iterations_per_sample, 4);
    }
}
