//! `cage calibrate`: nanoseconds per fuel unit, per runtime, over workloads of different kinds,
//! so that an operator can relate a fuel budget to time on this machine (and back).
//!
//! Fuel bounds work, not time: one unit is about one instruction, and an instruction's time
//! depends on what it is (a call, a load, a host call) and on the runtime's code. So the answer
//! is a spread, never one number: per workload the median of several timed calls, and across
//! workloads the typical (median) and worst (slowest per unit) values.

use std::time::{Duration, Instant};

use cage::{HostFunctions, Policy, RuntimeName, Value};
use serde::Serialize;

use crate::workloads::{
    FIB_N, FIB_WAT, HOSTCALL_N, HOSTCALL_WAT, INDIRECT_N, INDIRECT_WAT, MATMUL_N, MATMUL_WAT,
    SIEVE_N, SIEVE_WAT,
};
use crate::{DEADLINE, FUEL_BUDGET, Source};

/// One calibration workload.
#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    /// Short name.
    pub name: &'static str,
    /// What bounds it.
    pub kind: &'static str,
    source: &'static str,
    arg: i32,
}

/// The workloads: the benchmark kernels (call-bound, memory-bound) and guest→host calls.
pub const KERNELS: &[Kernel] = &[
    Kernel {
        name: "fib",
        kind: "call-bound (recursive calls)",
        source: FIB_WAT,
        arg: FIB_N,
    },
    Kernel {
        name: "indirect",
        kind: "call-bound (call_indirect)",
        source: INDIRECT_WAT,
        arg: INDIRECT_N,
    },
    Kernel {
        name: "sieve",
        kind: "memory-bound (byte stores, memory.fill)",
        source: SIEVE_WAT,
        arg: SIEVE_N,
    },
    Kernel {
        name: "matmul",
        kind: "memory-bound (i32 loads and arithmetic)",
        source: MATMUL_WAT,
        arg: MATMUL_N,
    },
    Kernel {
        name: "bump",
        kind: "host-call-bound (guest→host calls)",
        source: HOSTCALL_WAT,
        arg: HOSTCALL_N,
    },
];

/// Median, minimum and maximum of some measurements (zeros when there are none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Spread<T = f64> {
    /// Median (the upper one of an even count).
    pub median: T,
    /// Minimum.
    pub min: T,
    /// Maximum.
    pub max: T,
}

impl<T: Copy + PartialOrd + Default> Spread<T> {
    /// Of `v`.
    pub fn of(mut v: Vec<T>) -> Self {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        Spread {
            median: v.get(v.len() / 2).copied().unwrap_or_default(),
            min: v.first().copied().unwrap_or_default(),
            max: v.last().copied().unwrap_or_default(),
        }
    }
}

/// One workload on one runtime.
#[derive(Clone, Debug, Serialize)]
pub struct KernelResult {
    /// The workload.
    pub workload: &'static str,
    /// What bounds it.
    pub kind: &'static str,
    /// Fuel one call consumes (identical on every runtime).
    pub fuel: u64,
    /// Nanoseconds per fuel unit over the samples.
    pub ns_per_fuel: Spread,
}

/// One runtime.
#[derive(Clone, Debug, Serialize)]
pub struct RuntimeCalibration {
    /// The runtime.
    pub runtime: RuntimeName,
    /// Per workload.
    pub workloads: Vec<KernelResult>,
    /// The median over workloads of their median ns per fuel unit.
    pub typical_ns_per_fuel: f64,
    /// The largest workload median: the slowest kind of work per unit.
    pub worst_ns_per_fuel: f64,
}

impl RuntimeCalibration {
    /// Fuel that takes `time` on the slowest measured kind of work (a budget that ends a guest
    /// within `time` whatever it runs, as measured) and on typical work.
    pub fn fuel_for(&self, time: Duration) -> (u64, u64) {
        let ns = time.as_nanos() as f64;
        let f = |per: f64| if per > 0.0 { (ns / per) as u64 } else { 0 };
        (f(self.worst_ns_per_fuel), f(self.typical_ns_per_fuel))
    }

    /// The time `fuel` takes on typical work and on the slowest measured kind of work.
    pub fn time_for(&self, fuel: u64) -> (Duration, Duration) {
        let t = |per: f64| Duration::from_secs_f64(fuel as f64 * per / 1e9);
        (t(self.typical_ns_per_fuel), t(self.worst_ns_per_fuel))
    }
}

/// The policy calibration runs under: fuel and a deadline on, as in production.
pub fn policy() -> Policy {
    let mut p = Policy::default().with_fuel(Some(FUEL_BUDGET));
    p.limits.timeout = Some(DEADLINE);
    p
}

/// Calibrates runtime `name`: each workload compiled once, then `samples` timed calls, each on
/// a fresh instance (instantiation not timed).
///
/// # Errors
/// The runtime cannot be made, a workload does not compile or run, or it was not metered.
pub fn calibrate(name: RuntimeName, samples: usize) -> Result<RuntimeCalibration, String> {
    let policy = policy();
    let runtime = cage::runtime_named(name, &policy).map_err(|e| e.to_string())?;
    let host: HostFunctions = crate::exec::host_functions(true);
    let mut workloads = Vec::new();
    for k in KERNELS {
        let bytes = Source::Wat(k.source).binary()?;
        let checked = runtime.check(&bytes).map_err(|e| e.to_string())?;
        let module = runtime
            .compile_dyn(&checked, &host)
            .map_err(|e| format!("{}: {e}", k.name))?;
        let mut per = Vec::with_capacity(samples);
        let mut fuel = 0;
        // One warm-up call, then the samples.
        for i in 0..=samples {
            let mut sandbox = module.sandbox().map_err(|e| e.to_string())?;
            sandbox.instantiate().map_err(|e| e.to_string())?;
            let before = sandbox.stats().fuel_consumed.unwrap_or(0);
            let start = Instant::now();
            sandbox
                .call("run", &[Value::I32(k.arg)])
                .map_err(|e| format!("{}: {e}", k.name))?;
            let ns = start.elapsed().as_nanos() as f64;
            let used = sandbox
                .stats()
                .fuel_consumed
                .ok_or_else(|| format!("{name}: {} was not metered", k.name))?
                - before;
            fuel = used;
            if i > 0 && used > 0 {
                per.push(ns / used as f64);
            }
        }
        workloads.push(KernelResult {
            workload: k.name,
            kind: k.kind,
            fuel,
            ns_per_fuel: Spread::of(per),
        });
    }
    let medians: Vec<f64> = workloads.iter().map(|w| w.ns_per_fuel.median).collect();
    let m = Spread::of(medians);
    Ok(RuntimeCalibration {
        runtime: name,
        workloads,
        typical_ns_per_fuel: m.median,
        worst_ns_per_fuel: m.max,
    })
}
