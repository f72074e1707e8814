//! Cage's side: the program through Cage's API on the `wasmtime` runtime, with Cage's WASI and
//! `cage_oracle.log` as a [`cage::HostFunc`].

use std::sync::{Arc, Mutex};

use cage::{FuncType, HostFunc, RuntimeName, ValType, Value};
use cage_conformance::oracle::{LOG_MODULE, LOG_NAME};

use crate::{Calls, Copies, Observation, Outcome, Program, Step, show_value};

fn cage_step(what: &str, e: &cage::Error, log_len: usize) -> Step {
    let (outcome, stack_overflow) = match e.outcome() {
        cage::Outcome::Returned(v) => {
            (Outcome::Returned(v.iter().map(show_value).collect()), false)
        }
        cage::Outcome::Exited(n) => (Outcome::Exited(n), false),
        cage::Outcome::Trapped(t) => (Outcome::Trapped, t == cage::Trap::StackOverflow),
        cage::Outcome::Rejected(_) => (Outcome::Rejected, false),
        _ => (Outcome::HostFailure, false),
    };
    Step {
        what: what.to_owned(),
        outcome,
        message: e.message().map(|m| format!("{}: {m}", e.outcome())),
        stack_overflow,
        log_len,
    }
}

/// Runs `p` through Cage's API on the `wasmtime` runtime.
pub(crate) fn run(p: &Program) -> Result<Observation, String> {
    let copies = Copies::new(p).map_err(|e| format!("cannot copy the preopens: {e}"))?;
    let mut policy = p.policy.clone();
    for (d, copy) in policy.wasi.dirs.iter_mut().zip(&copies.dirs) {
        d.host = copy.clone();
    }
    let log: Arc<Mutex<Vec<(u32, i32)>>> = Arc::default();
    let mut host = cage_conformance::host_functions();
    let sink = log.clone();
    host.insert(HostFunc::new(
        LOG_MODULE,
        LOG_NAME,
        FuncType::new([ValType::I32, ValType::I32], []),
        move |_, a| {
            if let [Value::I32(index), Value::I32(errno)] = a {
                sink.lock().unwrap().push((*index as u32, *errno));
            }
            Ok(vec![])
        },
    ));
    let rt = cage::runtime_named(RuntimeName::Wasmtime, &policy).map_err(|e| e.to_string())?;
    let bytes = &p.module.bytes;
    let len = || log.lock().unwrap().len();
    let mut obs = cage::on_guest_thread(&policy, || {
        let mut obs = Observation::default();
        let checked = match cage::prepare(rt.as_ref(), bytes, &host, &cage::Invocation::Instantiate)
        {
            Ok(c) => c,
            Err(e) => {
                obs.steps.push(cage_step("check", &e, 0));
                return obs;
            }
        };
        let module = match rt.compile_dyn(&checked, &host) {
            Ok(m) => m,
            Err(e) => {
                obs.steps.push(cage_step("compile", &e, 0));
                return obs;
            }
        };
        let mut sandbox = match module.sandbox() {
            Ok(s) => s,
            Err(e) => {
                obs.steps.push(cage_step("sandbox", &e, 0));
                return obs;
            }
        };
        let record = |obs: &mut Observation, what: &str, r: Result<Vec<Value>, cage::Error>| {
            let step = match r {
                Ok(v) => Step {
                    what: what.to_owned(),
                    outcome: Outcome::Returned(v.iter().map(show_value).collect()),
                    message: None,
                    stack_overflow: false,
                    log_len: len(),
                },
                Err(e) => cage_step(what, &e, len()),
            };
            obs.steps.push(step);
        };
        let r = sandbox.instantiate().map(|()| Vec::new());
        let instantiated = r.is_ok();
        record(&mut obs, "instantiate", r);
        if instantiated {
            match &p.calls {
                Calls::Command => {
                    let r = sandbox.call("_start", &[]);
                    let r = r.map(|_| Vec::new());
                    record(&mut obs, "_start", r);
                    if let Some(s) = obs.steps.last_mut()
                        && s.outcome == Outcome::Returned(Vec::new())
                    {
                        s.outcome = Outcome::Exited(0);
                    }
                }
                Calls::Exports(list) => {
                    for (name, args) in list {
                        let r = sandbox.call(name, args);
                        record(&mut obs, name, r);
                    }
                }
                Calls::Every => {
                    let funcs: Vec<(String, Vec<Value>)> = checked
                        .info()
                        .exports
                        .iter()
                        .filter_map(|e| match &e.ty {
                            cage::module::ExternType::Func { ty } => Some((
                                e.name.clone(),
                                ty.params.iter().map(|p| Value::default_for(*p)).collect(),
                            )),
                            _ => None,
                        })
                        .collect();
                    for (name, args) in funcs {
                        let r = sandbox.call(&name, &args);
                        record(&mut obs, &name, r);
                    }
                }
            }
        }
        let out = sandbox.take_output();
        obs.stdout = out.stdout;
        obs.stderr = out.stderr;
        obs
    })
    .map_err(|e| e.to_string())?;
    obs.log = log.lock().unwrap().clone();
    obs.files = copies.files();
    Ok(obs)
}
