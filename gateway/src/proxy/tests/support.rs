//! Real HTTP on 127.0.0.1:0: upstream replicas that can hold their responses open, a gateway
//! that forwards to one revision, and a client.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use infergate_predictor::http::{ListenAddr, Listener, SocketFile};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::proxy::{Endpoint, Proxy, ProxyConfig};
use crate::route::RevisionRoute;

/// Bound on every wait in these tests.
pub(super) const WAIT: Duration = Duration::from_secs(10);

/// Awaits `fut`, failing the test past [`WAIT`].
pub(super) async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(out) => out,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// Polls `cond` until it holds, failing the test past [`WAIT`]. For atomic counters, which
/// cannot be awaited.
pub(super) async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// What an upstream saw of one request.
#[derive(Debug)]
pub(super) struct Seen {
    pub(super) path_and_query: String,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

/// A replica. Paths:
/// - `/hold-headers`: reports arrival with a release sender, answers 200 once released;
/// - `/hold-body`: answers 200 at once with a first chunk, and ends the body once released;
/// - `/big`: 1 MiB of `x`;
/// - anything else: 201 with `x-upstream: yes`, `keep-alive: timeout=5` and the body `echo:` +
///   the request body, after recording the request in `seen`.
pub(super) struct Upstream {
    pub(super) addr: ListenAddr,
    /// The socket file of an upstream on a Unix socket, removed with it.
    _socket: Option<SocketFile>,
    pub(super) hits: Arc<AtomicUsize>,
    pub(super) arrived: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    pub(super) seen: mpsc::UnboundedReceiver<Seen>,
}

type UpstreamBody = UnsyncBoxBody<Bytes, Infallible>;

impl Upstream {
    /// An upstream on 127.0.0.1:0.
    pub(super) async fn start() -> Upstream {
        Self::start_on(&ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], 0)))).await
    }

    /// An upstream on `addr` (TCP or a Unix socket).
    pub(super) async fn start_on(addr: &ListenAddr) -> Upstream {
        let (listener, addr) = Listener::bind(addr).await.expect("bind upstream");
        let hits = Arc::new(AtomicUsize::new(0));
        let (arrived_tx, arrived) = mpsc::unbounded_channel();
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let handler = {
            let hits = Arc::clone(&hits);
            move |req: Request<Incoming>| {
                hits.fetch_add(1, Ordering::SeqCst);
                let arrived = arrived_tx.clone();
                let seen = seen_tx.clone();
                async move { upstream_handler(req, arrived, seen).await }
            }
        };
        let (stop, drain) = (std::future::pending(), Duration::from_secs(1));
        let _socket = match listener {
            Listener::Tcp(l) => {
                tokio::spawn(infergate_predictor::http::serve(l, handler, stop, drain));
                None
            }
            Listener::Unix(l, file) => {
                tokio::spawn(infergate_predictor::http::serve(l, handler, stop, drain));
                Some(file)
            }
        };
        Upstream {
            addr,
            _socket,
            hits,
            arrived,
            seen,
        }
    }

    /// Waits for a held request to arrive and returns the sender that releases it.
    pub(super) async fn arrival(&mut self) -> oneshot::Sender<()> {
        within("a held request to arrive", self.arrived.recv())
            .await
            .expect("upstream running")
    }

    pub(super) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn upstream_handler(
    req: Request<Incoming>,
    arrived: mpsc::UnboundedSender<oneshot::Sender<()>>,
    seen: mpsc::UnboundedSender<Seen>,
) -> Response<UpstreamBody> {
    let full = |status: StatusCode, body: Bytes| {
        let mut r = Response::new(Full::new(body).boxed_unsync());
        *r.status_mut() = status;
        r
    };
    match req.uri().path() {
        "/hold-headers" => {
            let (tx, rx) = oneshot::channel();
            let _ = arrived.send(tx);
            let _ = rx.await;
            full(StatusCode::OK, Bytes::from_static(b"released"))
        }
        "/hold-body" => {
            let (tx, rx) = oneshot::channel();
            let _ = arrived.send(tx);
            let body = HeldBody {
                first: Some(Bytes::from_static(b"first,")),
                release: rx,
                last: Some(Bytes::from_static(b"last")),
            };
            Response::new(body.boxed_unsync())
        }
        "/big" => full(StatusCode::OK, Bytes::from(vec![b'x'; 1 << 20])),
        _ => {
            let path_and_query = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|c| c.to_bytes())
                .unwrap_or_default();
            let mut echo = b"echo:".to_vec();
            echo.extend_from_slice(&body);
            let _ = seen.send(Seen {
                path_and_query,
                headers: parts.headers,
                body,
            });
            let mut r = full(StatusCode::CREATED, Bytes::from(echo));
            r.headers_mut()
                .insert("x-upstream", "yes".parse().expect("value"));
            r.headers_mut()
                .insert("keep-alive", "timeout=5".parse().expect("value"));
            r
        }
    }
}

/// A body that sends `first`, then waits for `release` before sending `last`.
struct HeldBody {
    first: Option<Bytes>,
    release: oneshot::Receiver<()>,
    last: Option<Bytes>,
}

impl Body for HeldBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        if self.last.is_none() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.release).poll(cx) {
            Poll::Ready(_) => Poll::Ready(self.last.take().map(|b| Ok(Frame::data(b)))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// An address nothing listens on: bound, then closed.
pub(super) async fn dead_addr() -> ListenAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    ListenAddr::Tcp(listener.local_addr().expect("addr"))
}

/// A revision `r-00001` over these replicas.
pub(super) fn revision(addrs: &[ListenAddr], container_concurrency: usize) -> Arc<RevisionRoute> {
    Arc::new(RevisionRoute {
        name: "r-00001".to_owned(),
        endpoints: addrs
            .iter()
            .map(|a| Endpoint::new("r-00001", a.clone(), container_concurrency))
            .collect(),
        container_concurrency,
        scaling: None,
        transformer: None,
    })
}

/// A gateway on 127.0.0.1:0 forwarding every request to `revision` within `timeout`.
pub(super) async fn gateway(
    config: ProxyConfig,
    revision: Arc<RevisionRoute>,
    timeout: Duration,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("gateway addr");
    let proxy = Proxy::new(config);
    let handler = move |req: Request<Incoming>| {
        let proxy = proxy.clone();
        let revision = Arc::clone(&revision);
        async move { proxy.forward(&revision, req, timeout).await }
    };
    tokio::spawn(infergate_predictor::http::serve(
        listener,
        handler,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    addr
}

pub(super) fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Sends `req` through `client`, failing the test on a transport error.
pub(super) async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Response<Incoming> {
    within("response headers", client.request(req))
        .await
        .expect("the gateway answers")
}

/// A request to `path` on the gateway at `addr`.
pub(super) fn get(addr: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("http://{addr}{path}"))
        .body(Full::default())
        .expect("request")
}

/// The whole body, as text.
pub(super) async fn text(response: Response<Incoming>) -> String {
    let body = within("the response body", response.into_body().collect())
        .await
        .expect("a complete body")
        .to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}
