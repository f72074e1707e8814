//! WASI commands from Rust (issue 24), on every runtime compiled in: the policy's builders
//! `with_env` and `with_stdin` reach the guest exactly; `WasiCommand::run_command` gives the exit
//! status uniformly (`_start` returning is 0, `proc_exit(n)` is n, both `Ok` with the captured
//! output; a trap or a refusal is the `Err`); and a command's counters are the same on every
//! runtime, the same on every run, and the same as `cage::run` reports.
//!
//! The guests are WebAssembly text in `wasi_command_guests/`.

use cage::{
    CommandOutput, Error, HostFunctions, Invocation, Policy, Rejection, RuntimeName, Trap,
    WasiCommand,
};

/// Prints its environment (one `K=V` a line, through `environ_get`'s pointers), then its stdin.
const ECHO: &str = include_str!("wasi_command_guests/echo.wat");
/// Writes `exiting\n` and `bye\n` (stderr), then `proc_exit(code)`, the code read on stdin.
const EXIT: &str = include_str!("wasi_command_guests/exit.wat");
/// Writes `returned\n` and returns from `_start`.
const RETURNS: &str = include_str!("wasi_command_guests/returns.wat");
/// Writes `before the trap\n` and traps `unreachable`.
const TRAPS: &str = include_str!("wasi_command_guests/traps.wat");
/// Loops for ever.
const SPIN: &str = include_str!("wasi_command_guests/spin.wat");
/// Exits 4 from its start function, while being instantiated.
const START_EXITS: &str = include_str!("wasi_command_guests/start_exits.wat");
/// No `_start`; its start function writes `started\n` and exits 7.
const NO_START: &str = include_str!("wasi_command_guests/no_start.wat");
/// A `_start` that takes an `i32`; its start function writes `started\n` and exits 7.
const BAD_START: &str = include_str!("wasi_command_guests/bad_start.wat");

const FUEL: u64 = 10_000_000;

fn policy() -> Policy {
    Policy::default().with_fuel(Some(FUEL))
}

/// `guest` run as a WASI command on `name` under `policy`.
fn run_command(name: RuntimeName, policy: &Policy, guest: &str) -> Result<CommandOutput, Error> {
    let bytes = wat::parse_str(guest).unwrap();
    cage::on_guest_thread(policy, || {
        let rt = cage::runtime_named(name, policy).unwrap();
        let module = rt.compile(&bytes, &HostFunctions::new()).unwrap();
        module.run_command()
    })
    .unwrap()
}

/// `guest` run on `name` under `policy` by [`run_command`], and by `cage::run` as a command:
/// the two agree on everything both report.
fn run_both(name: RuntimeName, policy: &Policy, guest: &str) -> Result<CommandOutput, Error> {
    let out = run_command(name, policy, guest);
    let bytes = wat::parse_str(guest).unwrap();
    let report = cage::on_guest_thread(policy, || {
        let rt = cage::runtime_named(name, policy).unwrap();
        cage::run(
            rt.as_ref(),
            &bytes,
            &HostFunctions::new(),
            &Invocation::Command,
        )
    })
    .unwrap();
    match &out {
        Ok(o) => {
            assert_eq!(report.exit_code, Some(o.status), "{name}: {report:?}");
            // The report holds its output as text (lossy); `CommandOutput` the bytes.
            assert!(report.stdout == o.stdout(), "{name}: stdout differs");
            assert!(report.stderr == o.stderr(), "{name}: stderr differs");
            assert_eq!(report.output_truncated, o.output.truncated, "{name}");
            assert_eq!(report.fuel_consumed, o.stats.fuel_consumed, "{name}");
            assert_eq!(
                report.peak_memory_bytes, o.stats.peak_memory_bytes,
                "{name}"
            );
        }
        Err(e) => {
            assert_eq!(report.exit_code, None, "{name}: {report:?}");
            assert_eq!(report.trap, e.as_trap(), "{name}: {report:?}");
            assert_eq!(report.error, e.as_rejection(), "{name}: {report:?}");
            assert_eq!(report.message, e.message(), "{name}");
        }
    }
    out
}

