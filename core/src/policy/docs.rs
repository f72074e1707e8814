//! One line per policy key: what it limits and what it protects against, for `cage policy init`
//! and `cage policy explain`.

/// A documented policy key.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct KeyDoc {
    /// `limits`, `features` or `wasi`.
    pub section: &'static str,
    /// The key.
    pub key: &'static str,
    /// What it sets.
    pub meaning: &'static str,
    /// What it protects the host against.
    pub protects: &'static str,
}

const fn doc(
    section: &'static str,
    key: &'static str,
    meaning: &'static str,
    protects: &'static str,
) -> KeyDoc {
    KeyDoc {
        section,
        key,
        meaning,
        protects,
    }
}

/// Every `[limits]` and `[wasi]` key (features are one per proposal, see [`FEATURES`]).
pub const KEYS: &[KeyDoc] = &[
    doc(
        "limits",
        "fuel",
        "instructions per sandbox, in the cost model's units (or \"none\")",
        "a guest that computes forever or bills more CPU than its share",
    ),
    doc(
        "limits",
        "fuel_per_call",
        "every call starts with the whole fuel budget instead of what earlier calls left",
        "a long-lived instance starving after many small calls",
    ),
    doc(
        "limits",
        "timeout",
        "wall-clock deadline for each call into the guest (or \"none\")",
        "a guest (or a blocking host call) holding a thread forever",
    ),
    doc(
        "limits",
        "yield_interval",
        "how long a computing guest holds an executor thread before it yields (async calls, \
         runtimes with native async)",
        "one spinning guest starving the other tasks of a server's executor",
    ),
    doc(
        "limits",
        "max_memory",
        "bytes of each linear memory",
        "a guest exhausting host memory",
    ),
    doc(
        "limits",
        "max_table_elements",
        "elements of each table",
        "a guest exhausting host memory through tables",
    ),
    doc(
        "limits",
        "max_memories",
        "linear memories per module",
        "memory caps multiplied by many memories",
    ),
    doc(
        "limits",
        "max_tables",
        "tables per module",
        "table caps multiplied by many tables",
    ),
    doc(
        "limits",
        "max_instances",
        "live sandboxes per runtime object",
        "one tenant or request flood filling the process",
    ),
    doc(
        "limits",
        "max_stack",
        "native stack the guest may use",
        "deep recursion crashing the host thread",
    ),
    doc(
        "limits",
        "max_module_size",
        "bytes of a module binary",
        "huge inputs exhausting memory before validation",
    ),
    doc(
        "limits",
        "max_output",
        "bytes of captured stdout and stderr",
        "a guest filling host memory with output",
    ),
    doc(
        "limits",
        "trap_on_grow_failure",
        "a failed memory.grow/table.grow traps instead of returning -1",
        "guests that ignore allocation failure and run on corrupted state",
    ),
    doc(
        "limits",
        "max_functions",
        "functions per module",
        "compile bombs (compile time and code size)",
    ),
    doc(
        "limits",
        "max_function_size",
        "bytes of one function body",
        "compile bombs",
    ),
    doc(
        "limits",
        "max_locals",
        "locals of one function",
        "compile bombs and huge stack frames",
    ),
    doc(
        "limits",
        "max_nesting",
        "nesting depth of blocks in one function",
        "compile bombs (validator and compiler recursion)",
    ),
    doc(
        "limits",
        "max_data_segments",
        "data segments per module",
        "instantiation bombs (and a crash of Wasmtime before 48.0.8)",
    ),
    doc(
        "limits",
        "memory_reservation",
        "address space each memory reserves: \"full\" (4 GiB and guards, no bounds checks) or \"max_memory\" (max_memory and a 64 KiB guard, bounds checks)",
        "running out of address space or memory mappings with many live sandboxes",
    ),
    doc(
        "limits",
        "max_open_files",
        "WASI descriptors one sandbox may hold open, stdio and preopens included (EMFILE past it)",
        "a guest taking the process's file descriptors from every other tenant",
    ),
    doc(
        "limits",
        "max_disk_write",
        "bytes a sandbox may add to files under its read-write preopens, sparse growth included (ENOSPC past it)",
        "a guest filling the host's disk",
    ),
    doc(
        "limits",
        "max_files_created",
        "files, directories and links a sandbox may create (EDQUOT past it)",
        "a guest exhausting the host filesystem's inodes",
    ),
    doc(
        "limits",
        "max_io_per_call",
        "bytes one WASI call may take from the guest (paths, iovec tables and buffers, poll subscriptions, random bytes asked for); ENOMEM past it",
        "one call making the host allocate or copy gigabytes before fuel can stop it",
    ),
    doc(
        "wasi",
        "args",
        "argv as the guest sees it",
        "leaking host information through arguments",
    ),
    doc(
        "wasi",
        "env",
        "the guest's environment variables (nothing is inherited)",
        "leaking host secrets through the environment",
    ),
    doc(
        "wasi",
        "stdin",
        "bytes the guest reads on stdin",
        "a guest blocking on the host's terminal",
    ),
    doc(
        "wasi",
        "inherit_stdio",
        "the host's stdio instead of captured, bounded output",
        "unbounded output and reads of the host's terminal",
    ),
    doc(
        "wasi",
        "clock",
        "real clocks, or a deterministic one",
        "timing side channels and non-reproducible runs",
    ),
    doc(
        "wasi",
        "random",
        "the OS generator, or a seeded one",
        "non-reproducible runs",
    ),
    doc(
        "wasi",
        "dirs",
        "host directories the guest may open, each read-only or read-write",
        "reads and writes outside what the guest needs",
    ),
];

