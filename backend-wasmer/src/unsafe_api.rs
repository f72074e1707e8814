//! The one module of the Wasmer backend with `unsafe`: Cage's `Tunables` and loading cached code.
//!
//! Cage's `Tunables`: caps every linear memory at `limits.max_memory` and every table at
//! `limits.max_table_elements` (also tables with no declared maximum, which Wasmer would let grow
//! without bound), for memories and tables created by the host and by the VM alike. Growth past a
//! cap fails, and the guest sees -1. `vmconfig()` is forwarded so the stack size survives.
//!
//! The same `Tunables` keep a pool of memories per engine ([`MemoryPool`]): instance-per-request
//! reuses a zeroed mapping instead of mapping and unmapping one per instance. The pooled memory
//! is a `LinearMemory` of Cage's that writes its definition where Wasmer's own static memory
//! would, and behaves as it does.
//!
//! `Tunables::create_vm_memory` and `create_vm_table` are `unsafe fn`s in Wasmer's API, and so is
//! `Module::deserialize`; a custom memory's definition pointer is written through `unsafe` and
//! it must be declared `Send + Sync`. The crate denies `unsafe_code`; this module alone allows
//! it, and every block carries a `// SAFETY:` comment.

#![allow(unsafe_code)]

use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use wasmer::sys::vm::{
    MemoryError, MemoryStyle, TableStyle, VMConfig, VMMemory, VMMemoryDefinition, VMTable,
    VMTableDefinition,
};
use wasmer::sys::{BaseTunables, Tunables};
use wasmer::{MemoryType, Pages, TableType};
use wasmer_vm::{LinearMemory, Mmap, MmapType};

/// Caps on memories and tables around Wasmer's base tunables.
pub(crate) struct CageTunables {
    base: BaseTunables,
    vmconfig: VMConfig,
    /// Largest memory, in pages.
    max_pages: u32,
    /// Largest table, in elements.
    max_elements: u32,
    /// `Some` with `limits.memory_reservation = "max_memory"`: the style of every memory.
    right_sized: Option<MemoryStyle>,
    /// Memories of this engine's instances, kept for the next instance (see [`MemoryPool`]).
    pool: Arc<MemoryPool>,
}

/// Memories reused across instances of one engine (one module): a new instance takes an idle
/// mapping instead of mapping one, and a dropped instance gives its mapping back instead of
/// unmapping it. Mapping and unmapping per instance made instance-per-request slower on two
/// threads than on one (each `munmap` interrupts every core running the process to flush its
/// TLB); a reused mapping costs no system call.
///
/// Only what cannot leak is kept: unshared memories (static, or dynamic as Singlepass gets with
/// `memory_reservation = "max_memory"`) no larger than [`POOL_MAX_INITIAL`] at start that never
/// grew (a grown one would need its pages made inaccessible again: a system call and a TLB
/// flush, so it is unmapped as before). A kept
/// memory is zeroed, every byte the guest could reach, before it is kept; the next instance
/// then writes its data segments as into a fresh mapping.
///
/// Idle memories are charged to the process budget while they are idle (their address space
/// and two mappings each): a memory the budget has no room for is unmapped instead of kept. (A
/// sandbox is charged its memory when it is made, whether it then reuses an idle one or maps a
/// new one; so near the edge of the budget an idle memory counts twice for a moment.) They are
/// also bounded: at most [`IDLE_PER_ENGINE`] per engine and [`IDLE_PER_PROCESS`] in the whole
/// process.
pub(crate) struct MemoryPool {
    idle: Mutex<Vec<Idle>>,
}

/// Idle memories one engine keeps.
pub(crate) const IDLE_PER_ENGINE: usize = 4;
/// Idle memories the whole process keeps.
pub(crate) const IDLE_PER_PROCESS: usize = 64;
/// Idle memories kept now, over every engine.
static IDLE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Largest initial memory the pool keeps (zeroing it on return costs a `memset` of that size).
pub(crate) const POOL_MAX_INITIAL: usize = 2 << 20;

