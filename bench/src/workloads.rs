//! The workloads: WebAssembly sources (hand-written WAT under `bench/workloads/`, and a
//! generated large module), their arguments, and the same algorithms in Rust for the native
//! baseline and for the expected results.

use std::fmt::Write as _;
use std::hint::black_box;

/// Where a workload's module comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A WAT file of `bench/workloads/`, compiled into the binary.
    Wat(&'static str),
    /// The generated large module ([`large_module_wat`]).
    Large,
}

impl Source {
    /// The module binary.
    ///
    /// # Errors
    /// Invalid WebAssembly text (a bug in the workload).
    pub fn binary(self) -> Result<Vec<u8>, String> {
        let text = match self {
            Source::Wat(t) => t.to_owned(),
            Source::Large => large_module_wat(LARGE_FUNCTIONS),
        };
        cage_core::module::to_binary(text.as_bytes()).map_err(|e| e.to_string())
    }
}

/// `bench/workloads/fib.wat`: recursive Fibonacci.
pub const FIB_WAT: &str = include_str!("../workloads/fib.wat");
/// `bench/workloads/sieve.wat`: sieve of Eratosthenes.
pub const SIEVE_WAT: &str = include_str!("../workloads/sieve.wat");
/// `bench/workloads/matmul.wat`: naive matrix multiply in linear memory.
pub const MATMUL_WAT: &str = include_str!("../workloads/matmul.wat");
/// `bench/workloads/indirect.wat`: a `call_indirect` loop over a table of four functions.
pub const INDIRECT_WAT: &str = include_str!("../workloads/indirect.wat");
/// `bench/workloads/trivial.wat`: one memory, one data segment, `run(x) = x + 1`.
pub const TRIVIAL_WAT: &str = include_str!("../workloads/trivial.wat");
/// `bench/workloads/hostcall.wat`: a loop calling the host's `env.bump`.
pub const HOSTCALL_WAT: &str = include_str!("../workloads/hostcall.wat");

/// Argument of `fib`.
pub const FIB_N: i32 = 27;
/// Argument of `sieve`: primes below one million.
pub const SIEVE_N: i32 = 1_000_000;
/// Argument of `matmul`: 128×128 matrices.
pub const MATMUL_N: i32 = 128;
/// Argument of `indirect`: one million indirect calls.
pub const INDIRECT_N: i32 = 1_000_000;
/// Argument of the host-call loop: ten thousand host calls per run.
pub const HOSTCALL_N: i32 = 10_000;
/// Functions in the generated large module.
pub const LARGE_FUNCTIONS: usize = 2_000;

/// Recursive Fibonacci, wrapping like the guest's `i32.add`.
pub fn fib(n: i32) -> i32 {
    if (n as u32) < 2 {
        n
    } else {
        fib(black_box(n - 1)).wrapping_add(fib(black_box(n - 2)))
    }
}

/// Number of primes below `n` (`n` ≥ 0), by the guest's algorithm.
pub fn sieve(n: i32) -> i32 {
    let n = usize::try_from(n).unwrap_or(0);
    let mut composite = vec![0u8; n];
    let mut i = 2usize;
    while i * i < n {
        if black_box(composite[i]) == 0 {
            let mut j = i * i;
            while j < n {
                composite[j] = 1;
                j += i;
            }
        }
        i += 1;
    }
    let count = composite.iter().skip(2).filter(|&&c| c == 0).count();
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// The guest's matrix multiply: wrapping sum of `a × b` with `a[i][j] = i + j`, `b[i][j] = i - j`.
pub fn matmul(n: i32) -> i32 {
    let n = usize::try_from(n).unwrap_or(0);
    let idx = |i: usize| i32::try_from(i).unwrap_or(i32::MAX);
    let mut a = vec![0i32; n * n];
    let mut b = vec![0i32; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = idx(i).wrapping_add(idx(j));
            b[i * n + j] = idx(i).wrapping_sub(idx(j));
        }
    }
    let (a, b) = (black_box(a), black_box(b));
    let mut c = vec![0i32; n * n];
    let mut sum = 0i32;
    for i in 0..n {
        for j in 0..n {
            let mut acc = 0i32;
            for k in 0..n {
                acc = acc.wrapping_add(a[i * n + k].wrapping_mul(b[k * n + j]));
            }
            c[i * n + j] = acc;
            sum = sum.wrapping_add(acc);
        }
    }
    black_box(c);
    sum
}

fn op_add(x: i32) -> i32 {
    x.wrapping_add(0x9e37_79b9_u32 as i32)
}
fn op_mul(x: i32) -> i32 {
    x.wrapping_mul(3)
}
fn op_xor(x: i32) -> i32 {
    x ^ 0x5bd1_e995
}
fn op_rotl(x: i32) -> i32 {
    x.rotate_left(5)
}

/// The guest's `call_indirect` loop, through a table of function pointers.
pub fn indirect(n: i32) -> i32 {
    let table: [fn(i32) -> i32; 4] = black_box([op_add, op_mul, op_xor, op_rotl]);
    let mut acc = 1i32;
    for i in 0..n.max(0) {
        let k = (i.wrapping_add(((acc as u32) >> 30) as i32) & 3) as usize;
        acc = table[k](acc);
    }
    acc
}

/// The text of a large module: `functions` functions of about a kilobyte of code each (so 2 000
/// make about 2 MB), with arithmetic, branches and a call to the previous function, so that
/// every compiler has real work: register allocation, control flow, calls.
pub fn large_module_wat(functions: usize) -> String {
    let mut s = String::with_capacity(functions * 3_000);
    s.push_str("(module\n");
    for f in 0..functions {
        let _ = writeln!(
            s,
            "  (func $f{f} (export \"f{f}\") (param $x i32) (result i32) (local $y i32)"
        );
        for u in 0..24 {
            let k1 = (f * 31 + u * 7) % 1000;
            let k2 = (f * 17 + u * 13) % 1000 + 1;
            let k3 = (f + u) % 31;
            let _ = writeln!(
                s,
                "    local.get $x i32.const {k1} i32.add local.set $y\n    \
                 local.get $y i32.const {k2} i32.mul local.get $x i32.xor local.set $x\n    \
                 local.get $x i32.const {k1} i32.gt_s\n    \
                 if local.get $y i32.const {k3} i32.shl local.set $y\n    \
                 else local.get $x i32.const {k2} i32.sub local.set $x end\n    \
                 local.get $x local.get $y i32.rotl local.set $x"
            );
        }
        if f > 0 {
            let _ = writeln!(s, "    local.get $y call $f{} local.get $x i32.add", f - 1);
        } else {
            s.push_str("    local.get $x local.get $y i32.add\n");
        }
        s.push_str("  )\n");
    }
    s.push_str(")\n");
    s
}