/// 1300 bytes that cross the guest's 512-byte reads, NUL and non-UTF-8 bytes included.
fn stdin_bytes() -> Vec<u8> {
    let mut b = b"line one\nline two\n\0\xff\xfe".to_vec();
    b.extend((0..1300 - b.len()).map(|i| (i % 251) as u8));
    b
}

#[test]
fn the_environment_and_stdin_from_the_policy_builders_reach_the_guest_exactly() {
    let stdin = stdin_bytes();
    let granted = policy()
        .with_env("GREETING", "hello, world")
        .with_env("A_FIRST", "1")
        .with_env("EMPTY", "")
        .with_env("EQUALS", "a=b")
        .with_env("GREETING", "hello again")
        .with_stdin(stdin.clone());
    // In key order (`wasi.env` is a map); a key given twice keeps its last value; nothing of the
    // host's environment; then stdin, byte for byte.
    let mut want = b"A_FIRST=1\nEMPTY=\nEQUALS=a=b\nGREETING=hello again\n".to_vec();
    want.extend_from_slice(&stdin);
    for name in cage::available_runtimes() {
        let out = run_both(name, &granted, ECHO).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.status, 0, "{name}: {}", out.stdout());
        assert!(out.success(), "{name}");
        assert!(out.output.stdout == want, "{name}: {:?}", out.stdout());
        assert_eq!(out.stderr(), "", "{name}");
        assert!(!out.output.truncated, "{name}");

        // Without the builders the guest sees no variable and an empty stdin.
        let out = run_both(name, &policy(), ECHO).unwrap();
        assert_eq!((out.status, out.stdout()), (0, String::new()), "{name}");

        // Each builder on its own gives exactly its part.
        let out = run_both(name, &policy().with_env("ONLY", "env"), ECHO).unwrap();
        assert_eq!(
            (out.status, out.stdout()),
            (0, "ONLY=env\n".into()),
            "{name}"
        );
        let out = run_both(name, &policy().with_stdin(*b"only stdin"), ECHO).unwrap();
        assert_eq!(
            (out.status, out.stdout()),
            (0, "only stdin".into()),
            "{name}"
        );
        let out = run_both(name, &policy().with_stdin(Vec::new()), ECHO).unwrap();
        assert_eq!((out.status, out.stdout()), (0, String::new()), "{name}");
    }
}

#[test]
fn run_command_gives_every_exit_status_alike_and_a_trap_as_the_error() {
    for name in cage::available_runtimes() {
        // proc_exit(n): Ok with status n and what it wrote, whatever n (Wasmtime's own WASI
        // refuses n ≥ 126, Wasmer's reduces n modulo 256: Cage gives n).
        for code in [3, 0, 1, 125, 126, 255, 256, -1, i32::MAX] {
            let p = policy().with_stdin(code.to_le_bytes());
            let out = run_both(name, &p, EXIT).unwrap_or_else(|e| panic!("{name} {code}: {e}"));
            assert_eq!(out.status, code, "{name}");
            assert_eq!(out.success(), code == 0, "{name} {code}");
            assert_eq!(out.stdout(), "exiting\n", "{name} {code}");
            assert_eq!(out.stderr(), "bye\n", "{name} {code}");
            assert!(out.stats.fuel_consumed.is_some_and(|f| f > 0), "{name}");
        }

        // `_start` returning: Ok with status 0.
        let out = run_both(name, &policy(), RETURNS).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (out.status, out.stdout(), out.stderr()),
            (0, "returned\n".into(), String::new()),
            "{name}"
        );
        assert!(out.success(), "{name}");

        // An exit from the start function, while instantiating, is an exit like any other.
        let out = run_both(name, &policy(), START_EXITS).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (out.status, out.stdout()),
            (4, "from start\n".into()),
            "{name}"
        );

        // A trap is the error: which trap, never an exit status.
        let err = run_both(name, &policy(), TRAPS).expect_err(name.as_str());
        assert_eq!(err.as_trap(), Some(Trap::Unreachable), "{name}: {err}");
        assert!(!matches!(err, Error::Exited { .. }), "{name}: {err}");
        let err = run_both(name, &policy().with_fuel(Some(10_000)), SPIN).expect_err("spin");
        assert_eq!(err.as_trap(), Some(Trap::OutOfFuel), "{name}: {err}");

        // Not a command (no `_start`, or one that takes arguments): refused before the guest
        // runs, as `cage::run` refuses it; its start function never runs (it would exit 7).
        for (what, guest) in [
            ("no _start", r#"(module (memory (export "memory") 1))"#),
            ("no _start, a start function", NO_START),
            ("_start with a parameter", BAD_START),
        ] {
            let err = run_both(name, &policy(), guest).expect_err(what);
            assert_eq!(
                err.as_rejection(),
                Some(Rejection::InvalidInvocation),
                "{name}, {what}: {err}"
            );
            assert!(err.to_string().contains("_start"), "{name}, {what}: {err}");
        }
    }
}

