//! What a sandbox's host side keeps: the call's deadline, and typed extensions (Cage's WASI
//! state, the application's own per-sandbox data).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

/// Values keyed by their type, at most one of each: how a sandbox carries host state whose
/// type core does not know (the application's data, Cage's WASI context).
#[derive(Default)]
pub struct Extensions(HashMap<TypeId, Box<dyn Any + Send>, BuildHasherDefault<TypeIdHasher>>);

/// A [`TypeId`] is already a hash: the map uses it as it is instead of hashing it again with
/// SipHash, which made a lookup (one per WASI call, and per `HostContext::data`) cost more than
/// the rest of a short host call. The keys are types of the host's program, never the guest's
/// choice, so no flooding-resistant hasher is needed.
#[derive(Default)]
struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    // `TypeId` hashes through `write_u64`; anything else is folded in, FNV-1a style.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl Extensions {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value`, returning the value of the same type it replaces.
    pub fn insert<T: Any + Send>(&mut self, value: T) -> Option<T> {
        self.0
            .insert(TypeId::of::<T>(), Box::new(value))
            .and_then(|old| old.downcast().ok().map(|b| *b))
    }

    /// The value of type `T`.
    pub fn get<T: Any + Send>(&self) -> Option<&T> {
        self.0.get(&TypeId::of::<T>())?.downcast_ref()
    }

    /// The value of type `T`, mutably.
    pub fn get_mut<T: Any + Send>(&mut self) -> Option<&mut T> {
        self.0.get_mut(&TypeId::of::<T>())?.downcast_mut()
    }

    /// Takes the value of type `T` out.
    pub fn remove<T: Any + Send>(&mut self) -> Option<T> {
        self.0
            .remove(&TypeId::of::<T>())
            .and_then(|b| b.downcast().ok().map(|b| *b))
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extensions")
            .field("values", &self.0.len())
            .finish()
    }
}

/// The host side of one sandbox, owned by the backend's store and handed to every host function
/// through [`crate::HostContext::state`].
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct HostState {
    /// The runtime's deadline clock, when its policy has a `timeout` (set once, when the store
    /// is made).
    clock: Option<crate::deadline::Clock>,
    /// When the current call into the guest must end, if it has a deadline, on `clock`.
    deadline: Option<u64>,
    /// A host function panicked: the sandbox must not run again.
    poisoned: bool,
    /// Typed values: Cage's WASI context, the application's data.
    pub extensions: Extensions,
}

impl HostState {
    /// Fresh state with these extensions (core, when it makes a sandbox).
    pub(crate) fn new(extensions: Extensions) -> Self {
        HostState {
            clock: None,
            deadline: None,
            poisoned: false,
            extensions,
        }
    }

    /// When the current call into the guest must end. Host functions that wait must not wait
    /// past it.
    pub fn deadline(&self) -> Option<Instant> {
        Some(self.clock.as_ref()?.instant(self.deadline?))
    }

    /// Whether the current call's deadline has passed, on the runtime's coarse clock (never
    /// early; at most a tick late): one load, no clock read.
    #[inline]
    pub fn deadline_passed(&self) -> bool {
        match (&self.clock, self.deadline) {
            (Some(c), Some(d)) => c.passed(d),
            _ => false,
        }
    }

    /// Gives the state its runtime's deadline clock (backends, when they make the store).
    /// Reached through [`crate::backend::set_clock`].
    pub(crate) fn set_clock(&mut self, clock: Option<crate::deadline::Clock>) {
        self.clock = clock;
    }

    /// Sets the deadline of the call starting now (backends, before each call), on the clock
    /// given to [`HostState::set_clock`] ([`crate::deadline::Pacer::arm`]'s answer). Reached
    /// through [`crate::backend::set_deadline`].
    #[inline]
    pub(crate) fn set_deadline(&mut self, deadline: Option<u64>) {
        self.deadline = deadline;
    }

    /// Whether a host function panicked in this sandbox.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    pub(crate) fn poison(&mut self) {
        self.poisoned = true;
    }
}

#[cfg(test)]
mod tests {
    use super::Extensions;

    #[derive(Debug, PartialEq)]
    struct A(u32);
    #[derive(Debug, PartialEq)]
    struct B(&'static str);

    #[test]
    fn extensions_keep_one_value_per_type() {
        let mut e = Extensions::new();
        assert_eq!(e.insert(A(1)), None);
        assert_eq!(e.insert(B("b")), None);
        assert_eq!(e.insert(A(2)), Some(A(1)));
        assert_eq!(e.get::<A>(), Some(&A(2)));
        e.get_mut::<B>().expect("B is there").0 = "c";
        assert_eq!(e.remove::<B>(), Some(B("c")));
        assert_eq!(e.get::<B>(), None);
        assert_eq!(e.get::<u64>(), None);
        assert_eq!(e.get::<A>(), Some(&A(2)));
    }
}
