//! Statistics of a phase's samples, and comparisons of two sets of samples as Sightglass makes
//! them: the difference of the means with a Welch (Behrens–Fisher) confidence interval; "no
//! significant difference" when the interval contains zero.

use serde::Serialize;

/// Confidence of every interval reported.
pub const CONFIDENCE: f64 = 0.95;

/// One phase's samples, summarised.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Phase {
    /// Samples.
    pub n: usize,
    /// Median (mean of the two middle samples of an even count).
    pub median_ns: f64,
    /// Fastest sample.
    pub min_ns: f64,
    /// Slowest sample.
    pub max_ns: f64,
    /// Mean.
    pub mean_ns: f64,
    /// Sample standard deviation (0 for one sample).
    pub stddev_ns: f64,
    /// Distribution-free confidence interval of the median (order statistics): `[lo, hi]`.
    pub ci_ns: [f64; 2],
    /// Confidence of `ci_ns`: 0.95 from six samples on; with fewer, `ci_ns` is `[min, max]`
    /// and this says how confident that is (0.9375 for five samples, 0 for one).
    pub ci_level: f64,
    /// Every sample, in the order taken (for `--baseline` comparisons of saved runs).
    pub samples_ns: Vec<f64>,
}

/// `ln(n choose k)`.
fn ln_choose(n: usize, k: usize) -> f64 {
    fn ln_fact(n: usize) -> f64 {
        (2..=n).map(|i| (i as f64).ln()).sum()
    }
    ln_fact(n) - ln_fact(k) - ln_fact(n - k)
}

/// P(X ≤ k) for X ~ Binomial(n, 1/2).
fn binom_half_cdf(n: usize, k: usize) -> f64 {
    let ln_half_n = n as f64 * 0.5f64.ln();
    (0..=k.min(n))
        .map(|i| (ln_choose(n, i) + ln_half_n).exp())
        .sum()
}

impl Phase {
    /// Summarises samples (not empty).
    pub fn of(samples: Vec<f64>) -> Phase {
        let mut s = samples.clone();
        s.sort_by(f64::total_cmp);
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        let mean = s.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        // The largest k with P(X < k) ≤ α/2: [x_(k), x_(n+1-k)] (1-based) covers the median
        // with probability 1 - 2·P(X ≤ k-1).
        let alpha = 1.0 - CONFIDENCE;
        let mut k = 0usize;
        while k < n / 2 && binom_half_cdf(n, k) <= alpha / 2.0 {
            k += 1;
        }
        let (ci, level) = if k == 0 {
            let level = if n > 1 {
                1.0 - 2.0 * 0.5f64.powi(n as i32)
            } else {
                0.0
            };
            ([s[0], s[n - 1]], level)
        } else {
            let level = 1.0 - 2.0 * binom_half_cdf(n, k - 1);
            ([s[k - 1], s[n - k]], level)
        };
        Phase {
            n,
            median_ns: median,
            min_ns: s[0],
            max_ns: s[n - 1],
            mean_ns: mean,
            stddev_ns: var.sqrt(),
            ci_ns: ci,
            ci_level: (level * 1e4).round() / 1e4,
            samples_ns: samples,
        }
    }

    fn variance(&self) -> f64 {
        self.stddev_ns * self.stddev_ns
    }
}

/// Two-sided 97.5 % quantiles of Student's t for 1..=30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// The 97.5 % quantile of Student's t with `df` (> 0, possibly fractional) degrees of freedom:
/// the table, interpolated, up to 30; a Cornish–Fisher expansion beyond (error < 1e-4).
pub fn t975(df: f64) -> f64 {
    if !df.is_finite() || df > 30.0 {
        let df = if df.is_finite() { df } else { 1e12 };
        let z: f64 = 1.959_963_984_540_054;
        let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
        return z
            + (z3 + z) / (4.0 * df)
            + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df * df)
            + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * df.powi(3));
    }
    let df = df.max(1.0);
    let lo = df.floor() as usize;
    let hi = df.ceil() as usize;
    let (a, b) = (T975[lo - 1], T975[hi - 1]);
    a + (b - a) * (df - lo as f64)
}

