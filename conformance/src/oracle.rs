//! Instrumentation for the WASI oracle (`tests/wasi_oracle/`): a module rewritten so that every
//! WASI preview 1 call it makes is logged, with the errno the guest receives, through one
//! import both WASI implementations under comparison can provide.
//!
//! [`instrument`] adds the import [`LOG_MODULE`]`.`[`LOG_NAME`]` : (i32, i32) -> ()` and, for
//! each imported `wasi_snapshot_preview1` function, a defined *wrapper* of the same type that
//! calls the import, calls `log(import_index, errno)` and returns the errno. Every reference to
//! the import (calls, `ref.func`, element segments, exports, the start function) is redirected
//! to its wrapper, so the guest cannot reach the import without being logged. `proc_exit`, which
//! does not return, logs its argument before it calls. The log is the same mechanism for any
//! implementation: the run under Cage's WASI and the run under `wasmtime-wasi` execute the same
//! instrumented module, and each appends `(import_index, errno)` to its own list.
//!
//! The import is appended after the module's imports, so imported functions keep their indices
//! and every defined function moves up by one; the wrappers are defined after the module's own
//! functions. The name section keeps naming the imports themselves.

use std::collections::BTreeMap;

use reencode_wasmparser as wp;
use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{
    CodeSection, Function, FunctionSection, ImportSection, Instruction, Module, SectionId,
    TypeSection, ValType,
};

/// The module name of the logging import.
pub const LOG_MODULE: &str = "cage_oracle";
/// The field name of the logging import: `(i32 import_index, i32 errno) -> ()`.
pub const LOG_NAME: &str = "log";

/// One logged WASI call: which import was called and what it returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The preview 1 function's name (`fd_write`).
    pub name: String,
    /// The errno returned to the guest; for `proc_exit`, its argument (the exit code).
    pub errno: i32,
}

/// A module rewritten by [`instrument`].
#[derive(Clone, Debug)]
pub struct Instrumented {
    /// The rewritten module (or the original, when it imports no WASI function to wrap or does
    /// not parse: nothing is logged then).
    pub bytes: Vec<u8>,
    /// The wrapped imports: function index → preview 1 name.
    pub wrapped: BTreeMap<u32, String>,
}

impl Instrumented {
    /// The calls of a log of `(import_index, errno)` pairs, named; an index that names no
    /// wrapped import (which the wrappers never log) shows as `#index`.
    pub fn calls(&self, log: &[(u32, i32)]) -> Vec<Call> {
        log.iter()
            .map(|&(index, errno)| Call {
                name: self
                    .wrapped
                    .get(&index)
                    .cloned()
                    .unwrap_or_else(|| format!("#{index}")),
                errno,
            })
            .collect()
    }
}

/// Why a module could not be instrumented.
#[derive(Debug, thiserror::Error)]
#[error("cannot instrument the module: {0}")]
pub struct InstrumentError(String);

/// How a wrapper reports its call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// `(…) -> i32`: calls, then logs the result.
    Errno,
    /// `proc_exit: (i32) -> ()`: logs the argument, then calls.
    Exit,
}

/// A wrapped import.
#[derive(Clone, Debug)]
struct Wrapped {
    /// Its function index (unchanged by the rewrite).
    import: u32,
    /// Its type index.
    ty: u32,
    /// Its parameter count.
    params: u32,
    shape: Shape,
}

/// What a first pass learns about the module.
#[derive(Debug, Default)]
struct Plan {
    types: u32,
    imported_funcs: u32,
    defined_funcs: u32,
    wrapped: Vec<Wrapped>,
    names: BTreeMap<u32, String>,
}