struct Idle {
    /// `Some` until taken.
    mmap: Option<Mmap>,
    /// Accessible bytes: the memory's initial size.
    initial: usize,
    /// Its share of the process budget while idle.
    _budget: cage_core::budget::Reservation,
}

impl Drop for Idle {
    fn drop(&mut self) {
        IDLE.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl MemoryPool {
    pub(crate) fn new() -> Self {
        MemoryPool {
            idle: Mutex::new(Vec::new()),
        }
    }

    /// An idle mapping of `reserved` bytes with `initial` accessible, zeroed.
    fn take(&self, reserved: usize, initial: usize) -> Option<Mmap> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let at = idle.iter().position(|m| {
            m.initial == initial && m.mmap.as_ref().is_some_and(|m| m.len() == reserved)
        })?;
        idle.swap_remove(at).mmap.take()
    }

    /// Keeps `mmap` (zeroed by the caller) if there is room in this pool and in the process.
    fn put(&self, mmap: Mmap, initial: usize) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() >= IDLE_PER_ENGINE {
            return;
        }
        let Ok(budget) =
            cage_core::budget::reserve(cage_core::budget::Cost::reservation(mmap.len() as u64, 2))
        else {
            // No room in the process budget: unmapped (dropped) rather than kept.
            return;
        };
        let kept = IDLE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let entry = Idle {
            mmap: Some(mmap),
            initial,
            _budget: budget,
        };
        if kept < IDLE_PER_PROCESS {
            idle.push(entry);
        }
        // Else `entry` is dropped here: unmapped, and the count goes back down.
    }
}

/// A linear memory whose mapping comes from (and returns to) a [`MemoryPool`]; otherwise what
/// Wasmer's own static memory does.
struct PooledMemory {
    /// `Some` until dropped.
    mmap: Option<Mmap>,
    /// Accessible bytes, the memory's size.
    size: usize,
    /// The size at instantiation.
    initial: usize,
    ty: MemoryType,
    style: MemoryStyle,
    /// The definition compiled code reads (in the instance's `VMContext`).
    def: NonNull<VMMemoryDefinition>,
    pool: Arc<MemoryPool>,
}

impl std::fmt::Debug for PooledMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledMemory")
            .field("size", &self.size)
            .field("ty", &self.ty)
            .finish_non_exhaustive()
    }
}

// SAFETY: the only non-`Send`/`Sync` field is `def`, a pointer into the `VMContext` of the
// instance that owns this memory; Wasmer's own `VMOwnedMemory` holds the same pointer and is
// `Send + Sync` for the same reason: the memory is used only under the store that owns both.
unsafe impl Send for PooledMemory {}
// SAFETY: as for `Send`; `&self` methods only read `def`'s address and this memory's fields.
unsafe impl Sync for PooledMemory {}

impl LinearMemory for PooledMemory {
    fn ty(&self) -> MemoryType {
        MemoryType {
            minimum: self.size(),
            ..self.ty
        }
    }

    fn size(&self) -> Pages {
        Pages((self.size / 65_536) as u32)
    }

    fn style(&self) -> MemoryStyle {
        self.style
    }

