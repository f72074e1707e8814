//! Deadline overshoot under load: 32 guests `(loop br 0)` with a 100 ms deadline at once, and one
//! guest next to 32 busy host threads; p50 and max of how late each stopped, per runtime.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cage::{DynRuntime, HostFunctions, Invocation, Policy};

fn spin(rt: &dyn DynRuntime, policy: &Policy, bytes: &[u8]) -> f64 {
    let r = cage::on_guest_thread(policy, || {
        cage::run(
            rt,
            bytes,
            &HostFunctions::new(),
            &Invocation::call("spin", []),
        )
    })
    .unwrap();
    assert_eq!(r.trap, Some(cage::Trap::Timeout), "{r:?}");
    r.wall_ms - 100.0
}

fn summary(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!("p50 {:.1} ms, max {:.1} ms", v[v.len() / 2], v[v.len() - 1])
}

fn main() {
    let bytes = wat::parse_str(r#"(module (func (export "spin") (loop br 0)))"#).unwrap();
    let policy = Policy::default().with_timeout(Some(Duration::from_millis(100)));
    for name in cage::available_runtimes() {
        let rt: Arc<dyn DynRuntime> = Arc::from(cage::runtime_named(name, &policy).unwrap());
        let many: Vec<f64> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..32)
                .map(|_| s.spawn(|| spin(rt.as_ref(), &policy, &bytes)))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let stop = AtomicBool::new(false);
        let busy: Vec<f64> = std::thread::scope(|s| {
            for _ in 0..32 {
                s.spawn(|| {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
                    }
                });
            }
            let v = (0..5).map(|_| spin(rt.as_ref(), &policy, &bytes)).collect();
            stop.store(true, Ordering::Relaxed);
            v
        });
        println!(
            "{name}: 32 guests at once: {}; 1 guest beside 32 busy threads: {}",
            summary(many),
            summary(busy)
        );
    }
}
