//! Guest memory as a WASI function sees it: bounds- and alignment-checked copies, each byte
//! paid for before it moves, and at most `limits.max_io_per_call` bytes taken from the guest
//! per call.
//!
//! What the guest hands the host (paths, iovec tables and the buffer a read or write uses, poll
//! subscriptions) counts against `limits.max_io_per_call` first: past it the call fails with
//! `ENOMEM` before any pointer is checked or anything is allocated, exactly as `wasmtime-wasi`'s
//! per-call "hostcall fuel" does. Then the pointer is checked (out of bounds or misaligned
//! traps, as preview 1 says), the fuel is charged (`out_of_fuel` with nothing done), and the
//! copy happens. Data that moves in bulk (reads, writes, `random_get`) goes through a buffer of
//! at most [`CHUNK`] bytes, so a call never holds a host copy as large as the guest's buffer.
//! Copies into the guest of nothing at all are not checked (as `wasmtime-wasi`'s are not).

use crate::ctx::WasiCtx;
use crate::errno::{CHUNK, Errno, Fail};
use cage_core::Value;
use cage_core::{HostContext, HostError};

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
    /// Bytes this call may still move (`limits.max_io_per_call` less what it moved).
    io_left: u64,
}

impl<'a> Guest<'a> {
    /// Enters a WASI call: a guest that exports no `memory` traps (every WASI call needs it,
    /// and `wasmtime-wasi` traps the same way), then the base cost is charged.
    pub(crate) fn enter(cx: &'a mut dyn HostContext) -> Res<Self> {
        if !cx.has_memory() {
            return Err(HostError::new(
                "missing required memory export: WASI needs the guest to export its memory as \
                 `memory`",
            )
            .into());
        }
        let w = state(cx)?;
        let (costs, io_left) = (w.costs, w.max_io);
        cx.consume_fuel(costs.call)?;
        Ok(Guest {
            cx,
            per_byte: costs.per_byte,
            io_left,
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

    /// Takes `bytes` from this call's cap: `ENOMEM` past it.
    pub(crate) fn take_io(&mut self, bytes: u64) -> Res<()> {
        self.io_left = self.io_left.checked_sub(bytes).ok_or(Errno::Nomem)?;
        Ok(())
    }

    /// Charges `fuel`, or, when less is left, consumes what is left and traps `out_of_fuel`.
    pub(crate) fn pay(&mut self, fuel: u64) -> Result<(), HostError> {
        if fuel > 0 {
            self.cx.consume_fuel(fuel)?;
        }
        Ok(())
    }

    /// Checks that `fuel` could be paid, without paying it: when less is left, consumes what is
    /// left and traps `out_of_fuel` (so that work whose exact cost is known only afterwards is
    /// never started unpaid).
    pub(crate) fn afford(&mut self, fuel: u64) -> Result<(), HostError> {
        match self.cx.fuel_remaining() {
            Some(left) if left < fuel => self.cx.consume_fuel(fuel),
            _ => Ok(()),
        }
    }

    /// Whether `fuel` could be paid now (always, unmetered): [`Guest::afford`] without its
    /// trap, for choosing a path.
    pub(crate) fn can_afford(&mut self, fuel: u64) -> bool {
        self.cx.fuel_remaining().is_none_or(|left| left >= fuel)
    }

    /// The fuel `bytes` bytes cost.
    pub(crate) fn byte_cost(&self, bytes: u64) -> u64 {
        bytes.saturating_mul(self.per_byte)
    }

    fn check(&mut self, ptr: u32, len: u64, align: u32) -> Result<(), HostError> {
        if align > 1 && !ptr.is_multiple_of(align) {
            return Err(HostError::Misaligned {
                offset: u64::from(ptr),
                align: u64::from(align),
            });
        }
        let size = self.cx.memory_size();
        if u64::from(ptr) + len > size {
            return Err(HostError::MemoryOutOfBounds {
                offset: u64::from(ptr),
                len,
            });
        }
        Ok(())
    }

    /// Checks a guest buffer the call will fill or drain in pieces (bounds, then alignment 1).
    pub(crate) fn check_buffer(&mut self, ptr: u32, len: u32) -> Result<(), HostError> {
        self.check(ptr, u64::from(len), 1)
    }

    /// Copies `len` bytes at `ptr` out of guest memory (`align`: what the pointed-to type
    /// needs): cap, bounds, fuel, then the copy.
    pub(crate) fn read_aligned(&mut self, ptr: u32, len: u32, align: u32) -> Res<Vec<u8>> {
        self.take_io(u64::from(len))?;
        self.check(ptr, u64::from(len), align)?;
        self.pay(self.byte_cost(u64::from(len)))?;
        let mut buf = vec![0; len as usize];
        self.cx.read(u64::from(ptr), &mut buf)?;
        Ok(buf)
    }

    /// Copies `len` bytes at `ptr` out of guest memory.
    pub(crate) fn read(&mut self, ptr: u32, len: u32) -> Res<Vec<u8>> {
        self.read_aligned(ptr, len, 1)
    }

    /// Copies `data` into guest memory at `ptr` (`align`: what the pointed-to type needs):
    /// bounds, fuel, then the copy. Copying nothing checks nothing.
    pub(crate) fn write_aligned(&mut self, ptr: u32, data: &[u8], align: u32) -> Res<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.check(ptr, data.len() as u64, align)?;
        self.pay(self.byte_cost(data.len() as u64))?;
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

    /// The first non-empty buffer of an iovec table of `n` entries at `ptr`, as Wasmtime's
    /// preview 1 finds it: reads and writes move at most one buffer per call. The whole table
    /// and then the buffer count against the per-call cap (`ENOMEM`); entries are read one at
    /// a time (each checked and paid for) up to the first non-empty one, so that neither a
    /// table of no entries nor what follows the first non-empty entry is looked at. The
    /// buffer's own bounds are checked when it is copied.
    pub(crate) fn first_buffer(&mut self, ptr: u32, n: u32) -> Res<(u32, u32)> {
        self.take_io(u64::from(n) * 8)?;
        for i in 0..n {
            let at = u64::from(ptr) + u64::from(i) * 8;
            let at = u32::try_from(at)
                .map_err(|_| HostError::MemoryOutOfBounds { offset: at, len: 8 })?;
            self.check(at, 8, 4)?;
            self.pay(self.byte_cost(8))?;
            let mut raw = [0u8; 8];
            self.cx.read(u64::from(at), &mut raw)?;
            let p = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
            let l = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]);
            if l > 0 {
                self.take_io(u64::from(l))?;
                return Ok((p, l));
            }
        }
        Ok((0, 0))
    }

    /// Fills guest memory at `ptr` with up to `len` bytes that `source` produces, a [`CHUNK`] at
    /// a time: `source(buf)` fills `buf` (or a prefix of it) and returns how much it filled, 0
    /// at the end. Before anything is produced, `[ptr, ptr + len)` is checked and `len` must be
    /// affordable (else `out_of_fuel`, nothing done); what actually moves is charged. Copying
    /// nothing checks nothing. Returns how many bytes moved; an error after some bytes moved
    /// ends the copy early and counts what moved (as a short read would). The per-call cap is
    /// the caller's to take.
    pub(crate) fn fill_from(
        &mut self,
        ptr: u32,
        len: u64,
        mut source: impl FnMut(&mut Self, &mut [u8]) -> Res<usize>,
    ) -> Res<u64> {
        if len == 0 {
            return Ok(0);
        }
        self.check(ptr, len, 1)?;
        self.afford(self.byte_cost(len))?;
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(CHUNK).min(CHUNK)];
        let mut moved = 0u64;
        while moved < len {
            let want = usize::try_from(len - moved).unwrap_or(CHUNK).min(CHUNK);
            let got = match source(self, &mut buf[..want]) {
                Ok(n) => n.min(want),
                Err(e) if moved == 0 => return Err(e),
                Err(_) => break,
            };
            if got == 0 {
                break;
            }
            self.pay(self.byte_cost(got as u64))?;
            self.cx.write(u64::from(ptr) + moved, &buf[..got])?;
            moved += got as u64;
            if got < want {
                break;
            }
        }
        Ok(moved)
    }

