//! The example HTTP service (`cage/examples/http_service.rs`) under a mixed load on loopback,
//! on every runtime: benign requests all succeed while hostile guests (spinning, growing memory
//! until refused, sleeping past their deadline) are answered 422, the service stays up, and
//! the throughput is printed. Every request has a client-side timeout: the test stops by itself.
#![cfg(feature = "async")]

#[path = "../examples/http_service.rs"]
#[allow(unreachable_pub)]
mod http_service;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn get(addr: std::net::SocketAddr, path: &str) -> Result<(u16, String), String> {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no status: {text:?}"))?;
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .map_err(|_| format!("{path}: no answer in 20 s"))?
}

#[test]
fn the_service_serves_benign_requests_under_a_hostile_load_on_every_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for name in cage::available_runtimes() {
        let module = http_service::compile(name).unwrap();
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(http_service::serve(listener, module));
            // 120 requests at once: 84 benign, 36 hostile (12 spinning, 12 growing memory, 12
            // sleeping past their deadline). Spinners hold a core each for their 500 ms
            // deadline: on this 2-core machine, benign guests share the CPU with them.
            let mut mix = Vec::new();
            for i in 0..120 {
                let path = match i % 10 {
                    0 => "/spin/0",
                    1 => "/bomb/0",
                    2 => "/nap/5000",
                    _ => "/work/1000",
                };
                mix.push(path);
            }
            let start = Instant::now();
            let tasks: Vec<_> = mix.iter().map(|p| tokio::spawn(get(addr, p))).collect();
            let mut benign = 0;
            for (path, t) in mix.iter().zip(tasks) {
                let (status, body) = t.await.unwrap().unwrap_or_else(|e| panic!("{name}: {e}"));
                match *path {
                    "/work/1000" => {
                        assert_eq!((status, body.as_str()), (200, "[I32(500500)]"), "{name}");
                        benign += 1;
                    }
                    "/spin/0" => {
                        // Whichever comes first: the 50 M fuel or the 500 ms deadline.
                        assert_eq!(status, 422, "{name} {path}: {body}");
                        assert!(
                            body.contains("timeout") || body.contains("out_of_fuel"),
                            "{name} {path}: {body}"
                        );
                    }
                    "/nap/5000" => {
                        assert_eq!((status, body.as_str()), (422, "trapped: timeout"), "{name}");
                    }
                    _ => assert_eq!(status, 422, "{name} {path}: {body}"),
                }
            }
            let took = start.elapsed();
            // Still up, and a bad request is a 400, not a crash.
            assert_eq!(
                get(addr, "/work/10").await.unwrap(),
                (200, "[I32(55)]".into())
            );
            assert_eq!(get(addr, "/nope").await.unwrap().0, 400);
            println!(
                "{name}: {} requests ({benign} benign) in {took:?}: {:.0} requests/s",
                mix.len(),
                mix.len() as f64 / took.as_secs_f64()
            );
            server.abort();
        });
    }
}