#[test]
fn a_commands_counters_are_the_same_on_every_runtime_and_every_run() {
    let echo = policy().with_env("K", "V").with_stdin(stdin_bytes());
    let cases = [
        ("echo", echo, ECHO),
        ("exit 3", policy().with_stdin(3i32.to_le_bytes()), EXIT),
        ("returns", policy(), RETURNS),
        ("start exits", policy(), START_EXITS),
    ];
    for (case, p, guest) in &cases {
        let mut seen: Vec<(RuntimeName, CommandOutput)> = Vec::new();
        for name in cage::available_runtimes() {
            let bytes = wat::parse_str(guest).unwrap();
            // Twice on one compiled module: each run is a fresh sandbox (stdin given again,
            // fuel counted from zero), so the two are identical.
            let (first, second) = cage::on_guest_thread(p, || {
                let rt = cage::runtime_named(name, p).unwrap();
                let module = rt.compile(&bytes, &HostFunctions::new()).unwrap();
                (module.run_command().unwrap(), module.run_command().unwrap())
            })
            .unwrap();
            assert_eq!(first, second, "{case} on {name}");
            let fuel = first.stats.fuel_consumed.expect("metered");
            assert!(fuel > 0 && fuel < FUEL, "{case} on {name}: {fuel}");
            assert_eq!(first.stats.peak_memory_bytes, 65_536, "{case} on {name}");
            // And as `cage::run` reports it.
            assert_eq!(
                run_both(name, p, guest).as_ref(),
                Ok(&first),
                "{case} on {name}"
            );
            seen.push((name, first));
        }
        // The same status, output and stats (fuel included) on every runtime.
        for (name, out) in &seen[1..] {
            assert_eq!(out, &seen[0].1, "{case}: {name} differs from {}", seen[0].0);
        }
    }
}

/// A module of the generic API (`Module<Wasmtime>`) runs as a command as its `dyn` form does.
#[cfg(feature = "wasmtime")]
#[test]
fn a_typed_module_runs_a_command_as_the_dyn_one_does() {
    let p = policy().with_env("K", "V").with_stdin(*b"typed");
    let bytes = wat::parse_str(ECHO).unwrap();
    let typed = cage::on_guest_thread(&p, || {
        let rt = cage::wasmtime(&p).unwrap();
        rt.compile(&bytes, &HostFunctions::new())
            .unwrap()
            .run_command()
    })
    .unwrap()
    .unwrap();
    assert_eq!((typed.status, typed.stdout()), (0, "K=V\ntyped".into()));
    assert_eq!(
        Ok(typed),
        run_command(RuntimeName::Wasmtime, &p, ECHO),
        "typed and dyn differ"
    );
}