/// `b` against `a`: how many times `b`'s mean is `a`'s, with a 95 % confidence interval.
///
/// Significance is Sightglass's: Welch's test of the difference of the means (`b` differs
/// from `a` when the difference's 95 % interval excludes 0). The interval of the ratio is
/// Fieller's, at the same Welch degrees of freedom: the `ρ` with `(mean(b) − ρ·mean(a))² ≤
/// t²·(var_b + ρ²·var_a)` (variances of the means). Unlike dividing the difference's interval by
/// `mean(a)` (Sightglass's effect size), it counts the denominator's noise, never goes below 0,
/// inverts exactly for "× faster", and, when bounded, excludes 1 exactly when the difference is
/// significant. When `a`'s mean is itself indistinguishable from 0 the interval is unbounded
/// (`[0, ∞)`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// `mean(b) / mean(a)`: above 1, `b` is slower.
    pub ratio: f64,
    /// Lower end of the ratio's 95 % interval (Fieller's, at least 0).
    pub lo: f64,
    /// Upper end (infinite when `a`'s mean is indistinguishable from 0).
    pub hi: f64,
    /// Whether the interval excludes 1 (the difference excludes 0).
    pub significant: bool,
}

impl Comparison {
    /// Compares `b` with `a`; `None` when either has no samples or `a`'s mean is 0.
    pub fn of(a: &Phase, b: &Phase) -> Option<Comparison> {
        if a.n == 0 || b.n == 0 || a.mean_ns <= 0.0 {
            return None;
        }
        let (va, vb) = (a.variance() / a.n as f64, b.variance() / b.n as f64);
        let se2 = va + vb;
        // With one sample on each side nothing is known about the spread.
        if a.n < 2 && b.n < 2 {
            return Some(Comparison {
                ratio: b.mean_ns / a.mean_ns,
                lo: f64::NEG_INFINITY,
                hi: f64::INFINITY,
                significant: false,
            });
        }
        let t = if se2 > 0.0 {
            // Welch–Satterthwaite degrees of freedom; a sample of one contributes none.
            let mut den = 0.0;
            if a.n > 1 {
                den += va * va / (a.n - 1) as f64;
            }
            if b.n > 1 {
                den += vb * vb / (b.n - 1) as f64;
            }
            let df = if den > 0.0 { se2 * se2 / den } else { 1.0 };
            t975(df)
        } else {
            0.0
        };
        let diff = b.mean_ns - a.mean_ns;
        let (lo, hi) = fieller(a.mean_ns, va, b.mean_ns, vb, t);
        Some(Comparison {
            ratio: b.mean_ns / a.mean_ns,
            lo,
            hi,
            significant: diff.abs() > t * se2.sqrt(),
        })
    }

    /// `wasmer-cranelift is 1.31× slower than wasmtime [1.27–1.35]`, `… 1.12× faster …`, or
    /// `no significant difference between b and a [0.98–1.03]`.
    pub fn sentence(&self, b: &str, a: &str) -> String {
        if !self.lo.is_finite() && !self.hi.is_finite() {
            return format!(
                "{b} ÷ {a} = {:.2}× (one sample each: no interval, no significance)",
                self.ratio
            );
        }
        if !self.significant {
            return format!(
                "no significant difference between {b} and {a} ({:.2}× [{}–{}])",
                self.ratio,
                fmt_bound(self.lo),
                fmt_bound(self.hi)
            );
        }
        if self.ratio >= 1.0 {
            format!(
                "{b} is {:.2}× slower than {a} [{}–{}]",
                self.ratio,
                fmt_bound(self.lo),
                fmt_bound(self.hi)
            )
        } else {
            // Faster: say by how many times `a` is `b`, with the interval inverted.
            format!(
                "{b} is {:.2}× faster than {a} [{}–{}]",
                1.0 / self.ratio,
                fmt_bound(1.0 / self.hi),
                fmt_bound(if self.lo > 0.0 {
                    1.0 / self.lo
                } else {
                    f64::INFINITY
                })
            )
        }
    }
}

/// Fieller's interval of `mb / ma` (variances of the means `vb`, `va`; quantile `t`): the roots
/// of `(ma² − t²va)·ρ² − 2·ma·mb·ρ + (mb² − t²vb) = 0`, the lower one at least 0; unbounded
/// when `ma` is within `t` standard errors of 0.
fn fieller(ma: f64, va: f64, mb: f64, vb: f64, t: f64) -> (f64, f64) {
    let t2 = t * t;
    let qa = ma * ma - t2 * va;
    if qa <= 0.0 {
        return (0.0, f64::INFINITY);
    }
    let disc = (ma * mb).powi(2) - qa * (mb * mb - t2 * vb);
    let root = disc.max(0.0).sqrt();
    (((ma * mb - root) / qa).max(0.0), (ma * mb + root) / qa)
}

