//! One pass over a module: validation with exactly the policy's proposals, static limits,
//! compile-bomb guards, and the facts for [`ModuleInfo`].

use bitflags::Flags;

use wasmparser::{
    BinaryReaderError, CompositeInnerType, Encoding, ExternalKind, FuncValidatorAllocations,
    OperatorsReader, Parser, Payload, TypeRef, ValidPayload, Validator, WasmFeatures,
};

use super::info::{Export, ExternType, FuncType, Import, MemoryInfo, ModuleInfo, TableInfo};
use super::{CheckedModule, module_hash};
use crate::error::Error;
use crate::outcome::Rejection;
use crate::policy::{Features, Limits, Policy, Proposal};
use crate::value::ValType;

/// Most targets one `br_table` may have. Wasmtime 48.0.7 and later refuse more; Cranelift before
/// that miscompiled huge jump tables on aarch64 (GHSA-mghf-wjfp-p5xm), and Wasmer's Cranelift
/// still carries that code, so core refuses them for every runtime.
pub const MAX_BR_TABLE_TARGETS: usize = 65_520;

/// Module size above which [`check`] does not search for the minimal set of missing proposals
/// (each try is a full validation); the rejection then carries the validator's own message.
const FEATURE_SEARCH_MAX_SIZE: usize = 1 << 20;

enum Scan {
    Invalid(BinaryReaderError),
    NotAModule,
    Limit(String),
}

impl From<BinaryReaderError> for Scan {
    fn from(e: BinaryReaderError) -> Self {
        Scan::Invalid(e)
    }
}

/// Validates `bytes` under `policy` and applies every static limit.
///
/// # Errors
/// `rejected: limit_exceeded` (naming the limit), `rejected: feature_disabled` (naming the
/// proposals), or `rejected: invalid_module` (with the validator's message). A `tracing` warning
/// with the module's hash is emitted for every limit violation.
pub fn check(bytes: &[u8], policy: &Policy) -> Result<CheckedModule, Error> {
    check_scan(bytes, policy, None, Bodies::Validate)
}

/// Whether [`scan`] validates function bodies.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bodies {
    /// Every body, with the policy's per-function limits: the check.
    Validate,
    /// None: for a module whose bytes (by SHA-256) an authenticated cache entry proves passed
    /// [`check`] under the same policy. Module-level validation still runs and collects the
    /// same [`ModuleInfo`].
    Proven,
}

/// [`check`] with the module's hash already computed, and optionally body validation skipped
/// (see [`Bodies::Proven`]).
pub(crate) fn check_scan(
    bytes: &[u8],
    policy: &Policy,
    sha256: Option<String>,
    bodies: Bodies,
) -> Result<CheckedModule, Error> {
    let limits = &policy.limits;
    let limit = |msg: String| {
        tracing::warn!(module = %module_hash(bytes), violation = %msg, "static limit exceeded");
        Error::reject(Rejection::LimitExceeded, msg)
    };
    let max_size = limits.max_module_size.bytes();
    if bytes.len() as u64 > max_size {
        return Err(limit(format!(
            "module is {} bytes, more than limits.max_module_size = {max_size}",
            bytes.len()
        )));
    }
    let features = policy.features.to_wasmparser();
    match scan_bodies(bytes, features, Some(limits), bodies) {
        Ok(mut info) => {
            info.sha256 = sha256.unwrap_or_else(|| module_hash(bytes));
            info.size = bytes.len() as u64;
            Ok(CheckedModule::new(bytes, info))
        }
        Err(Scan::Limit(msg)) => Err(limit(msg)),
        Err(Scan::NotAModule) => Err(not_a_module()),
        Err(Scan::Invalid(e)) => Err(classify(bytes, &policy.features, &e)),
    }
}

fn not_a_module() -> Error {
    Error::reject(
        Rejection::InvalidModule,
        "this is a WebAssembly component; Cage runs core modules only",
    )
}

