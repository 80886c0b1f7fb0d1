//! Proxy tests over real HTTP: pass-through, least outstanding and the containerConcurrency cap,
//! timeouts, dead replicas and the one retry, body limits.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use infergate_predictor::http::ListenAddr;

use self::support::*;
use super::ProxyConfig;
use crate::route::REVISION_HEADER;

const LONG: Duration = Duration::from_secs(30);

#[tokio::test]
async fn passes_status_headers_and_body_through() {
    let mut up = Upstream::start().await;
    let gw = gateway(
        ProxyConfig::default(),
        revision(&[up.addr.clone()], 0),
        LONG,
    )
    .await;
    let client = client();

    let req = Request::post(format!("http://{gw}/v2/models/m/infer?trace=1&x=%20y"))
        .header("x-request-id", "abc")
        .header("content-type", "application/json")
        .header("connection", "x-secret")
        .header("x-secret", "hop")
        .header("proxy-authorization", "Basic Zm9v")
        .body(Full::new(Bytes::from_static(b"{\"inputs\": []}")))
        .expect("request");
    let response = send(&client, req).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let h = response.headers();
    assert_eq!(h.get("x-upstream").map(|v| v.as_bytes()), Some(&b"yes"[..]));
    assert_eq!(
        h.get(REVISION_HEADER).map(|v| v.as_bytes()),
        Some(&b"r-00001"[..])
    );
    assert!(
        h.get("keep-alive").is_none(),
        "hop-by-hop header passed back: {h:?}"
    );
    assert_eq!(text(response).await, "echo:{\"inputs\": []}");

    let seen = within("the upstream's record", up.seen.recv())
        .await
        .expect("recorded");
    assert_eq!(seen.path_and_query, "/v2/models/m/infer?trace=1&x=%20y");
    assert_eq!(seen.body, &b"{\"inputs\": []}"[..]);
    let get = |k: &str| seen.headers.get(k).map(|v| v.as_bytes().to_vec());
    assert_eq!(get("x-request-id"), Some(b"abc".to_vec()));
    assert_eq!(get("content-type"), Some(b"application/json".to_vec()));
    for hop in ["x-secret", "proxy-authorization"] {
        assert_eq!(get(hop), None, "{hop} forwarded: {:?}", seen.headers);
    }

    // A large body streams through whole; the in-flight counter ends at zero.
    let response = send(&client, get_req(gw, "/big")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await.len(), 1 << 20);
    assert_eq!(up.hits(), 2);
}

fn get_req(addr: std::net::SocketAddr, path: &str) -> Request<Full<Bytes>> {
    support::get(addr, path)
}