fn plan(bytes: &[u8]) -> wp::Result<Plan> {
    let mut p = Plan::default();
    // Function types by type index (`None` for non-function types).
    let mut types: Vec<Option<(Vec<wp::ValType>, Vec<wp::ValType>)>> = Vec::new();
    for payload in wp::Parser::new(0).parse_all(bytes) {
        match payload? {
            wp::Payload::TypeSection(r) => {
                for group in r {
                    for sub in group?.into_types() {
                        types.push(match sub.composite_type.inner {
                            wp::CompositeInnerType::Func(f) => {
                                Some((f.params().to_vec(), f.results().to_vec()))
                            }
                            _ => None,
                        });
                    }
                }
            }
            wp::Payload::ImportSection(r) => {
                for import in r.into_imports() {
                    let import = import?;
                    let wp::TypeRef::Func(ty) = import.ty else {
                        continue;
                    };
                    let index = p.imported_funcs;
                    p.imported_funcs += 1;
                    if import.module != cage_wasi::WASI_MODULE {
                        continue;
                    }
                    let Some(Some((params, results))) = types.get(ty as usize) else {
                        continue;
                    };
                    let shape = match (params.as_slice(), results.as_slice()) {
                        (_, [wp::ValType::I32]) => Shape::Errno,
                        ([wp::ValType::I32], []) if import.name == "proc_exit" => Shape::Exit,
                        // Not a preview 1 shape: left alone (both sides refuse the import).
                        _ => continue,
                    };
                    p.wrapped.push(Wrapped {
                        import: index,
                        ty,
                        params: params.len() as u32,
                        shape,
                    });
                    p.names.insert(index, import.name.to_owned());
                }
            }
            wp::Payload::FunctionSection(r) => p.defined_funcs = r.count(),
            _ => {}
        }
    }
    p.types = types.len() as u32;
    Ok(p)
}

/// The rewriter: [`Reencode`] with function indices moved (see the module documentation).
struct Rewriter {
    plan: Plan,
    /// Import function index → wrapper function index.
    redirect: BTreeMap<u32, u32>,
    /// Re-encoding the name section: names stay with the imports themselves.
    in_names: bool,
    functions_done: bool,
    code_done: bool,
}

impl Rewriter {
    fn log_type(&self) -> u32 {
        self.plan.types
    }

    fn log_func(&self) -> u32 {
        self.plan.imported_funcs
    }

    fn wrapper_types(&self, functions: &mut FunctionSection) {
        for w in &self.plan.wrapped {
            functions.function(w.ty);
        }
    }

    fn wrapper_bodies(&self, code: &mut CodeSection) {
        for w in &self.plan.wrapped {
            let index = Instruction::I32Const(w.import as i32);
            let mut f = match w.shape {
                Shape::Errno => {
                    let mut f = Function::new([(1, ValType::I32)]);
                    for p in 0..w.params {
                        f.instruction(&Instruction::LocalGet(p));
                    }
                    f.instruction(&Instruction::Call(w.import))
                        .instruction(&Instruction::LocalSet(w.params))
                        .instruction(&index)
                        .instruction(&Instruction::LocalGet(w.params))
                        .instruction(&Instruction::Call(self.log_func()))
                        .instruction(&Instruction::LocalGet(w.params));
                    f
                }
                Shape::Exit => {
                    let mut f = Function::new([]);
                    f.instruction(&index)
                        .instruction(&Instruction::LocalGet(0))
                        .instruction(&Instruction::Call(self.log_func()))
                        .instruction(&Instruction::LocalGet(0))
                        .instruction(&Instruction::Call(w.import));
                    f
                }
            };
            f.instruction(&Instruction::End);
            code.function(&f);
        }
    }
}

/// The position of a section in a module (the binary format's order, which is not the order of
/// the ids).
fn order(id: SectionId) -> u8 {
    match id {
        SectionId::Custom => 0,
        SectionId::Type => 1,
        SectionId::Import => 2,
        SectionId::Function => 3,
        SectionId::Table => 4,
        SectionId::Memory => 5,
        SectionId::Tag => 6,
        SectionId::Global => 7,
        SectionId::Export => 8,
        SectionId::Start => 9,
        SectionId::Element => 10,
        SectionId::DataCount => 11,
        SectionId::Code => 12,
        SectionId::Data => 13,
    }
}

impl Reencode for Rewriter {
    type Error = std::convert::Infallible;