/// Tells a module that needs a disabled proposal from one that is invalid under any proposal.
fn classify(bytes: &[u8], allowed: &Features, err: &BinaryReaderError) -> Error {
    let all = WasmFeatures::all();
    match scan(bytes, all, None) {
        Ok(_) => {
            let needed = if bytes.len() <= FEATURE_SEARCH_MAX_SIZE {
                minimal_features(bytes, allowed.to_wasmparser(), all)
            } else {
                Vec::new()
            };
            let what = if needed.is_empty() {
                "a proposal the policy disables".to_owned()
            } else {
                let keys: Vec<String> = needed.iter().map(|n| format!("features.{n}")).collect();
                let names: Vec<&str> = needed.iter().map(|p| p.name()).collect();
                format!("{} (disabled: {})", names.join(", "), keys.join(", "))
            };
            Error::reject(
                Rejection::FeatureDisabled,
                format!("module needs {what}: {err}"),
            )
        }
        Err(Scan::NotAModule) => not_a_module(),
        Err(_) => Error::reject(Rejection::InvalidModule, err.to_string()),
    }
}

/// The proposals outside `base` that the module cannot validate without, smallest set first
/// found by removing one candidate at a time from `all`.
fn minimal_features(bytes: &[u8], base: WasmFeatures, all: WasmFeatures) -> Vec<Proposal> {
    let mut set = all;
    for flag in WasmFeatures::FLAGS {
        let f = *flag.value();
        if base.contains(f) || !set.contains(f) {
            continue;
        }
        let without = set.difference(f).union(base);
        if scan(bytes, without, None).is_ok() {
            set = without;
        }
    }
    Features::from_wasmparser(set).missing_from(&Features::from_wasmparser(base))
}

/// Describes a module without judging it: every proposal allowed, no limits. For `inspect`,
/// which shows what a rejected module declares.
///
/// # Errors
/// `rejected: invalid_module` when the module is invalid under every proposal.
pub fn describe(bytes: &[u8]) -> Result<ModuleInfo, Error> {
    match scan(bytes, WasmFeatures::all(), None) {
        Ok(mut info) => {
            info.sha256 = module_hash(bytes);
            info.size = bytes.len() as u64;
            Ok(info)
        }
        Err(Scan::NotAModule) => Err(not_a_module()),
        Err(Scan::Invalid(e)) => Err(Error::reject(Rejection::InvalidModule, e.to_string())),
        Err(Scan::Limit(m)) => Err(Error::reject(Rejection::LimitExceeded, m)),
    }
}

/// The module's imports, exports, memories and tables, read without validating function
/// bodies: fast, for planning a call (parsing arguments by an export's signature). Not a
/// verdict: [`check`] is.
///
/// # Errors
/// Not a module, or invalid outside its function bodies.
pub fn outline(bytes: &[u8]) -> Result<ModuleInfo, Error> {
    match scan_bodies(bytes, WasmFeatures::all(), None, Bodies::Proven) {
        Ok(mut info) => {
            info.sha256 = module_hash(bytes);
            info.size = bytes.len() as u64;
            Ok(info)
        }
        Err(Scan::NotAModule) => Err(not_a_module()),
        Err(Scan::Invalid(e)) => Err(Error::reject(Rejection::InvalidModule, e.to_string())),
        Err(Scan::Limit(m)) => Err(Error::reject(Rejection::LimitExceeded, m)),
    }
}