#[tokio::test]
async fn least_outstanding_and_container_concurrency_cap() {
    let mut a = Upstream::start().await;
    let mut b = Upstream::start().await;
    let rev = revision(&[a.addr.clone(), b.addr.clone()], 1);
    let gw = gateway(ProxyConfig::default(), Arc::clone(&rev), LONG).await;
    let client = client();
    let outstanding = || -> Vec<usize> { rev.endpoints.iter().map(|e| e.outstanding()).collect() };

    // First request: held before its headers on one replica.
    let first = tokio::spawn({
        let client = client.clone();
        async move { send(&client, get_req(gw, "/hold-headers")).await }
    });
    let (release_first, first_on_a) = tokio::select! {
        tx = a.arrival() => (tx, true),
        tx = b.arrival() => (tx, false),
    };
    assert_eq!(outstanding().iter().sum::<usize>(), 1);

    // Second: must go to the other, idle replica (least outstanding), body held open.
    let second = send(&client, get_req(gw, "/hold-body")).await;
    assert_eq!(second.status(), StatusCode::OK);
    let release_second = if first_on_a {
        b.arrival().await
    } else {
        a.arrival().await
    };
    assert_eq!(outstanding(), [1, 1], "one request per replica");

    // Both replicas at containerConcurrency=1: the third is refused at once, nothing forwarded.
    let hits = a.hits() + b.hits();
    let third = send(&client, get_req(gw, "/echo")).await;
    assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        third.headers().get(RETRY_AFTER).map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let body = text(third).await;
    assert!(body.contains("at capacity"), "{body}");
    assert_eq!(a.hits() + b.hits(), hits);

    // The second's headers arrived but its body has not ended: it still counts.
    assert_eq!(outstanding(), [1, 1]);
    release_second.send(()).expect("replica holds the body");
    assert_eq!(text(second).await, "first,last");
    eventually("the streamed response's slot to be released", || {
        outstanding().iter().sum::<usize>() == 1
    })
    .await;

    release_first.send(()).expect("replica holds the request");
    let first = within("the first response", first).await.expect("task");
    assert_eq!(text(first).await, "released");
    eventually("every slot to be released", || outstanding() == [0, 0]).await;

    // With room again, requests flow.
    let ok = send(&client, get_req(gw, "/echo")).await;
    assert_eq!(ok.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn slow_upstream_gets_504_and_stalled_body_is_cut_off() {
    let mut up = Upstream::start().await;
    let rev = revision(&[up.addr.clone()], 0);
    let gw = gateway(
        ProxyConfig::default(),
        Arc::clone(&rev),
        Duration::from_millis(300),
    )
    .await;
    let client = client();

    let response = send(&client, get_req(gw, "/hold-headers")).await;
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let body = text(response).await;
    assert!(
        body.starts_with("{\"error\":") && body.contains("timeout"),
        "{body}"
    );
    let _held = up.arrival().await;
    assert_eq!(rev.endpoints[0].outstanding(), 0);

    // Headers in time, body not: the client sees a truncated body, the slot comes back.
    let response = send(&client, get_req(gw, "/hold-body")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let _held_body = up.arrival().await;
    let read = within("the cut-off body", response.into_body().collect()).await;
    assert!(read.is_err(), "a stalled body must not end cleanly");
    eventually("the slot to be released", || {
        rev.endpoints[0].outstanding() == 0
    })
    .await;
}

#[tokio::test]
async fn dead_replica_gets_502() {
    let dead = dead_addr().await;
    let rev = revision(std::slice::from_ref(&dead), 0);
    let gw = gateway(ProxyConfig::default(), Arc::clone(&rev), LONG).await;
    let response = send(&client(), get_req(gw, "/v1/models/m:predict")).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = text(response).await;
    assert!(
        body.contains(&dead.to_string()) && body.contains("r-00001"),
        "{body}"
    );
    assert_eq!(rev.endpoints[0].outstanding(), 0);
}

#[tokio::test]
async fn no_replica_gets_503() {
    let gw = gateway(ProxyConfig::default(), revision(&[], 0), LONG).await;
    let response = send(&client(), get_req(gw, "/v1/models/m")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(RETRY_AFTER));
    assert!(text(response).await.contains("no ready replica"));
}

#[tokio::test]
async fn retries_once_on_a_live_replica_when_the_chosen_one_is_dead() {
    let mut live = Upstream::start().await;
    let dead = dead_addr().await;
    let rev = revision(&[dead, live.addr.clone()], 0);
    let gw = gateway(ProxyConfig::default(), Arc::clone(&rev), LONG).await;
    let client = client();

    // Hold one request on the live replica so least-outstanding must choose the dead one first.
    let held = tokio::spawn({
        let client = client.clone();
        async move { send(&client, get_req(gw, "/hold-headers")).await }
    });
    let release = live.arrival().await;
    assert_eq!(
        (
            rev.endpoints[0].outstanding(),
            rev.endpoints[1].outstanding()
        ),
        (0, 1)
    );

    let req = Request::post(format!("http://{gw}/v2/models/m/infer"))
        .body(Full::new(Bytes::from_static(b"payload")))
        .expect("request");
    let response = send(&client, req).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        text(response).await,
        "echo:payload",
        "the body is sent again on retry"
    );
    assert_eq!(rev.endpoints[0].outstanding(), 0);

    release.send(()).expect("held");
    let held = within("the held response", held).await.expect("task");
    assert_eq!(held.status(), StatusCode::OK);
}

/// A replica that accepts connections and serves `responses` in turn, one per connection: each
/// reads the request head, then writes its bytes (empty: none) and closes.
async fn raw_replica(responses: Vec<&'static [u8]>) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connections);
    tokio::spawn(async move {
        for response in responses {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let mut head = Vec::new();
            let mut buf = [0_u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(response).await;
            let _ = stream.shutdown().await;
        }
    });
    (addr, connections)
}

#[tokio::test]
async fn retries_on_the_same_replica_when_it_closed_the_connection_before_responding() {
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
    let (addr, connections) = raw_replica(vec![b"", OK]).await;
    let gw = gateway(ProxyConfig::default(), revision(&[addr.into()], 0), LONG).await;
    let response = send(&client(), get_req(gw, "/v2/models/m/infer")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "ok");
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn never_retries_after_response_headers() {
    const CUT: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc";
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    let (addr, connections) = raw_replica(vec![CUT, OK]).await;
    let rev = revision(&[addr.into()], 0);
    let gw = gateway(ProxyConfig::default(), Arc::clone(&rev), LONG).await;
    let response = send(&client(), get_req(gw, "/v2/models/m/infer")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let read = within("the truncated body", response.into_body().collect()).await;
    assert!(read.is_err(), "a truncated body must not end cleanly");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
    eventually("the slot to be released", || {
        rev.endpoints[0].outstanding() == 0
    })
    .await;
}

#[tokio::test]
async fn body_over_the_limit_gets_413_and_is_not_forwarded() {
    let up = Upstream::start().await;
    let config = ProxyConfig {
        max_body_bytes: 16,
        ..ProxyConfig::default()
    };
    let rev = revision(std::slice::from_ref(&up.addr), 0);
    let gw = gateway(config, Arc::clone(&rev), LONG).await;
    let client = client();
    let post = |body: &'static [u8]| {
        Request::post(format!("http://{gw}/v2/models/m/infer"))
            .body(Full::new(Bytes::from_static(body)))
            .expect("request")
    };
    let response = send(&client, post(&[b'x'; 100])).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = text(response).await;
    assert!(body.contains("16 bytes"), "{body}");
    assert_eq!(up.hits(), 0);
    assert_eq!(rev.endpoints[0].outstanding(), 0);
    // At the limit is fine.
    let response = send(&client, post(&[b'x'; 16])).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn reaches_replicas_on_unix_sockets_and_retries_past_a_dead_one() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut up = Upstream::start_on(&ListenAddr::Unix(dir.path().join("live.sock"))).await;
    let dead = ListenAddr::Unix(dir.path().join("dead.sock"));

    // Alone, the dead socket is a 502 that names it.
    let gw = gateway(
        ProxyConfig::default(),
        revision(std::slice::from_ref(&dead), 0),
        LONG,
    )
    .await;
    let response = send(&client(), get_req(gw, "/v2/models/m/infer")).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body = text(response).await;
    assert!(body.contains(&dead.to_string()), "{body}");

    // Next to a live one, every request reaches the live one, headers and body intact, over
    // pooled connections.
    let rev = revision(&[dead, up.addr.clone()], 0);
    let gw = gateway(ProxyConfig::default(), Arc::clone(&rev), LONG).await;
    let client = client();
    for i in 0..4 {
        let req = Request::post(format!("http://{gw}/v2/models/m/infer?i={i}"))
            .header("x-request-id", "unix")
            .body(Full::new(Bytes::from_static(b"{}")))
            .expect("request");
        let response = send(&client, req).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(text(response).await, "echo:{}");
        let seen = within("the upstream's record", up.seen.recv())
            .await
            .expect("recorded");
        assert_eq!(seen.path_and_query, format!("/v2/models/m/infer?i={i}"));
        assert_eq!(
            seen.headers.get("x-request-id").map(|v| v.as_bytes()),
            Some(&b"unix"[..])
        );
    }
    assert_eq!(up.hits(), 4);
    eventually("the slots to be released", || {
        rev.endpoints.iter().all(|e| e.outstanding() == 0)
    })
    .await;
}

/// A replica that answers `200 ok` to every request of a connection, and closes each connection
/// after `per_connection` answers (without saying so: as a replica that restarted would).
async fn keep_alive_replica(per_connection: usize) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut pending = Vec::new();
                let mut buf = [0_u8; 1024];
                for _ in 0..per_connection {
                    // One GET head per request.
                    while !pending.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                        }
                    }
                    let end = pending
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .expect("a whole head");
                    pending.drain(..end + 4);
                    if stream.write_all(OK).await.is_err() {
                        return;
                    }
                }
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, connections)
}

#[tokio::test]
async fn reuses_idle_connections_and_replaces_closed_ones() {
    let (addr, connections) = keep_alive_replica(2).await;
    let rev = revision(&[addr.into()], 0);
    let gw = gateway(ProxyConfig::default(), Arc::clone(&rev), LONG).await;
    let client = client();
    for i in 1..=3 {
        let response = send(&client, get_req(gw, "/v2/health/ready")).await;
        assert_eq!(response.status(), StatusCode::OK, "request {i}");
        assert_eq!(text(response).await, "ok");
        // The second request reuses the first one's connection; the replica then closes it, so
        // the third needs a new one (found closed at checkout, or failed and retried).
        let expected = if i <= 2 { 1 } else { 2 };
        assert_eq!(connections.load(Ordering::SeqCst), expected, "request {i}");
        if i != 2 {
            // (After the second, the pool may or may not have seen the close yet.)
            eventually("the connection back in the pool", || {
                rev.endpoints[0].idle().len() == 1
            })
            .await;
        }
    }
    assert_eq!(rev.endpoints[0].outstanding(), 0);
}