    fn function_index(&mut self, func: u32) -> Result<u32, reencode::Error> {
        if !self.in_names
            && let Some(&w) = self.redirect.get(&func)
        {
            return Ok(w);
        }
        Ok(if func < self.plan.imported_funcs {
            func
        } else {
            func + 1
        })
    }

    fn parse_type_section(
        &mut self,
        types: &mut TypeSection,
        section: wp::TypeSectionReader<'_>,
    ) -> Result<(), reencode::Error> {
        reencode::utils::parse_type_section(self, types, section)?;
        types.ty().function([ValType::I32, ValType::I32], []);
        Ok(())
    }

    fn parse_import_section(
        &mut self,
        imports: &mut ImportSection,
        section: wp::ImportSectionReader<'_>,
    ) -> Result<(), reencode::Error> {
        reencode::utils::parse_import_section(self, imports, section)?;
        imports.import(
            LOG_MODULE,
            LOG_NAME,
            wasm_encoder::EntityType::Function(self.log_type()),
        );
        Ok(())
    }

    fn parse_function_section(
        &mut self,
        functions: &mut FunctionSection,
        section: wp::FunctionSectionReader<'_>,
    ) -> Result<(), reencode::Error> {
        reencode::utils::parse_function_section(self, functions, section)?;
        self.wrapper_types(functions);
        self.functions_done = true;
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut CodeSection,
        section: wp::CodeSectionReader<'_>,
    ) -> Result<(), reencode::Error> {
        reencode::utils::parse_code_section(self, code, section)?;
        self.wrapper_bodies(code);
        self.code_done = true;
        Ok(())
    }

    fn custom_name_section(
        &mut self,
        section: wp::NameSectionReader<'_>,
    ) -> Result<wasm_encoder::NameSection, reencode::Error> {
        self.in_names = true;
        let names = reencode::utils::custom_name_section(self, section);
        self.in_names = false;
        names
    }