/// Checks that `runtime` can run every proposal `module` uses among those `policy` allows.
///
/// # Errors
/// `rejected: unsupported` naming the runtime and the proposals it lacks.
pub fn require_supported(
    module: &CheckedModule,
    policy: &Policy,
    caps: &crate::records::Capabilities,
    runtime: &str,
) -> Result<(), Error> {
    if !caps.multi_result_imports
        && let Some(i) = module.info().imports.iter().find(
            |i| matches!(&i.ty, crate::module::ExternType::Func { ty } if ty.results.len() > 1),
        )
    {
        return Err(Error::reject(
            Rejection::Unsupported,
            format!(
                "{runtime} cannot run multi_value imports (functions with more than one \
                 result), which this module uses: `{}.{}`",
                i.module, i.name
            ),
        ));
    }
    if !caps.other_table_elements && module.info().other_element_segments {
        return Err(Error::reject(
            Rejection::Unsupported,
            format!(
                "{runtime} cannot make element segments of other references than funcref and \
                 externref, which this module uses"
            ),
        ));
    }
    if !caps.other_table_elements
        && let Some(t) = module.info().tables.iter().find(|t| !t.plain_elements)
    {
        return Err(Error::reject(
            Rejection::Unsupported,
            format!(
                "{runtime} cannot make tables of {} (only funcref and externref), which this \
                 module uses",
                t.element
            ),
        ));
    }
    let allowed = policy.features.to_wasmparser();
    let usable = allowed.intersection(caps.features.to_wasmparser());
    if usable == allowed || scan(module.bytes(), usable, None).is_ok() {
        return Ok(());
    }
    let missing = minimal_features(module.bytes(), usable, allowed);
    let what = if missing.is_empty() {
        "a proposal the policy allows".to_owned()
    } else {
        missing
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(Error::reject(
        Rejection::Unsupported,
        format!("{runtime} cannot run {what}, which this module uses"),
    ))
}

/// The proposals the module uses, found by removing allowed proposals one at a time while it
/// still validates. `None` when the module is too large to search or is not valid at all.
pub fn features_used(bytes: &[u8], allowed: &Features) -> Option<Vec<Proposal>> {
    if bytes.len() > FEATURE_SEARCH_MAX_SIZE * 4 {
        return None;
    }
    let base = WasmFeatures::MVP;
    let start = allowed.to_wasmparser().union(base);
    scan(bytes, start, None).ok()?;
    let mut set = start;
    for flag in WasmFeatures::FLAGS {
        let f = *flag.value();
        if base.contains(f) || !set.contains(f) {
            continue;
        }
        let without = set.difference(f);
        if scan(bytes, without, None).is_ok() {
            set = without;
        }
    }
    let mut used = Features::from_wasmparser(set).missing_from(&Features::from_wasmparser(base));
    // Flags that are implied by another flag's bits are reported under the proposal's name.
    used.retain(|p| *p != Proposal::CallIndirectOverlong && *p != Proposal::BulkMemoryOpt);
    Some(used)
}

fn memory_info(ty: &wasmparser::MemoryType, imported: bool) -> MemoryInfo {
    let page_size = 1u64 << ty.page_size_log2.unwrap_or(16).min(63);
    MemoryInfo {
        imported,
        initial_bytes: ty.initial.saturating_mul(page_size),
        maximum_bytes: ty.maximum.map(|m| m.saturating_mul(page_size)),
        page_size,
        memory64: ty.memory64,
        shared: ty.shared,
    }
}

fn table_info(ty: &wasmparser::TableType, imported: bool) -> TableInfo {
    TableInfo {
        imported,
        element: ty.element_type.to_string(),
        initial: ty.initial,
        maximum: ty.maximum,
        plain_elements: matches!(
            ty.element_type.heap_type(),
            wasmparser::HeapType::Abstract {
                shared: false,
                ty: wasmparser::AbstractHeapType::Func | wasmparser::AbstractHeapType::Extern,
            }
        ),
    }
}

struct State<'l> {
    limits: Option<&'l Limits>,
    info: ModuleInfo,
    /// Function signature per type index (`None` for struct, array and continuation types).
    types: Vec<Option<FuncType>>,
    /// Type index per function index.
    funcs: Vec<u32>,
    globals: Vec<wasmparser::GlobalType>,
    data_segments: u64,
}

