//! A small HTTP service on the async API: one guest per request, under one policy, on a
//! 2-thread tokio runtime. `GET /EXPORT/N` runs `EXPORT(N)` of the service's guest in a fresh
//! [`cage::AsyncSandbox`] and answers 200 with the result, 422 when the guest trapped (out of
//! fuel, past its deadline, out of memory), 400 for a request the guest cannot take, 503 when
//! the host refused (the process budget).
//!
//! `cargo run --release -p cage --features async --example http_service` serves on
//! 127.0.0.1:8080; `curl 127.0.0.1:8080/work/1000`. `cage/tests/http_service.rs` drives it with
//! a mixed benign and hostile load.

use std::sync::Arc;
use std::time::Duration;

use cage::async_api::{Finish, HostFuture};
use cage::{
    AsyncSandbox, DynModule, FuncType, HostContext, HostError, HostFunc, HostFunctions, Outcome,
    Policy, ValType, Value,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The guest: `work(n)` naps 5 ms on the host then sums 1..=n; `spin` loops forever; `bomb`
/// grows its memory until refused, then traps; `nap(ms)` awaits the host for `ms`.
pub const GUEST: &str = r#"(module
  (import "host" "sleep_ms" (func $sleep (param i32)))
  (memory 1)
  (func (export "work") (param $n i32) (result i32) (local $acc i32)
    (call $sleep (i32.const 5))
    (block $done
      (loop $l
        (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
        (local.set $acc (i32.add (local.get $acc) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $acc))
  (func (export "spin") (param i32) (result i32) (loop br 0) (i32.const 0))
  (func (export "bomb") (param i32) (result i32)
    (loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    (unreachable))
  (func (export "nap") (param $ms i32) (result i32) (call $sleep (local.get $ms)) (i32.const 0)))"#;

/// The policy every request runs under: 50 M fuel, 500 ms, 16 MiB of memory.
pub fn policy() -> Policy {
    Policy::default()
        .with_fuel(Some(50_000_000))
        .with_timeout(Some(Duration::from_millis(500)))
        .with_max_memory(16 << 20)
}

/// `host.sleep_ms(ms)`: awaits a tokio timer on the application's executor.
fn sleep_ms() -> HostFunc {
    let ty = FuncType::new([ValType::I32], []);
    HostFunc::new_async(
        "host",
        "sleep_ms",
        ty,
        |_cx: &mut dyn HostContext, args: &[Value]| {
            let ms = match args {
                [Value::I32(ms)] => u64::from(*ms as u32),
                _ => return Err(HostError::new("bad arguments")),
            };
            let fut: HostFuture = Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let finish: Finish = Box::new(|_cx: &mut dyn HostContext| Ok(Vec::new()));
                Ok(finish)
            });
            Ok(fut)
        },
    )
    .with_fuel_cost(100)
}

/// The guest compiled once, on the default runtime (or `runtime`), for every request.
pub fn compile(runtime: cage::RuntimeName) -> Result<Arc<dyn DynModule>, cage::Error> {
    let rt = cage::runtime_named(runtime, &policy()).map_err(|e| match e {
        cage::RuntimeError::Failed(e) => e,
        other => cage::Error::host(cage::HostFailure::Runtime, other.to_string()),
    })?;
    let wasm = wat::parse_str(GUEST)
        .map_err(|e| cage::Error::reject(cage::Rejection::InvalidModule, e.to_string()))?;
    let host = HostFunctions::new().with(sleep_ms());
    Ok(Arc::from(rt.compile(&wasm, &host)?))
}

/// Runs one request: `EXPORT(N)` in a fresh sandbox. Returns the status and body.
pub async fn handle(module: &dyn DynModule, path: &str) -> (u16, String) {
    let mut parts = path.trim_start_matches('/').split('/');
    let (Some(export), Some(n)) = (parts.next(), parts.next().and_then(|n| n.parse().ok())) else {
        return (400, "expected /EXPORT/N".into());
    };
    let mut sandbox = match AsyncSandbox::new(module).await {
        Ok(s) => s,
        Err(e) => return (503, e.to_string()),
    };
    let result = match sandbox.instantiate().await {
        Ok(()) => sandbox.call(export, &[Value::I32(n)]).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => (200, format!("{v:?}")),
        Err(e) => match e.outcome() {
            Outcome::Trapped(t) => (422, format!("trapped: {t}")),
            Outcome::Rejected(r) => (400, format!("rejected: {r}")),
            _ => (503, e.to_string()),
        },
    }
}

/// Serves HTTP/1.1 requests on `listener` until the task is dropped: one connection per
/// request, at most 8 KiB of request head.
pub async fn serve(listener: TcpListener, module: Arc<dyn DynModule>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let module = module.clone();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&head);
            let path = text.split_whitespace().nth(1).unwrap_or("/");
            let (status, body) = handle(module.as_ref(), path).await;
            let reply = format!(
                "HTTP/1.1 {status} {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                if status == 200 { "OK" } else { "Error" },
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
        });
    }
}

#[allow(dead_code, unreachable_pub)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let module = compile(cage::default_runtime_name())?;
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:8080").await?;
        println!("serving on http://127.0.0.1:8080 (GET /work/1000, /spin/0, /bomb/0, /nap/50)");
        serve(listener, module).await;
        Ok::<_, std::io::Error>(())
    })?;
    Ok(())
}