    /// Drains `len` bytes of guest memory at `ptr` into `sink`, a [`CHUNK`] at a time:
    /// `[ptr, ptr + len)` is checked and `len` must be affordable (else `out_of_fuel`, nothing
    /// done); each piece is charged as it is copied out. `sink(piece)` consumes a prefix of the
    /// piece and returns its length. Stops at the first short or failed `sink`. Returns how many
    /// bytes the sink took; an error before any byte was taken is the call's error. The
    /// per-call cap is the caller's to take.
    pub(crate) fn drain_into(
        &mut self,
        ptr: u32,
        len: u64,
        mut sink: impl FnMut(&mut Self, &[u8]) -> Res<usize>,
    ) -> Res<u64> {
        self.check(ptr, len, 1)?;
        self.afford(self.byte_cost(len))?;
        let mut buf = vec![0u8; usize::try_from(len).unwrap_or(CHUNK).min(CHUNK)];
        let mut taken = 0u64;
        while taken < len {
            let want = usize::try_from(len - taken).unwrap_or(CHUNK).min(CHUNK);
            self.pay(self.byte_cost(want as u64))?;
            self.cx.read(u64::from(ptr) + taken, &mut buf[..want])?;
            let n = match sink(self, &buf[..want]) {
                Ok(n) => n.min(want),
                Err(e) if taken == 0 => return Err(e),
                Err(_) => break,
            };
            taken += n as u64;
            if n < want {
                break;
            }
        }
        Ok(taken)
    }
}

fn state(cx: &mut dyn HostContext) -> Result<&mut WasiCtx, HostError> {
    cx.state()
        .extensions
        .get_mut::<WasiCtx>()
        .ok_or_else(|| HostError::new("WASI is not configured for this sandbox"))
}
