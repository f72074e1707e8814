//! `cage calibrate`: nanoseconds per fuel unit per runtime on this machine, and conversions
//! between a timeout and a fuel budget.

use std::process::ExitCode;
use std::time::Duration;

use cage::RuntimeName;
use cage::policy::{format_duration, parse_duration};
use cage_bench::calibrate::{KERNELS, RuntimeCalibration, calibrate};
use cage_bench::report::Machine;
use clap::Args;
use serde_json::json;

use crate::{EXIT_CONFIG, EXIT_HOST, EXIT_USAGE};

#[derive(Args, Debug)]
pub(crate) struct CalibrateArgs {
    /// Runtime to calibrate (repeatable; default: every compiled-in runtime).
    #[arg(long = "runtime", value_name = "NAME")]
    runtimes: Vec<String>,
    /// Timed calls per workload (after one warm-up call).
    #[arg(long, value_name = "N", default_value_t = 5)]
    samples: usize,
    /// Print the fuel budget that corresponds to this time on each runtime (e.g. 2s, 500ms).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Print the time this fuel budget represents on each runtime.
    #[arg(long, value_name = "N", value_parser = parse_fuel)]
    fuel: Option<u64>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn parse_fuel(s: &str) -> Result<u64, String> {
    s.replace('_', "")
        .parse()
        .map_err(|_| format!("invalid fuel `{s}`: expected a whole number of units"))
}

pub(crate) fn main(a: CalibrateArgs) -> ExitCode {
    if a.samples == 0 {
        return crate::fail(EXIT_USAGE, "--samples 0: at least one sample");
    }
    let names: Vec<RuntimeName> = if a.runtimes.is_empty() {
        cage::available_runtimes()
    } else {
        let mut v = Vec::new();
        for n in &a.runtimes {
            match n.parse::<RuntimeName>() {
                Ok(r) if cage::available_runtimes().contains(&r) => v.push(r),
                Ok(r) => {
                    return crate::fail(
                        EXIT_CONFIG,
                        format!(
                            "runtime `{r}` is not compiled in (feature `{}`)",
                            r.feature()
                        ),
                    );
                }
                Err(e) => return crate::fail(EXIT_CONFIG, e),
            }
        }
        v
    };
    let mut results = Vec::new();
    for name in names {
        let policy = cage_bench::calibrate::policy();
        let r = cage::on_guest_thread(&policy, || calibrate(name, a.samples));
        match r {
            Ok(Ok(c)) => results.push(c),
            Ok(Err(e)) => return crate::fail(EXIT_HOST, format!("{name}: {e}")),
            Err(e) => return crate::fail(EXIT_HOST, e),
        }
    }
    let machine = Machine::current();
    if a.json {
        let conv = |c: &RuntimeCalibration| {
            let mut o = serde_json::Map::new();
            if let Some(t) = a.timeout {
                let (worst, typical) = c.fuel_for(t);
                o.insert(
                    "fuel_for_timeout".into(),
                    json!({"timeout_ms": t.as_secs_f64() * 1000.0, "worst_case": worst, "typical": typical}),
                );
            }
            if let Some(f) = a.fuel {
                let (typical, worst) = c.time_for(f);
                o.insert(
                    "time_for_fuel".into(),
                    json!({"fuel": f, "typical_ms": typical.as_secs_f64() * 1000.0, "worst_case_ms": worst.as_secs_f64() * 1000.0}),
                );
            }
            o
        };
        let runtimes: Vec<serde_json::Value> = results
            .iter()
            .map(|c| {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                if let Some(obj) = v.as_object_mut() {
                    obj.extend(conv(c));
                }
                v
            })
            .collect();
        println!(
            "{}",
            json!({
                "machine": machine.describe(),
                "samples": a.samples,
                "runtimes": runtimes,
            })
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "cage calibrate: nanoseconds per fuel unit, median (min–max) of {} calls per workload\n\
         machine: {}\n",
        a.samples,
        machine.describe()
    );
    let mut header = format!("{:<18}", "runtime");
    for k in KERNELS {
        header.push_str(&format!(" {:>20}", k.name));
    }
    header.push_str(&format!(" {:>8} {:>8}", "typical", "worst"));
    println!("{header}");
    for c in &results {
        let mut line = format!("{:<18}", c.runtime.to_string());
        for w in &c.workloads {
            let s = w.ns_per_fuel;
            line.push_str(&format!(
                " {:>20}",
                format!("{:.3} ({:.3}–{:.3})", s.median, s.min, s.max)
            ));
        }
        line.push_str(&format!(
            " {:>8.3} {:>8.3}",
            c.typical_ns_per_fuel, c.worst_ns_per_fuel
        ));
        println!("{line}");
    }
    println!();
    for k in KERNELS {
        println!("  {:<9} {}", k.name, k.kind);
    }
    if let Some(t) = a.timeout {
        println!("\nfuel for {}:", format_duration(t));
        for c in &results {
            let (worst, typical) = c.fuel_for(t);
            println!(
                "  {:<18} {worst} (ends within {} on every measured workload), {typical} on typical work",
                c.runtime.to_string(),
                format_duration(t)
            );
        }
    }
    if let Some(f) = a.fuel {
        println!("\ntime for {f} fuel:");
        for c in &results {
            let (typical, worst) = c.time_for(f);
            println!(
                "  {:<18} {:.1} ms on typical work, up to {:.1} ms on the slowest measured work",
                c.runtime.to_string(),
                typical.as_secs_f64() * 1000.0,
                worst.as_secs_f64() * 1000.0
            );
        }
    }
    println!(
        "\nFuel bounds work, not time: these are this machine's numbers for these workloads. \
         Set both limits: fuel for a portable, deterministic bound, a timeout for wall time \
         (host calls, a loaded machine)."
    );
    ExitCode::SUCCESS
}