    /// A module without functions of its own has no function or code section: add them where
    /// they belong.
    fn intersperse_section_hook(
        &mut self,
        module: &mut Module,
        _after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Result<(), reencode::Error> {
        let past = |id: SectionId| before.is_none_or(|b| order(b) > order(id));
        if !self.functions_done && past(SectionId::Function) {
            let mut functions = FunctionSection::new();
            self.wrapper_types(&mut functions);
            module.section(&functions);
            self.functions_done = true;
        }
        if !self.code_done && past(SectionId::Code) {
            let mut code = CodeSection::new();
            self.wrapper_bodies(&mut code);
            module.section(&code);
            self.code_done = true;
        }
        Ok(())
    }
}

/// Rewrites `bytes` (a binary module) so that every call of an imported WASI preview 1
/// function is logged through [`LOG_MODULE`]`.`[`LOG_NAME`] (see the module documentation).
/// A module that imports no WASI function of a preview 1 shape (`(…) -> i32`, or `proc_exit`),
/// or that does not parse, is returned as it is.
///
/// # Errors
/// The module parses but cannot be re-encoded.
pub fn instrument(bytes: &[u8]) -> Result<Instrumented, InstrumentError> {
    let unchanged = || Instrumented {
        bytes: bytes.to_vec(),
        wrapped: BTreeMap::new(),
    };
    let Ok(plan) = plan(bytes) else {
        return Ok(unchanged());
    };
    if plan.wrapped.is_empty() {
        return Ok(unchanged());
    }
    let first_wrapper = plan.imported_funcs + 1 + plan.defined_funcs;
    let redirect = plan
        .wrapped
        .iter()
        .enumerate()
        .map(|(k, w)| (w.import, first_wrapper + k as u32))
        .collect();
    let wrapped = plan.names.clone();
    let mut rewriter = Rewriter {
        plan,
        redirect,
        in_names: false,
        functions_done: false,
        code_done: false,
    };
    let mut module = Module::new();
    rewriter
        .parse_core_module(&mut module, wp::Parser::new(0), bytes)
        .map_err(|e| InstrumentError(e.to_string()))?;
    Ok(Instrumented {
        bytes: module.finish(),
        wrapped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Two imported WASI functions (one reached by a call, a table, `ref.func`, an export and
    /// the start function; the other, `proc_exit`, by a call), a non-WASI import, and a name
    /// section.
    const WAT: &str = r#"
        (module
          (type $write (func (param i32 i32 i32 i32) (result i32)))
          (import "env" "twice" (func $twice (param i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (type $write)))
          (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
          (memory (export "memory") 1)
          (table 2 funcref)
          (elem (i32.const 0) $fd_write $helper)
          (global $started (mut i32) (i32.const 0))
          (func $helper (param i32) (result i32) (call $twice (local.get 0)))
          (func $init (global.set $started (call $fd_write (i32.const 1) (i32.const 2) (i32.const 3) (i32.const 4))))
          (start $init)
          (func (export "direct") (result i32)
            (call $fd_write (i32.const 5) (i32.const 0) (i32.const 0) (i32.const 0)))
          (func (export "indirect") (result i32)
            (call_indirect (type $write) (i32.const 6) (i32.const 0) (i32.const 0) (i32.const 0)
              (i32.const 0)))
          (func (export "by_ref") (result i32)
            (call_ref $write (i32.const 7) (i32.const 0) (i32.const 0) (i32.const 0)
              (ref.func $fd_write)))
          (func (export "helper") (result i32) (call_indirect (param i32) (result i32) (i32.const 20) (i32.const 1)))
          (func (export "started") (result i32) (global.get $started))
          (func (export "exit") (call $exit (i32.const 3)))
          (export "raw_write" (func $fd_write)))
    "#;

    #[derive(Default)]
    struct State {
        log: Vec<(u32, i32)>,
        writes: Vec<i32>,
    }

    /// Runs `bytes` on Wasmtime with fake imports: `fd_write` returns its first argument plus
    /// 100, `proc_exit` fails with the code. Returns what each export gave, the fake's own record
    /// of calls, and the oracle log.
    fn run(bytes: &[u8]) -> (Vec<String>, Vec<i32>, Vec<(u32, i32)>) {
        use wasmtime::{Caller, Config, Engine, Linker, Module, Store};
        let mut config = Config::new();
        config.wasm_function_references(true);
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, bytes).unwrap();
        let mut linker: Linker<State> = Linker::new(&engine);
        linker
            .func_wrap("env", "twice", |x: i32| x * 2)
            .unwrap()
            .func_wrap(
                WASI_MODULE_NAME,
                "fd_write",
                |mut c: Caller<'_, State>, a: i32, _: i32, _: i32, _: i32| {
                    c.data_mut().writes.push(a);
                    a + 100
                },
            )
            .unwrap()
            .func_wrap(
                WASI_MODULE_NAME,
                "proc_exit",
                |_: Caller<'_, State>, code: i32| -> wasmtime::Result<()> {
                    Err(wasmtime::Error::msg(format!("exit {code}")))
                },
            )
            .unwrap()
            .func_wrap(
                LOG_MODULE,
                LOG_NAME,
                |mut c: Caller<'_, State>, index: i32, errno: i32| {
                    c.data_mut().log.push((index as u32, errno));
                },
            )
            .unwrap();
        let mut store = Store::new(&engine, State::default());
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let mut out = Vec::new();
        for name in [
            "direct",
            "indirect",
            "by_ref",
            "helper",
            "started",
            "exit",
            "raw_write",
        ] {
            let f = instance.get_func(&mut store, name).unwrap();
            let ty = f.ty(&store);
            let args: Vec<wasmtime::Val> = ty.params().map(|_| wasmtime::Val::I32(9)).collect();
            let mut results = vec![wasmtime::Val::I32(0); ty.results().len()];
            match f.call(&mut store, &args, &mut results) {
                Ok(()) => out.push(format!(
                    "{name}: {:?}",
                    results.first().map(|v| v.unwrap_i32())
                )),
                // The cause, not the message: its backtrace names other function indices.
                Err(e) => out.push(format!("{name}: {}", e.root_cause())),
            }
        }
        let s = store.into_data();
        (out, s.writes, s.log)
    }

    const WASI_MODULE_NAME: &str = cage_wasi::WASI_MODULE;

    #[test]
    fn the_rewritten_module_validates_behaves_the_same_and_logs() {
        let original = wat::parse_str(WAT).unwrap();
        let inst = instrument(&original).unwrap();
        let mut features = wasmparser::WasmFeatures::default();
        features.set(wasmparser::WasmFeatures::FUNCTION_REFERENCES, true);
        wasmparser::Validator::new_with_features(features)
            .validate_all(&inst.bytes)
            .expect("the instrumented module validates");
        assert_eq!(
            inst.wrapped,
            BTreeMap::from([(1, "fd_write".to_owned()), (2, "proc_exit".to_owned())])
        );
        let (before, writes_before, log_before) = run(&original);
        let (after, writes_after, log) = run(&inst.bytes);
        assert_eq!(before, after, "the same results");
        assert_eq!(writes_before, writes_after, "the same calls of the import");
        assert!(log_before.is_empty());
        // start (1), direct (5), indirect (6), by_ref (7), exit logs 3 before it fails, and the
        // re-exported import called by the host (9).
        assert_eq!(
            log,
            [(1, 101), (1, 105), (1, 106), (1, 107), (2, 3), (1, 109)]
        );
        let calls = inst.calls(&log);
        assert_eq!(
            calls[4],
            Call {
                name: "proc_exit".into(),
                errno: 3
            }
        );
        assert_eq!(inst.calls(&[(0, 1)])[0].name, "#0");
    }

    #[test]
    fn names_stay_with_the_imports() {
        let original = wat::parse_str(WAT).unwrap();
        let inst = instrument(&original).unwrap();
        let mut names = BTreeMap::new();
        for payload in wp::Parser::new(0).parse_all(&inst.bytes) {
            if let wp::Payload::CustomSection(c) = payload.unwrap()
                && let wp::KnownCustom::Name(reader) = c.as_known()
            {
                for sub in reader {
                    if let wp::Name::Function(map) = sub.unwrap() {
                        for n in map {
                            let n = n.unwrap();
                            names.insert(n.index, n.name.to_owned());
                        }
                    }
                }
            }
        }
        assert_eq!(names[&1], "fd_write");
        assert_eq!(names[&2], "exit");
        // The log import is function 3; the defined functions moved up by one.
        assert_eq!(names[&4], "helper");
        assert_eq!(names[&5], "init");
    }

    #[test]
    fn a_module_without_functions_of_its_own_gets_function_and_code_sections() {
        let original = wat::parse_str(
            r#"(module
                 (import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))
                 (export "yield" (func $y)))"#,
        )
        .unwrap();
        let inst = instrument(&original).unwrap();
        wasmparser::Validator::new()
            .validate_all(&inst.bytes)
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, &inst.bytes).unwrap();
        let mut linker: wasmtime::Linker<()> = wasmtime::Linker::new(&engine);
        linker
            .func_wrap(WASI_MODULE_NAME, "sched_yield", || 0i32)
            .unwrap();
        let l = log.clone();
        linker
            .func_wrap(LOG_MODULE, LOG_NAME, move |i: i32, e: i32| {
                l.lock().unwrap().push((i as u32, e));
            })
            .unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let f = instance
            .get_typed_func::<(), i32>(&mut store, "yield")
            .unwrap();
        assert_eq!(f.call(&mut store, ()).unwrap(), 0);
        assert_eq!(*log.lock().unwrap(), [(0, 0)]);
    }

    #[test]
    fn modules_without_wasi_or_that_do_not_parse_are_left_alone() {
        let plain = wat::parse_str(r#"(module (func (export "f")))"#).unwrap();
        let inst = instrument(&plain).unwrap();
        assert_eq!(inst.bytes, plain);
        assert!(inst.wrapped.is_empty());
        let broken = b"\0asm\x01\0\0\0\x01\xff".to_vec();
        assert_eq!(instrument(&broken).unwrap().bytes, broken);
    }
}
