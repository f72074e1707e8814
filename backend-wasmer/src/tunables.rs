//! Cage's `Tunables`: caps every linear memory at `limits.max_memory` and every table at
//! `limits.max_table_elements` (also tables with no declared maximum, which Wasmer would let grow
//! without bound), for memories and tables created by the host and by the VM alike. Growth past a
//! cap fails, and the guest sees -1. `vmconfig()` is forwarded so the stack size survives.
//!
//! This is the one module of the Wasmer backend with `unsafe`: `Tunables::create_vm_memory`
//! and `create_vm_table` are `unsafe fn`s in Wasmer's API. The crate denies `unsafe_code`; this
//! module alone allows it, and every block carries a `// SAFETY:` comment.

#![allow(unsafe_code)]

use std::ptr::NonNull;

use wasmer::sys::vm::{
    MemoryError, MemoryStyle, TableStyle, VMConfig, VMMemory, VMMemoryDefinition, VMTable,
    VMTableDefinition,
};
use wasmer::sys::{BaseTunables, Tunables};
use wasmer::{MemoryType, Pages, TableType};

/// Caps on memories and tables around Wasmer's base tunables.
pub(crate) struct CageTunables {
    base: BaseTunables,
    vmconfig: VMConfig,
    /// Largest memory, in pages.
    max_pages: u32,
    /// Largest table, in elements.
    max_elements: u32,
}

impl CageTunables {
    pub(crate) fn new(
        base: BaseTunables,
        stack_bytes: usize,
        max_memory_bytes: u64,
        max_elements: u64,
    ) -> Self {
        CageTunables {
            base,
            vmconfig: VMConfig {
                wasm_stack_size: Some(stack_bytes),
            },
            max_pages: u32::try_from(max_memory_bytes / 65536)
                .unwrap_or(u32::MAX)
                .min(65536),
            max_elements: u32::try_from(max_elements).unwrap_or(u32::MAX),
        }
    }

    /// The memory type with its maximum lowered to the cap; an initial size above the cap is an
    /// error (core rejects such modules before compiling; this is the second line).
    fn cap_memory(&self, ty: &MemoryType) -> Result<MemoryType, MemoryError> {
        let cap = Pages(self.max_pages);
        if ty.minimum > cap {
            return Err(MemoryError::Generic(format!(
                "initial memory of {} pages exceeds limits.max_memory ({} pages)",
                ty.minimum.0, cap.0
            )));
        }
        let maximum = Some(ty.maximum.map_or(cap, |m| m.min(cap)));
        Ok(MemoryType { maximum, ..*ty })
    }

    fn cap_table(&self, ty: &TableType) -> Result<TableType, String> {
        if ty.minimum > self.max_elements {
            return Err(format!(
                "initial table of {} elements exceeds limits.max_table_elements ({})",
                ty.minimum, self.max_elements
            ));
        }
        let maximum = Some(
            ty.maximum
                .map_or(self.max_elements, |m| m.min(self.max_elements)),
        );
        Ok(TableType { maximum, ..*ty })
    }
}

impl Tunables for CageTunables {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        self.base.memory_style(memory)
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }

    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        self.base.create_host_memory(&self.cap_memory(ty)?, style)
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        let ty = self.cap_memory(ty)?;
        // SAFETY: the caller guarantees `vm_definition_location` points to a valid, owned
        // `VMMemoryDefinition` (this method's contract); it is passed on unchanged, and the capped
        // type differs only in a lower maximum, which the style computed for the original type
        // still covers.
        unsafe {
            self.base
                .create_vm_memory(&ty, style, vm_definition_location)
        }
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        self.base.create_host_table(&self.cap_table(ty)?, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        let ty = self.cap_table(ty)?;
        // SAFETY: as for memories: the location comes from the caller under this method's
        // contract and is passed on unchanged; only the maximum is lowered.
        unsafe {
            self.base
                .create_vm_table(&ty, style, vm_definition_location)
        }
    }

    fn vmconfig(&self) -> &VMConfig {
        &self.vmconfig
    }
}