fn fmt_bound(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}")
    } else if x < 0.0 {
        "-∞".to_owned()
    } else {
        "∞".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_interval_from_order_statistics() {
        let p = Phase::of((1..=10).map(f64::from).rev().collect());
        assert_eq!(p.median_ns, 5.5);
        // n = 10: k = 2 (P(X ≤ 1) = 0.0107 ≤ 0.025, P(X ≤ 2) = 0.0547 > 0.025): [x2, x9].
        assert_eq!(p.ci_ns, [2.0, 9.0]);
        assert!((p.ci_level - 0.9785).abs() < 1e-3, "{}", p.ci_level);
        let p = Phase::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((p.ci_ns, p.ci_level), ([1.0, 3.0], 0.75));
        assert_eq!(p.samples_ns, vec![3.0, 1.0, 2.0]);
        let p = Phase::of(vec![4.0]);
        assert_eq!((p.median_ns, p.ci_level, p.stddev_ns), (4.0, 0.0, 0.0));
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t975(1.0), 12.706);
        assert!((t975(2.5) - (4.303 + 3.182) / 2.0).abs() < 1e-9);
        assert!((t975(40.0) - 2.021).abs() < 1e-3, "{}", t975(40.0));
        assert!((t975(120.0) - 1.980).abs() < 1e-3);
        assert!((t975(f64::INFINITY) - 1.96).abs() < 1e-3);
    }

    #[test]
    fn comparisons_say_slower_faster_or_no_difference() {
        let a = Phase::of(vec![100.0, 101.0, 99.0, 100.0, 100.5, 99.5]);
        let b = Phase::of(vec![131.0, 130.0, 132.0, 131.5, 130.5, 131.0]);
        let c = Comparison::of(&a, &b).unwrap();
        assert!(c.significant && c.lo > 1.29 && c.hi < 1.33, "{c:?}");
        assert!(
            c.sentence("wasmer-cranelift", "wasmtime")
                .starts_with("wasmer-cranelift is 1.31× slower than wasmtime [1.")
        );
        let f = Comparison::of(&b, &a).unwrap();
        assert!(f.sentence("x", "y").starts_with("x is 1.31× faster than y"));
        // The interval inverts exactly: b against a is 1 ÷ (a against b).
        assert!((f.lo - 1.0 / c.hi).abs() < 1e-9 && (f.hi - 1.0 / c.lo).abs() < 1e-9);
        let same = Phase::of(vec![100.0, 102.0, 98.0, 101.0, 99.0, 100.0]);
        let c = Comparison::of(&a, &same).unwrap();
        assert!(!c.significant);
        assert!(
            c.sentence("b", "a")
                .starts_with("no significant difference")
        );
        assert!(c.lo < 1.0 && c.hi > 1.0, "{c:?}");
    }

    /// Noisy samples: the interval of the ratio never goes below 0 (dividing the difference's
    /// interval by the mean did: "[-0.31–2.32]"), contains the ratio, and excludes 1 exactly
    /// when the difference is significant.
    #[test]
    fn ratio_intervals_are_positive_and_agree_with_significance() {
        let noisy = Phase::of(vec![1.0, 30.0, 2.0, 25.0, 3.0]);
        let quiet = Phase::of(vec![10.0, 10.5, 9.5, 10.2]);
        for (a, b) in [(&quiet, &noisy), (&noisy, &quiet), (&quiet, &quiet)] {
            let c = Comparison::of(a, b).unwrap();
            assert!(c.lo >= 0.0 && c.lo <= c.ratio && c.ratio <= c.hi, "{c:?}");
            assert_eq!(c.significant, c.lo > 1.0 || c.hi < 1.0, "{c:?}");
        }
        // A denominator indistinguishable from 0: unbounded above.
        let zeroish = Phase::of(vec![0.1, 50.0, 0.2]);
        let c = Comparison::of(&zeroish, &quiet).unwrap();
        assert!(c.hi.is_infinite() && c.lo >= 0.0, "{c:?}");
        let slow = Phase::of(vec![20.0, 21.0, 19.0, 20.5]);
        let c = Comparison::of(&quiet, &slow).unwrap();
        assert!(c.significant && c.lo > 1.8 && c.hi < 2.3, "{c:?}");
    }
}