    /// As Wasmer's own memories: within the (capped) maximum, a static memory makes the new
    /// pages accessible in place (up to its bound); a dynamic one does so within its mapping
    /// and otherwise moves to a larger mapping (the definition follows).
    fn grow(&mut self, delta: Pages) -> Result<Pages, MemoryError> {
        let current = self.size();
        if delta.0 == 0 {
            return Ok(current);
        }
        let refuse = MemoryError::CouldNotGrow {
            current,
            attempted_delta: delta,
        };
        let new = current.checked_add(delta).ok_or(refuse.clone())?;
        let bound = match self.style {
            MemoryStyle::Static { bound, .. } => bound,
            MemoryStyle::Dynamic { .. } => Pages::max_value(),
        };
        if self.ty.maximum.is_some_and(|m| new > m) || new > bound || new > Pages::max_value() {
            return Err(refuse);
        }
        let (prev_bytes, new_bytes) = (current.bytes().0, new.bytes().0);
        let guard = usize::try_from(self.style.offset_guard_size()).map_err(|_| refuse.clone())?;
        let mmap = self.mmap.as_mut().ok_or(refuse.clone())?;
        if new_bytes > mmap.len().saturating_sub(guard) {
            // A dynamic memory outgrew its mapping: a larger one, the contents copied.
            let reserved = new_bytes.checked_add(guard).ok_or(refuse)?;
            let mut moved = Mmap::accessible_reserved(new_bytes, reserved, None, MmapType::Private)
                .map_err(MemoryError::Region)?;
            moved.as_mut_slice()[..prev_bytes].copy_from_slice(&mmap.as_slice()[..prev_bytes]);
            *mmap = moved;
        } else {
            mmap.make_accessible(prev_bytes, new_bytes - prev_bytes)
                .map_err(MemoryError::Region)?;
        }
        self.size = new_bytes;
        let base = mmap.as_mut_ptr();
        // SAFETY: `def` points to this memory's definition in its instance's `VMContext`,
        // valid for as long as the instance and so this memory (`create_vm_memory`'s
        // contract); compiled code reads it only while this store runs code, not concurrently
        // with `grow`, which the store's `&mut` access excludes.
        unsafe {
            let md = self.def.as_ptr();
            (*md).base = base;
            (*md).current_length = new_bytes;
        }
        Ok(current)
    }

    fn vmmemory(&self) -> NonNull<VMMemoryDefinition> {
        self.def
    }

    fn try_clone(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        Err(MemoryError::UnsupportedOperation {
            message: "a sandbox's memory cannot be cloned".into(),
        })
    }

    fn copy(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        Err(MemoryError::UnsupportedOperation {
            message: "a sandbox's memory cannot be copied to another store".into(),
        })
    }
}

impl Drop for PooledMemory {
    fn drop(&mut self) {
        let Some(mut mmap) = self.mmap.take() else {
            return;
        };
        if self.size == self.initial {
            // Every byte the guest could reach: nothing of this tenant survives.
            mmap.as_mut_slice_accessible().fill(0);
            self.pool.put(mmap, self.initial);
        }
    }
}

/// The memory style of `limits.memory_reservation = "max_memory"` for a compiler: Cranelift
/// gets a static memory bounded at the cap (it compiles a check against that bound; the
/// reservation is the cap and a 64 KiB guard); Singlepass, which emits no bounds check at all
/// for a static memory (it relies on the full 4 GiB reservation), gets a dynamic one, for which
/// it emits explicit checks (the reservation follows the memory's size).
pub(crate) fn right_sized_style(cranelift: bool, max_memory_bytes: u64) -> MemoryStyle {
    let guard = cage_core::policy::SMALL_MEMORY_GUARD;
    if cranelift {
        MemoryStyle::Static {
            bound: Pages(
                u32::try_from(max_memory_bytes / 65_536)
                    .unwrap_or(u32::MAX)
                    .min(65_536),
            ),
            offset_guard_size: guard,
        }
    } else {
        MemoryStyle::Dynamic {
            offset_guard_size: guard,
        }
    }
}

