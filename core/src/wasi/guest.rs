//! Guest memory as a WASI function sees it: bounds- and alignment-checked copies, each byte
//! charged to the guest's fuel.

use super::ctx::WasiCtx;
use super::errno::Errno;
use crate::host::{HostContext, HostError};
use crate::value::Value;

/// Why a WASI function did not succeed: an errno for the guest, or a trap.
#[derive(Debug)]
pub(crate) enum Fail {
    Errno(Errno),
    Trap(HostError),
}

impl From<Errno> for Fail {
    fn from(e: Errno) -> Self {
        Fail::Errno(e)
    }
}

impl From<HostError> for Fail {
    fn from(e: HostError) -> Self {
        Fail::Trap(e)
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Fail::Errno(Errno::from(&e))
    }
}

pub(crate) type Res<T> = Result<T, Fail>;

/// The arguments of one WASI call.
pub(crate) struct Args<'a>(pub(crate) &'a [Value]);

impl Args<'_> {
    /// Argument `i` as an unsigned 32-bit value (pointers, lengths, descriptors, flags).
    pub(crate) fn u32(&self, i: usize) -> u32 {
        match self.0.get(i) {
            Some(Value::I32(v)) => *v as u32,
            Some(Value::I64(v)) => *v as u32,
            _ => 0,
        }
    }

    /// Argument `i` as an unsigned 64-bit value (sizes, offsets, timestamps, rights).
    pub(crate) fn u64(&self, i: usize) -> u64 {
        match self.0.get(i) {
            Some(Value::I64(v)) => *v as u64,
            Some(Value::I32(v)) => u64::from(*v as u32),
            _ => 0,
        }
    }
}

/// A WASI function's view of the calling guest.
pub(crate) struct Guest<'a> {
    cx: &'a mut dyn HostContext,
    per_byte: u64,
}

impl<'a> Guest<'a> {
    /// Enters a WASI call: charges its base cost.
    pub(crate) fn enter(cx: &'a mut dyn HostContext) -> Res<Self> {
        let costs = state(cx)?.costs;
        cx.consume_fuel(costs.call)?;
        Ok(Guest {
            cx,
            per_byte: costs.per_byte,
        })
    }

    /// The sandbox's WASI state.
    pub(crate) fn wasi(&mut self) -> Result<&mut WasiCtx, HostError> {
        state(self.cx)
    }

    /// The host context, for what WASI does not wrap (deadline, fuel).
    pub(crate) fn cx(&mut self) -> &mut dyn HostContext {
        self.cx
    }

    fn charge(&mut self, bytes: usize) -> Result<(), HostError> {
        let fuel = (bytes as u64).saturating_mul(self.per_byte);
        if fuel > 0 {
            self.cx.consume_fuel(fuel)?;
        }
        Ok(())
    }

    fn check(&mut self, ptr: u32, len: usize, align: u32) -> Result<(), HostError> {
        if align > 1 && !ptr.is_multiple_of(align) {
            return Err(HostError::Misaligned {
                offset: u64::from(ptr),
                align: u64::from(align),
            });
        }
        let size = self.cx.memory_size();
        if u64::from(ptr) + len as u64 > size {
            return Err(HostError::MemoryOutOfBounds {
                offset: u64::from(ptr),
                len: len as u64,
            });
        }
        Ok(())
    }

    /// Copies `len` bytes at `ptr` out of guest memory (`align`: what the pointed-to type
    /// needs). Out of bounds or misaligned traps; every byte is charged.
    pub(crate) fn read_aligned(&mut self, ptr: u32, len: u32, align: u32) -> Res<Vec<u8>> {
        let len = len as usize;
        self.check(ptr, len, align)?;
        self.charge(len)?;
        let mut buf = vec![0; len];
        self.cx.read(u64::from(ptr), &mut buf)?;
        Ok(buf)
    }

    /// Copies `len` bytes at `ptr` out of guest memory.
    pub(crate) fn read(&mut self, ptr: u32, len: u32) -> Res<Vec<u8>> {
        self.read_aligned(ptr, len, 1)
    }

    /// Copies `data` into guest memory at `ptr` (`align`: what the pointed-to type needs).
    pub(crate) fn write_aligned(&mut self, ptr: u32, data: &[u8], align: u32) -> Res<()> {
        self.check(ptr, data.len(), align)?;
        self.charge(data.len())?;
        self.cx.write(u64::from(ptr), data)?;
        Ok(())
    }

    /// Copies `data` into guest memory at `ptr`.
    pub(crate) fn write(&mut self, ptr: u32, data: &[u8]) -> Res<()> {
        self.write_aligned(ptr, data, 1)
    }

    /// Stores a `u32` result at `ptr`.
    pub(crate) fn put_u32(&mut self, ptr: u32, v: u32) -> Res<()> {
        self.write_aligned(ptr, &v.to_le_bytes(), 4)
    }

    /// Stores a `u64` result at `ptr`.
    pub(crate) fn put_u64(&mut self, ptr: u32, v: u64) -> Res<()> {
        self.write_aligned(ptr, &v.to_le_bytes(), 8)
    }

    /// Reads the string of `len` bytes at `ptr`; invalid UTF-8 is `EILSEQ`.
    pub(crate) fn string(&mut self, ptr: u32, len: u32) -> Res<String> {
        let bytes = self.read(ptr, len)?;
        String::from_utf8(bytes).map_err(|_| Fail::Errno(Errno::Ilseq))
    }

    /// Reads an iovec table: `n` (pointer, length) pairs at `ptr`.
    pub(crate) fn iovecs(&mut self, ptr: u32, n: u32) -> Res<Vec<(u32, u32)>> {
        let len = n.checked_mul(8).ok_or(Errno::Overflow)?;
        let raw = self.read_aligned(ptr, len, 4)?;
        Ok(raw
            .chunks_exact(8)
            .map(|c| {
                (
                    u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                    u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                )
            })
            .collect())
    }

    /// The first non-empty buffer of an iovec table, as Wasmtime's preview 1 uses it: reads and
    /// writes move at most one buffer per call. Its bounds are checked here.
    pub(crate) fn first_buffer(&mut self, ptr: u32, n: u32) -> Res<(u32, u32)> {
        for (p, l) in self.iovecs(ptr, n)? {
            if l > 0 {
                self.check(p, l as usize, 1)?;
                return Ok((p, l));
            }
        }
        Ok((0, 0))
    }
}

fn state(cx: &mut dyn HostContext) -> Result<&mut WasiCtx, HostError> {
    cx.state()
        .extensions
        .get_mut::<WasiCtx>()
        .ok_or_else(|| HostError::new("WASI is not configured for this sandbox"))
}
