//! Cage's `ResourceLimiter`: per-memory and per-table caps, grow failures that trap on request,
//! counts of memories and tables, and the peak linear-memory size.

use cage_core::Limits;

/// The error a failed grow raises with `trap_on_grow_failure`; classified `resource_limit`.
#[derive(Debug, thiserror::Error)]
#[error("{0} (limits.trap_on_grow_failure)")]
pub(crate) struct GrowFailure(pub String);

pub(crate) struct Limiter {
    max_memory: usize,
    max_table_elements: usize,
    max_memories: usize,
    max_tables: usize,
    trap_on_grow_failure: bool,
    /// Total bytes of all linear memories now.
    pub(crate) memory_bytes: u64,
    /// Largest `memory_bytes` seen.
    pub(crate) peak_memory_bytes: u64,
    /// Largest size one table was allowed to reach (tables never shrink).
    pub(crate) peak_table_elements: u64,
}

impl Limiter {
    pub(crate) fn new(l: &Limits) -> Self {
        Limiter {
            max_memory: usize::try_from(l.max_memory.bytes()).unwrap_or(usize::MAX),
            max_table_elements: usize::try_from(l.max_table_elements).unwrap_or(usize::MAX),
            max_memories: l.max_memories as usize,
            max_tables: l.max_tables as usize,
            trap_on_grow_failure: l.trap_on_grow_failure,
            memory_bytes: 0,
            peak_memory_bytes: 0,
            peak_table_elements: 0,
        }
    }

    /// Forgets what an instantiation that failed before it was complete recorded (see
    /// `WasmtimeStore::renew`).
    pub(crate) fn reset(&mut self) {
        self.memory_bytes = 0;
        self.peak_memory_bytes = 0;
        self.peak_table_elements = 0;
    }

    fn refuse(&self, what: String) -> wasmtime::Result<bool> {
        if self.trap_on_grow_failure {
            Err(wasmtime::Error::new(GrowFailure(what)))
        } else {
            Ok(false)
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            return self.refuse(format!(
                "memory.grow to {desired} bytes exceeds limits.max_memory = {}",
                self.max_memory
            ));
        }
        if let Some(max) = maximum
            && desired > max
        {
            return self.refuse(format!(
                "memory.grow to {desired} bytes exceeds the memory's maximum {max}"
            ));
        }
        self.memory_bytes = self
            .memory_bytes
            .saturating_add((desired - current.min(desired)) as u64);
        self.peak_memory_bytes = self.peak_memory_bytes.max(self.memory_bytes);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        if self.trap_on_grow_failure {
            return Err(wasmtime::Error::new(GrowFailure(format!(
                "memory.grow failed: {error}"
            ))));
        }
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_table_elements {
            return self.refuse(format!(
                "table.grow to {desired} elements exceeds limits.max_table_elements = {}",
                self.max_table_elements
            ));
        }
        if let Some(max) = maximum
            && desired > max
        {
            return self.refuse(format!(
                "table.grow to {desired} elements exceeds the table's maximum {max}"
            ));
        }
        self.peak_table_elements = self.peak_table_elements.max(desired as u64);
        Ok(true)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        if self.trap_on_grow_failure {
            return Err(wasmtime::Error::new(GrowFailure(format!(
                "table.grow failed: {error}"
            ))));
        }
        Ok(())
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        self.max_tables
    }

    fn memories(&self) -> usize {
        self.max_memories
    }
}
