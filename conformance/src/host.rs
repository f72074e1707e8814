//! The host functions every conformance case may import, from module `cage_test`.
//!
//! | import | type | does |
//! |---|---|---|
//! | `cage_test.nop` | `() -> ()` | nothing (fuel cost 0) |
//! | `cage_test.expensive` | `() -> ()` | nothing, fuel cost 1000 per call |
//! | `cage_test.consume` | `(i64) -> ()` | charges that much fuel |
//! | `cage_test.fuel_left` | `() -> i64` | fuel remaining, -1 without metering |
//! | `cage_test.fail` | `() -> ()` | traps `host_error` with "requested failure" |
//! | `cage_test.sum` | `(i32 ptr, i32 len) -> i32` | sum of guest memory bytes `[ptr, ptr+len)` |
//! | `cage_test.fill` | `(i32 ptr, i32 len, i32 byte) -> ()` | writes `byte` over `[ptr, ptr+len)` |
//! | `cage_test.divmod` | `(i32 a, i32 b) -> (i32, i32)` | `a / b` and `a % b` (unsigned); `host_error` when `b` is 0 |

use cage_core::{FuncType, HostError, HostFunc, HostFunctions, ValType, Value};

fn arg_u64(args: &[Value], i: usize) -> u64 {
    match args.get(i) {
        Some(Value::I32(v)) => u64::from(*v as u32),
        Some(Value::I64(v)) => *v as u64,
        _ => 0,
    }
}

/// The `cage_test` host functions.
pub fn host_functions() -> HostFunctions {
    use ValType::{I32, I64};
    let m = "cage_test";
    HostFunctions::new()
        .with(HostFunc::new(m, "nop", FuncType::new([], []), |_, _| {
            Ok(vec![])
        }))
        .with(
            HostFunc::new(m, "expensive", FuncType::new([], []), |_, _| Ok(vec![]))
                .with_fuel_cost(1000),
        )
        .with(HostFunc::new(
            m,
            "consume",
            FuncType::new([I64], []),
            |cx, a| {
                cx.consume_fuel(arg_u64(a, 0))?;
                Ok(vec![])
            },
        ))
        .with(HostFunc::new(
            m,
            "fuel_left",
            FuncType::new([], [I64]),
            |cx, _| {
                Ok(vec![Value::I64(
                    cx.fuel_remaining()
                        .map_or(-1, |f| i64::try_from(f).unwrap_or(i64::MAX)),
                )])
            },
        ))
        .with(HostFunc::new(m, "fail", FuncType::new([], []), |_, _| {
            Err(HostError::new("requested failure"))
        }))
        .with(HostFunc::new(
            m,
            "sum",
            FuncType::new([I32, I32], [I32]),
            |cx, a| {
                let bytes = cx.read_vec(arg_u64(a, 0), arg_u64(a, 1))?;
                Ok(vec![Value::I32(
                    bytes
                        .iter()
                        .map(|b| i32::from(*b))
                        .fold(0, i32::wrapping_add),
                )])
            },
        ))
        .with(HostFunc::new(
            m,
            "fill",
            FuncType::new([I32, I32, I32], []),
            |cx, a| {
                let len = usize::try_from(arg_u64(a, 1))
                    .map_err(|_| HostError::new("length too large"))?;
                let size = cx.memory_size();
                cage_core::backend::checked_range(arg_u64(a, 0), len, size)?;
                cx.write(arg_u64(a, 0), &vec![arg_u64(a, 2) as u8; len])?;
                Ok(vec![])
            },
        ))
        .with(HostFunc::new(
            m,
            "divmod",
            FuncType::new([I32, I32], [I32, I32]),
            |_, a| {
                let (x, y) = (arg_u64(a, 0) as u32, arg_u64(a, 1) as u32);
                if y == 0 {
                    return Err(HostError::new("division by zero"));
                }
                Ok(vec![Value::I32((x / y) as i32), Value::I32((x % y) as i32)])
            },
        ))
}