impl State<'_> {
    fn func_type(&self, type_index: u32) -> FuncType {
        self.types
            .get(type_index as usize)
            .cloned()
            .flatten()
            .unwrap_or_default()
    }

    fn add_memory(&mut self, m: MemoryInfo) -> Result<(), Scan> {
        if let Some(l) = self.limits {
            let n = self.info.memories.len() + 1;
            if n > l.max_memories as usize {
                return Err(Scan::Limit(format!(
                    "module has more than limits.max_memories = {} memories",
                    l.max_memories
                )));
            }
            if m.initial_bytes > l.max_memory.bytes() {
                return Err(Scan::Limit(format!(
                    "memory {} has an initial size of {} bytes, more than limits.max_memory = {}",
                    n - 1,
                    m.initial_bytes,
                    l.max_memory.bytes()
                )));
            }
        }
        self.info.memories.push(m);
        Ok(())
    }

    fn add_table(&mut self, t: TableInfo) -> Result<(), Scan> {
        if let Some(l) = self.limits {
            let n = self.info.tables.len() + 1;
            if n > l.max_tables as usize {
                return Err(Scan::Limit(format!(
                    "module has more than limits.max_tables = {} tables",
                    l.max_tables
                )));
            }
            if t.initial > l.max_table_elements {
                return Err(Scan::Limit(format!(
                    "table {} has {} initial elements, more than limits.max_table_elements = {}",
                    n - 1,
                    t.initial,
                    l.max_table_elements
                )));
            }
        }
        self.info.tables.push(t);
        Ok(())
    }

    fn add_function(&mut self, type_index: u32) -> Result<(), Scan> {
        self.funcs.push(type_index);
        self.info.functions = self.info.functions.saturating_add(1);
        match self.limits {
            Some(l) if self.info.functions > l.max_functions => Err(Scan::Limit(format!(
                "module has more than limits.max_functions = {} functions",
                l.max_functions
            ))),
            _ => Ok(()),
        }
    }

    fn payload(&mut self, payload: &Payload<'_>) -> Result<(), Scan> {
        match payload {
            Payload::Version {
                encoding: Encoding::Component,
                ..
            } => return Err(Scan::NotAModule),
            Payload::TypeSection(r) => {
                // Which types are function types, first: a signature may refer to any type
                // (a typed function reference), also one defined later in its rec group.
                let mut is_func = Vec::new();
                let mut starts = Vec::new();
                for group in r.clone() {
                    starts.push(is_func.len());
                    for sub in group?.into_types() {
                        is_func.push(matches!(
                            sub.composite_type.inner,
                            CompositeInnerType::Func(_)
                        ));
                    }
                }
                for (g, group) in r.clone().into_iter().enumerate() {
                    let start = starts.get(g).copied().unwrap_or(0);
                    let resolve = |i: wasmparser::UnpackedIndex| {
                        let at = match i {
                            wasmparser::UnpackedIndex::Module(m) => m as usize,
                            wasmparser::UnpackedIndex::RecGroup(r) => start + r as usize,
                            wasmparser::UnpackedIndex::Id(_) => return false,
                        };
                        is_func.get(at).copied().unwrap_or(false)
                    };
                    let val_types = |v: &[wasmparser::ValType]| -> Vec<ValType> {
                        v.iter()
                            .map(|t| ValType::from_wasmparser_in(*t, &resolve))
                            .collect()
                    };
                    for sub in group?.into_types() {
                        self.types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => {
                                Some(FuncType::new(val_types(f.params()), val_types(f.results())))
                            }
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(r) => {
                for imp in r.clone().into_imports() {
                    let imp = imp?;
                    let ty = match imp.ty {
                        TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                            self.add_function(t)?;
                            ExternType::Func {
                                ty: self.func_type(t),
                            }
                        }
                        TypeRef::Memory(m) => {
                            let memory = memory_info(&m, true);
                            self.add_memory(memory.clone())?;
                            ExternType::Memory { memory }
                        }
                        TypeRef::Table(t) => {
                            let table = table_info(&t, true);
                            self.add_table(table.clone())?;
                            ExternType::Table { table }
                        }
                        TypeRef::Global(g) => {
                            self.globals.push(g);
                            ExternType::Global {
                                ty: g.content_type.to_string(),
                                mutable: g.mutable,
                            }
                        }
                        TypeRef::Tag(_) => ExternType::Tag,
                    };
                    self.info.imports.push(Import {
                        module: imp.module.to_owned(),
                        name: imp.name.to_owned(),
                        ty,
                    });
                }
            }
            Payload::FunctionSection(r) => {
                for t in r.clone() {
                    self.add_function(t?)?;
                }
            }
            Payload::TableSection(r) => {
                for t in r.clone() {
                    self.add_table(table_info(&t?.ty, false))?;
                }
            }
            Payload::MemorySection(r) => {
                for m in r.clone() {
                    self.add_memory(memory_info(&m?, false))?;
                }
            }
            Payload::GlobalSection(r) => {
                for g in r.clone() {
                    self.globals.push(g?.ty);
                }
            }
            Payload::ExportSection(r) => {
                for e in r.clone() {
                    let e = e?;
                    let i = e.index as usize;
                    let ty = match e.kind {
                        ExternalKind::Func | ExternalKind::FuncExact => {
                            let t = self.funcs.get(i).copied().unwrap_or(u32::MAX);
                            ExternType::Func {
                                ty: self.func_type(t),
                            }
                        }
                        ExternalKind::Memory => match self.info.memories.get(i) {
                            Some(m) => ExternType::Memory { memory: m.clone() },
                            None => continue,
                        },
                        ExternalKind::Table => match self.info.tables.get(i) {
                            Some(t) => ExternType::Table { table: t.clone() },
                            None => continue,
                        },
                        ExternalKind::Global => match self.globals.get(i) {
                            Some(g) => ExternType::Global {
                                ty: g.content_type.to_string(),
                                mutable: g.mutable,
                            },
                            None => continue,
                        },
                        ExternalKind::Tag => ExternType::Tag,
                    };
                    self.info.exports.push(Export {
                        name: e.name.to_owned(),
                        ty,
                    });
                }
            }
            Payload::StartSection { .. } => self.info.has_start = true,
            Payload::ElementSection(r) => {
                for e in r.clone() {
                    if let wasmparser::ElementItems::Expressions(ty, _) = e?.items
                        && !matches!(
                            ty.heap_type(),
                            wasmparser::HeapType::Abstract {
                                shared: false,
                                ty: wasmparser::AbstractHeapType::Func
                                    | wasmparser::AbstractHeapType::Extern,
                            }
                        )
                    {
                        self.info.other_element_segments = true;
                    }
                }
            }
            Payload::DataSection(r) => {
                self.data_segments += u64::from(r.count());
                if let Some(l) = self.limits
                    && self.data_segments > u64::from(l.max_data_segments)
                {
                    return Err(Scan::Limit(format!(
                        "module has {} data segments, more than limits.max_data_segments = {}",
                        self.data_segments, l.max_data_segments
                    )));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Validates with `features`; with `limits`, also enforces them. Collects [`ModuleInfo`].
fn scan(bytes: &[u8], features: WasmFeatures, limits: Option<&Limits>) -> Result<ModuleInfo, Scan> {
    scan_bodies(bytes, features, limits, Bodies::Validate)
}

/// [`scan`], with function bodies validated or not.
fn scan_bodies(
    bytes: &[u8],
    features: WasmFeatures,
    limits: Option<&Limits>,
    bodies: Bodies,
) -> Result<ModuleInfo, Scan> {
    let mut validator = Validator::new_with_features(features);
    let mut st = State {
        limits,
        info: ModuleInfo::default(),
        types: Vec::new(),
        funcs: Vec::new(),
        globals: Vec::new(),
        data_segments: 0,
    };
    let mut allocs = FuncValidatorAllocations::default();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload?;
        let valid = validator.payload(&payload)?;
        st.payload(&payload)?;
        if let ValidPayload::Func(to_validate, body) = valid
            && bodies == Bodies::Validate
        {
            let mut func = to_validate.into_validator(std::mem::take(&mut allocs));
            if let Some(l) = limits {
                let size = body.range().len() as u64;
                if size > l.max_function_size.bytes() {
                    return Err(Scan::Limit(format!(
                        "function {} body is {size} bytes, more than limits.max_function_size = {}",
                        func.index(),
                        l.max_function_size.bytes()
                    )));
                }
            }
            let mut reader = body.get_binary_reader();
            func.read_locals(&mut reader)?;
            if let Some(l) = limits
                && func.len_locals() > l.max_locals
            {
                return Err(Scan::Limit(format!(
                    "function {} has {} locals, more than limits.max_locals = {}",
                    func.index(),
                    func.len_locals(),
                    l.max_locals
                )));
            }
            reader.set_features(features);
            let mut ops = OperatorsReader::new(reader);
            while !ops.eof() {
                let (op, offset) = ops.read_with_offset()?;
                if let wasmparser::Operator::BrTable { targets } = &op
                    && targets.len() as usize > MAX_BR_TABLE_TARGETS
                {
                    return Err(Scan::Limit(format!(
                        "function {} has a br_table with {} targets, more than the {MAX_BR_TABLE_TARGETS} Cage allows",
                        func.index(),
                        targets.len()
                    )));
                }
                func.op(offset, &op)?;
                if let Some(l) = limits
                    && func.control_stack_height() > l.max_nesting
                {
                    return Err(Scan::Limit(format!(
                        "function {} nests blocks deeper than limits.max_nesting = {}",
                        func.index(),
                        l.max_nesting
                    )));
                }
            }
            ops.finish()?;
            allocs = func.into_allocations();
        }
    }
    Ok(st.info)
}