impl CageTunables {
    pub(crate) fn new(
        base: BaseTunables,
        stack_bytes: usize,
        max_memory_bytes: u64,
        max_elements: u64,
        right_sized: Option<MemoryStyle>,
    ) -> Self {
        CageTunables {
            right_sized,
            pool: Arc::new(MemoryPool::new()),
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
        self.right_sized
            .unwrap_or_else(|| self.base.memory_style(memory))
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
        // What Wasmer's own memory of this style reserves: a static one its bound, a dynamic
        // one its initial size, each with its guard after.
        let mapped = match *style {
            MemoryStyle::Static { bound, .. } if ty.minimum <= bound => Some(bound),
            MemoryStyle::Dynamic { .. } => Some(ty.minimum),
            MemoryStyle::Static { .. } => None,
        };
        if let Some(mapped) = mapped
            && !ty.shared
            && ty.minimum.bytes().0 <= POOL_MAX_INITIAL
        {
            let initial = ty.minimum.bytes().0;
            let reserved = usize::try_from(style.offset_guard_size())
                .ok()
                .and_then(|g| mapped.bytes().0.checked_add(g))
                .ok_or_else(|| MemoryError::Generic("memory reservation overflows".into()))?;
            let mut mmap = match self.pool.take(reserved, initial) {
                Some(m) => m,
                None => Mmap::accessible_reserved(initial, reserved, None, MmapType::Private)
                    .map_err(MemoryError::Region)?,
            };
            let base = mmap.as_mut_ptr();
            // SAFETY: the caller guarantees `vm_definition_location` points to a valid, owned
            // `VMMemoryDefinition` (this method's contract); as Wasmer's own static memory does,
            // it is set to the mapping's base and accessible length, which the mapping (owned
            // by the memory returned, as long as the instance) keeps valid.
            unsafe {
                let md = vm_definition_location.as_ptr();
                (*md).base = base;
                (*md).current_length = initial;
            }
            let memory: Box<dyn LinearMemory + Send + Sync + 'static> = Box::new(PooledMemory {
                mmap: Some(mmap),
                size: initial,
                initial,
                ty,
                style: *style,
                def: vm_definition_location,
                pool: self.pool.clone(),
            });
            return Ok(VMMemory::from_custom(memory));
        }
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

/// Loads a module that `Module::serialize` wrote, from the payload of `code`.
///
/// # Errors
/// Wasmer refuses the bytes.
pub(crate) fn deserialize(
    engine: &wasmer::Engine,
    bytes: &[u8],
    code: &cage_core::cache::VerifiedCode,
) -> Result<wasmer::Module, wasmer::DeserializeError> {
    debug_assert!(code.bytes().ends_with(bytes));
    // SAFETY: `Module::deserialize` turns the bytes into executable code without validating
    // them (Wasmer 7.3), so they must be exactly what `Module::serialize` wrote. `bytes` is the
    // tail of a `VerifiedCode`: core's cache read the whole entry into memory and authenticated
    // it with its HMAC key (never stored in the cache directory) under a key that covers this
    // Wasmer version, the compiler's deterministic id, the target and CPU features, the source of
    // Cage's middleware and tunables, the policy and the module; only this backend's
    // `serialize_code` writes such entries. Wasmer copies the bytes, so they cannot change after
    // the check.
    unsafe { wasmer::Module::deserialize(engine, bytes.to_vec()) }
}

/// Where the deadline watchdog raises a store's stop global: the global's cell in the instance,
/// written from the watchdog thread while the store's thread runs guest code that reads it (as
/// Wasmtime's epoch counter is written by its ticker and read by compiled code).
///
/// The cell belongs to the instance, so the pointer is only used under a protocol that keeps it
/// alive: the watchdog writes only while the call that armed the store is running
/// ([`DeadlineCell::fire`] re-checks the arming after announcing itself), and the store's thread,
/// after disarming, waits until no write is in flight ([`DeadlineCell::quiesce`]) before the call
/// returns. The instance (owned by the store) can only be dropped after the call returned.
#[derive(Debug, Default)]
pub(crate) struct DeadlineCell {
    /// The stop global's value, null until the store is instantiated.
    cell: std::sync::atomic::AtomicPtr<std::sync::atomic::AtomicI32>,
    /// The watchdog is between its arming check and its write.
    busy: std::sync::atomic::AtomicBool,
}

impl DeadlineCell {
    /// Points the cell at the stop global of the store's instance. Called on the store's thread
    /// right after instantiation, before any guest code runs.
    pub(crate) fn attach(&self, store: &mut impl wasmer::AsStoreMut, global: &wasmer::Global) {
        let vm = wasmer::Extern::Global(global.clone())
            .to_vm_extern()
            .unwrap_sys();
        if let wasmer::sys::vm::VMExtern::Global(handle) = vm {
            let objects = store.objects_mut().as_sys();
            let definition = handle.get(objects).vmglobal();
            self.cell.store(
                definition.as_ptr().cast::<std::sync::atomic::AtomicI32>(),
                std::sync::atomic::Ordering::SeqCst,
            );
        }
    }

