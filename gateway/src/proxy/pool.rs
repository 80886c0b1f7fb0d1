//! Keep-alive connections to one replica, each driven by the request that uses it.
//!
//! hyper-util's pooled client spawns a task per connection: every proxied request then hops
//! between the request's task and the connection's task (and often between threads) on the way
//! out and again on the way back. Here a connection is a hyper HTTP/1.1 `SendRequest` plus its
//! `Connection` future, and the request that checked it out polls both itself: from sending the
//! request until the end of the response body, the whole exchange runs in the task of the
//! client's connection. Idle connections wait in a small LIFO per replica (the warmest first),
//! and one found closed (the replica restarted or closed it) is dropped at checkout.
//!
//! ```text
//! checkout (LIFO, skip closed/expired) or connect ─ ready ─ send + drive ─ headers
//!   ─ response body, driving the connection ─ end of body ─ check in (≤ max idle)
//! ```

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use infergate_predictor::http::ListenAddr;
use tokio::time::Instant;

use super::connect::{ConnectError, PodStream};

/// How idle connections are kept.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolConfig {
    /// At most this many idle connections per replica; more are closed.
    pub(crate) max_idle: usize,
    /// An idle connection older than this is closed.
    pub(crate) idle_timeout: Duration,
    /// How long opening a connection may take.
    pub(crate) connect_timeout: Duration,
}

/// One HTTP/1.1 connection to a replica, driven by whoever holds it.
#[derive(Debug)]
pub(crate) struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    /// `None` once the connection is over (closed or failed).
    driver: Option<http1::Connection<PodStream, Full<Bytes>>>,
}

/// The idle connections of one replica.
#[derive(Debug, Default)]
pub(crate) struct Idle {
    /// Oldest at the front; checkout takes the back (the warmest).
    conns: Mutex<VecDeque<(Conn, Instant)>>,
}

// === impl Conn ===

impl Conn {
    /// Opens a new connection to `addr`.
    pub(crate) async fn connect(
        addr: &ListenAddr,
        timeout: Duration,
    ) -> Result<Conn, UpstreamError> {
        let stream = PodStream::connect(addr, timeout).await?;
        // The HTTP/1.1 handshake does no I/O: it only sets the connection up.
        let (sender, driver) = http1::handshake(stream).await?;
        Ok(Conn {
            sender,
            driver: Some(driver),
        })
    }

    /// Polls the connection's I/O (reads the response, writes the request). Once it is over,
    /// it is dropped, which fails whatever was waiting on it.
    pub(crate) fn drive(&mut self, cx: &mut Context<'_>) {
        if let Some(driver) = &mut self.driver
            && Pin::new(driver).poll(cx).is_ready()
        {
            self.driver = None;
        }
    }

    /// Whether the connection can take another request.
    fn is_open(&self) -> bool {
        self.driver.is_some() && !self.sender.is_closed()
    }

    /// Sends `req` and waits for the response headers, driving the connection meanwhile.
    pub(crate) async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        // Ready first: a reused connection takes its next request once it has gone idle.
        poll_fn(|cx| {
            self.drive(cx);
            if self.driver.is_none() {
                return Poll::Ready(Err(UpstreamError::Closed));
            }
            self.sender
                .poll_ready(cx)
                .map_err(|_closed| UpstreamError::Closed)
        })
        .await?;
        let mut response = std::pin::pin!(self.sender.send_request(req));
        let response = poll_fn(|cx| {
            self.drive(cx);
            response.as_mut().poll(cx)
        })
        .await?;
        Ok(response)
    }

    /// Whether the connection still looks open, polling it once without a waker: an end of file
    /// that has already arrived closes it here.
    fn check(&mut self) -> bool {
        self.drive(&mut Context::from_waker(Waker::noop()));
        self.is_open()
    }
}

// === impl Idle ===

impl Idle {
    /// The most recently used idle connection that is still open and not expired.
    pub(crate) fn checkout(&self, config: &PoolConfig) -> Option<Conn> {
        loop {
            let (mut conn, since) = self.lock().pop_back()?;
            if since.elapsed() <= config.idle_timeout && conn.check() {
                return Some(conn);
            }
        }
    }

    /// Keeps `conn` for the next request if it is open and there is room; closes expired ones.
    pub(crate) fn checkin(&self, mut conn: Conn, config: &PoolConfig) {
        if !conn.check() {
            return;
        }
        let now = Instant::now();
        let mut conns = self.lock();
        while conns
            .front()
            .is_some_and(|(_, since)| now.duration_since(*since) > config.idle_timeout)
        {
            conns.pop_front();
        }
        if conns.len() < config.max_idle {
            conns.push_back((conn, now));
        }
    }

    /// Idle connections kept now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Conn, Instant)>> {
        // One push or pop per critical section: the queue is consistent across a panic.
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why an exchange with a replica failed before its response headers.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("the connection closed before the request was sent")]
    Closed,
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

// === impl UpstreamError ===

impl UpstreamError {
    /// Whether another attempt may succeed: the connection failed or was closed before any
    /// response (connect refused, reset, closed mid-request: a replica that died or is
    /// stopping). Anything else (a malformed response, say) is not retried.
    pub(crate) fn is_retryable(&self) -> bool {
        use std::error::Error as _;
        let h = match self {
            UpstreamError::Connect(_) | UpstreamError::Closed => return true,
            UpstreamError::Http(h) => h,
        };
        if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
            return true;
        }
        let mut source = h.source();
        while let Some(cause) = source {
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::*;
                if matches!(
                    io.kind(),
                    ConnectionRefused
                        | ConnectionReset
                        | ConnectionAborted
                        | BrokenPipe
                        | UnexpectedEof
                ) {
                    return true;
                }
            }
            source = cause.source();
        }
        false
    }
}
