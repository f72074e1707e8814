//! Running a WASI command from Rust: one call, its exit status (0 and non-zero alike) and its
//! captured output.

use cage_core::backend::Backend;
use cage_core::{DynModule, Error, Module, ModuleInfo, Output, Rejection, Stats};

/// What a WASI command did: its exit status, what it wrote, and the sandbox's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandOutput {
    /// The exit status: 0 when `_start` returned, else the code given to `proc_exit`.
    pub status: i32,
    /// What it wrote to stdout and stderr (at most `limits.max_output`).
    pub output: Output,
    /// Fuel and memory counters.
    pub stats: Stats,
}

impl CommandOutput {
    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// Its stdout, as text (lossy).
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Its stderr, as text (lossy).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

/// Runs a module as a WASI command: `_start` in a fresh sandbox, under the runtime's policy
/// (its `[wasi]` args, env, stdin and directories).
pub trait WasiCommand {
    /// Makes a sandbox, instantiates it and calls `_start`; returns the exit status (0 when
    /// `_start` returns, else the `proc_exit` code, alike) and the captured output.
    ///
    /// # Errors
    /// A trap (the guest did not exit), a rejection (no `_start`, a limit), a host failure: an
    /// exit, with any code, is not an error.
    fn run_command(&self) -> Result<CommandOutput, Error>;
}

impl<B: Backend> WasiCommand for Module<B> {
    fn run_command(&self) -> Result<CommandOutput, Error> {
        (self as &dyn DynModule).run_command()
    }
}

impl WasiCommand for dyn DynModule + '_ {
    fn run_command(&self) -> Result<CommandOutput, Error> {
        check_start(self.info())?;
        let mut sandbox = self.sandbox()?;
        let result = sandbox
            .instantiate()
            .and_then(|()| sandbox.call("_start", &[]));
        let status = match result {
            Ok(_) => 0,
            Err(Error::Exited { code }) => code,
            Err(e) => return Err(e),
        };
        Ok(CommandOutput {
            status,
            output: sandbox.take_output(),
            stats: sandbox.stats(),
        })
    }
}

/// Refuses a module that is not a WASI command before any of its code runs: `_start` must be an
/// exported function that takes no arguments. `cage::run` checks the same for
/// `Invocation::Command`, in the same words; checked only by calling `_start`, a module without
/// one would first be instantiated, running its start function, whose exit was taken for the
/// command's exit status.
fn check_start(info: &ModuleInfo) -> Result<(), Error> {
    let ty = cage_core::module::export_func(info, "_start")?;
    if ty.params.is_empty() {
        return Ok(());
    }
    let params: Vec<String> = ty.params.iter().map(ToString::to_string).collect();
    Err(Error::reject(
        Rejection::InvalidInvocation,
        format!("`_start` takes ({}), got ()", params.join(", ")),
    ))
}