    /// Whether [`DeadlineCell::attach`] found the cell.
    pub(crate) fn is_attached(&self) -> bool {
        !self
            .cell
            .load(std::sync::atomic::Ordering::SeqCst)
            .is_null()
    }

    #[cfg(test)]
    pub(crate) fn attach_static(&self, cell: &'static std::sync::atomic::AtomicI32) {
        self.cell.store(
            std::ptr::from_ref(cell).cast_mut(),
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// The stop value (0: keep running).
    #[cfg(test)]
    pub(crate) fn get(&self) -> i32 {
        let p = self.cell.load(std::sync::atomic::Ordering::SeqCst);
        if p.is_null() {
            return 0;
        }
        // SAFETY: a non-null pointer is the stop global's cell of the instance the store owns
        // (or, in tests, a static); this is called on the store's thread, which owns the
        // instance, or by tests; the cell is 16-byte aligned and its first four bytes are the
        // i32 value (`VMGlobalDefinition` is `repr(C)` around a `RawValue` union).
        unsafe { (*p).load(std::sync::atomic::Ordering::Relaxed) }
    }

    /// Lowers the stop global before a call is armed (on the store's thread).
    pub(crate) fn clear(&self) {
        let p = self.cell.load(std::sync::atomic::Ordering::SeqCst);
        if !p.is_null() {
            // SAFETY: as in `get`: the store's thread owns the live instance.
            unsafe { (*p).store(0, std::sync::atomic::Ordering::Relaxed) };
        }
    }

    /// Raises the stop global if `armed()` still holds once this write is announced (on the
    /// watchdog thread). True when it was raised.
    pub(crate) fn fire(&self, armed: impl Fn() -> bool) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.busy.store(true, SeqCst);
        let mut raised = false;
        if armed() {
            let p = self.cell.load(SeqCst);
            if !p.is_null() {
                // SAFETY: `busy` was set (SeqCst) before `armed()` was read: either the store's
                // thread had not disarmed yet, and then it waits in `quiesce` until `busy` is
                // cleared below, so the call has not returned and the instance (owned by the
                // store, which only its thread drops, after the call) is alive; or it had, and
                // `armed()` is false. The cell is an aligned i32 (see `get`).
                unsafe { (*p).store(1, std::sync::atomic::Ordering::Relaxed) };
                raised = true;
            }
        }
        self.busy.store(false, SeqCst);
        raised
    }

    /// Waits until no [`DeadlineCell::fire`] is in flight (on the store's thread, after
    /// disarming): no write can reach the instance after this returns.
    pub(crate) fn quiesce(&self) {
        while self.busy.load(std::sync::atomic::Ordering::SeqCst) {
            std::hint::spin_loop();
        }
    }
}

/// Each guest thread's signal stack, installed by Cage before Wasmer sees the thread.
///
/// Wasmer's trap handler runs on an alternate signal stack. `wasmer_vm::lazy_per_thread_init`
/// maps one (64 KiB and a guard page) the first time a thread enters guest code, unless the
/// thread already has one at least that large, and remembers the outcome in a thread-local for
/// the life of the thread: if that `mmap` fails once (the process out of memory or mappings),
/// every later call on the thread traps "VM out of memory", even after memory is back. Cage
/// therefore installs the stack itself ([`ensure`], from `Backend::prepare_thread` before every
/// entry): Wasmer then finds it big enough and allocates nothing, and when Cage's own `mmap`
/// fails the call is refused `host_failure: resources` with nothing of Wasmer's touched, so the
/// same thread tries again on its next call. The stack is 256 KiB, what Wasmtime asks for too,
/// so a thread that runs both runtimes' guests holds one stack.
pub(crate) mod signal_stack {
    use std::cell::Cell;

    use cage_core::{Error, HostFailure};

    /// Usable size of the stack (Wasmtime's minimum; Wasmer asks for 64 KiB).
    const SIZE: usize = 256 * 1024;

    /// The stack Cage mapped for this thread: unmapped when the thread exits.
    struct Installed {
        base: Cell<Option<(usize, usize)>>,
        /// The thread had a big enough stack of someone else's (the application's, Wasmtime's):
        /// not asked again on every call.
        foreign: Cell<bool>,
    }