/// What enabling a proposal means.
pub const FEATURES: &str = "allow the WebAssembly proposal (validation refuses modules that use a \
                            proposal the policy does not allow)";

/// One line per `[features]` key that applies to core modules: what allowing the proposal
/// admits. The component-model flags (`component_model`, `cm_*`) are absent: Cage runs core
/// modules only, so they change nothing and `cage policy init`/`explain` leave them out.
pub const PROPOSALS: &[(&str, &str)] = &[
    (
        "mutable_global",
        "imported and exported mutable globals (WebAssembly 2.0)",
    ),
    (
        "saturating_float_to_int",
        "float-to-int conversions that saturate instead of trapping (WebAssembly 2.0)",
    ),
    (
        "sign_extension",
        "sign-extension operators such as i32.extend8_s (WebAssembly 2.0)",
    ),
    (
        "reference_types",
        "funcref and externref values, several tables, table.get/set/grow (WebAssembly 2.0)",
    ),
    (
        "multi_value",
        "functions and blocks with several results (WebAssembly 2.0)",
    ),
    (
        "bulk_memory",
        "memory.copy/fill/init, table.copy/init and passive segments (WebAssembly 2.0)",
    ),
    ("simd", "128-bit SIMD, the v128 type (WebAssembly 2.0)"),
    (
        "relaxed_simd",
        "relaxed SIMD: faster SIMD whose results may depend on the machine, run in its \
         deterministic mode (WebAssembly 3.0; needs simd)",
    ),
    (
        "threads",
        "shared memories and atomics (shared memories escape per-sandbox memory accounting)",
    ),
    (
        "shared_everything_threads",
        "shared tables, globals and functions (no runtime here runs it; needs threads)",
    ),
    ("tail_call", "return_call instructions (WebAssembly 3.0)"),
    (
        "floats",
        "floating-point types and instructions (part of the MVP: false forbids every float)",
    ),
    (
        "multi_memory",
        "several memories in one module (WebAssembly 3.0)",
    ),
    (
        "exceptions",
        "exception handling: try_table, throw, exnref (WebAssembly 3.0; needs reference_types)",
    ),
    ("memory64", "64-bit memories and tables (WebAssembly 3.0)"),
    (
        "extended_const",
        "more instructions in constant expressions (WebAssembly 3.0)",
    ),
    (
        "function_references",
        "typed function references and call_ref (WebAssembly 3.0; needs reference_types)",
    ),
    (
        "memory_control",
        "memory.discard and other memory-control instructions (no runtime here runs it)",
    ),
    (
        "gc",
        "garbage-collected structs and arrays (WebAssembly 3.0; needs function_references)",
    ),
    ("custom_page_sizes", "memories with a page size of 1 byte"),
    (
        "legacy_exceptions",
        "the older exception-handling encoding, try/catch/delegate (no runtime here runs it)",
    ),
    (
        "gc_types",
        "reference types beyond funcref and externref in signatures, the type system gc and \
         exceptions build on",
    ),
    (
        "stack_switching",
        "typed continuations (no runtime here runs it; needs function_references)",
    ),
    (
        "wide_arithmetic",
        "128-bit add, subtract and multiply instructions",
    ),
    (
        "call_indirect_overlong",
        "call_indirect's table index encoded as a full LEB128 (comes with reference_types)",
    ),
    (
        "bulk_memory_opt",
        "memory.copy and memory.fill on their own (comes with bulk_memory)",
    ),
    (
        "custom_descriptors",
        "custom descriptors for GC structs (no runtime here runs it)",
    ),
    (
        "compact_imports",
        "a compact encoding of the import section (no runtime here runs it)",
    ),
];

/// What allowing `proposal` admits, or `None` for a component-model flag, which does not
/// apply to the core modules Cage runs.
pub fn proposal_doc(proposal: super::Proposal) -> Option<&'static str> {
    PROPOSALS
        .iter()
        .find(|(name, _)| *name == proposal.name())
        .map(|(_, doc)| *doc)
}

/// The documentation of `section.key`, if it is a known key.
pub fn key_doc(section: &str, key: &str) -> Option<&'static KeyDoc> {
    KEYS.iter().find(|d| d.section == section && d.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Preset, Proposal};

    #[test]
    fn every_core_proposal_has_one_description_and_component_flags_none() {
        for p in Proposal::ALL {
            let component = p.name() == "component_model" || p.name().starts_with("cm");
            assert_eq!(proposal_doc(*p).is_none(), component, "{p}");
            if component {
                // Leaving them out of a policy file changes nothing: no preset allows them.
                for preset in Preset::ALL {
                    assert!(!preset.policy().features.contains(*p), "{preset:?} {p}");
                }
            }
        }
        let mut docs: Vec<&str> = PROPOSALS.iter().map(|(_, d)| *d).collect();
        docs.sort_unstable();
        docs.dedup();
        assert_eq!(docs.len(), PROPOSALS.len(), "one description per key");
    }
}