    impl Drop for Installed {
        fn drop(&mut self) {
            if let Some((base, len)) = self.base.take() {
                let disable = libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                let mut current: libc::stack_t = stack_t_zeroed();
                // SAFETY: `sigaltstack` with valid pointers to a local `stack_t` only reads or
                // writes them; asking for the current stack has no other effect.
                let got = unsafe { libc::sigaltstack(std::ptr::null(), &raw mut current) };
                // Disable it only if it is still ours (the thread's code may have installed
                // another since); then no signal can run on it once it is unmapped.
                if got == 0 && current.ss_sp as usize == base + page_size() {
                    // SAFETY: as above; disabling the alternate stack of the exiting thread.
                    unsafe { libc::sigaltstack(&raw const disable, std::ptr::null_mut()) };
                }
                // SAFETY: `base..base+len` is the mapping this thread made in `ensure` and
                // nothing else refers to it: it is no longer (or never was) the thread's
                // signal stack.
                unsafe { libc::munmap(base as *mut libc::c_void, len) };
            }
        }
    }

    thread_local! {
        static INSTALLED: Installed = const {
            Installed {
                base: Cell::new(None),
                foreign: Cell::new(false),
            }
        };
    }

    fn stack_t_zeroed() -> libc::stack_t {
        libc::stack_t {
            ss_sp: std::ptr::null_mut(),
            ss_flags: 0,
            ss_size: 0,
        }
    }

    fn page_size() -> usize {
        // SAFETY: `sysconf` reads a system constant.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size).unwrap_or(4096)
    }

    /// Makes sure the calling thread has a signal stack of at least [`SIZE`] bytes, mapping
    /// one (with a guard page below it) if it has none or a smaller one.
    ///
    /// # Errors
    /// `host_failure: resources` when the mapping cannot be made; nothing is installed then.
    pub(crate) fn ensure() -> Result<(), Error> {
        INSTALLED.with(|installed| {
            if installed.base.get().is_some() || installed.foreign.get() {
                return Ok(());
            }
            let mut current = stack_t_zeroed();
            // SAFETY: `sigaltstack` with a null new stack only writes the current one into the
            // local `current`.
            if unsafe { libc::sigaltstack(std::ptr::null(), &raw mut current) } != 0 {
                return Err(failed("cannot read the thread's signal stack"));
            }
            if current.ss_flags & libc::SS_DISABLE == 0 && current.ss_size >= SIZE {
                // Big enough already (the application's, or a runtime's).
                installed.foreign.set(true);
                return Ok(());
            }
            let guard = page_size();
            let len = guard + SIZE;
            // SAFETY: an anonymous private mapping at an address of the kernel's choosing
            // affects no existing memory.
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if base == libc::MAP_FAILED {
                return Err(failed(
                    "out of memory or memory mappings: cannot map this thread's signal stack",
                ));
            }
            let stack = base as usize + guard;
            // SAFETY: `stack..stack+SIZE` lies inside the mapping just made, which nothing
            // else refers to.
            let writable = unsafe {
                libc::mprotect(
                    stack as *mut libc::c_void,
                    SIZE,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            let new = libc::stack_t {
                ss_sp: stack as *mut libc::c_void,
                ss_flags: 0,
                ss_size: SIZE,
            };
            // SAFETY: the new stack is readable, writable memory of `SIZE` bytes that stays
            // mapped until this thread's `Installed` drops (which disables it first).
            let registered = writable == 0
                && unsafe { libc::sigaltstack(&raw const new, std::ptr::null_mut()) } == 0;
            if !registered {
                // SAFETY: the mapping just made, not installed anywhere.
                unsafe { libc::munmap(base, len) };
                return Err(failed(
                    "out of memory or memory mappings: cannot install this thread's signal stack",
                ));
            }
            installed.base.set(Some((base as usize, len)));
            Ok(())
        })
    }

    fn failed(message: &str) -> Error {
        Error::host(HostFailure::Resources, message)
    }
}
