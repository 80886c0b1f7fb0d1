//! The streamed response body: holds the replica's in-flight slot and the connection it arrives
//! on until the body ends (driving that connection meanwhile), gives the connection back to the
//! replica's idle pool when the body ended cleanly, and stops at the request deadline.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::Sleep;

use super::BoxError;
use super::endpoint::InFlight;
use super::pool::{Conn, PoolConfig};

/// The upstream response body, passed through frame by frame (never buffered). The in-flight slot
/// is released when the body ends, fails, passes the deadline or is dropped (client gone), so
/// `outstanding` counts whole responses, not just their headers. The connection goes back to the
/// idle pool only after a clean end; otherwise it is closed.
#[derive(Debug)]
pub(crate) struct Guarded {
    inner: Incoming,
    /// `None` once the body is over.
    in_flight: Option<InFlight>,
    /// The connection the body arrives on; `None` once the body is over.
    conn: Option<Conn>,
    pool: PoolConfig,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
    /// An error of the upstream body, returned one poll later (see `poll_frame`).
    deferred: Option<BoxError>,
}

/// The response body did not finish within the request timeout; the response is cut off.
#[derive(Debug, thiserror::Error)]
#[error("the response body did not finish within the request timeout of {timeout:?}")]
pub struct BodyTimeout {
    pub timeout: Duration,
}

// === impl Guarded ===

impl Guarded {
    pub(crate) fn new(
        inner: Incoming,
        in_flight: InFlight,
        conn: Conn,
        pool: PoolConfig,
        deadline: Pin<Box<Sleep>>,
        timeout: Duration,
    ) -> Guarded {
        let mut guarded = Guarded {
            inner,
            in_flight: Some(in_flight),
            conn: Some(conn),
            pool,
            deadline,
            timeout,
            deferred: None,
        };
        if guarded.inner.is_end_stream() {
            guarded.finish(true);
        }
        guarded
    }

    /// The body is over: the connection goes back to the pool (`reuse`) or is closed, then the
    /// slot is released (in that order, so the next request can find the connection).
    fn finish(&mut self, reuse: bool) {
        let conn = self.conn.take();
        if let Some(in_flight) = self.in_flight.take()
            && let Some(conn) = conn
            && reuse
        {
            in_flight.endpoint().idle().checkin(conn, &self.pool);
        }
    }

    /// Polls the body for its next frame, driving the connection when none is buffered yet.
    fn poll_inner(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match &mut self.conn {
            Some(conn) => {
                conn.drive(cx);
                Pin::new(&mut self.inner).poll_frame(cx)
            }
            None => Poll::Pending,
        }
    }
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(e) = this.deferred.take() {
            return Poll::Ready(Some(Err(e)));
        }
        if this.in_flight.is_none() {
            return Poll::Ready(None);
        }
        match this.poll_inner(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.finish(true);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                // The connection is driven from here, so the error can come in the same poll as
                // the frames before it, before the server has flushed them (and the response
                // head). Yield once first: what arrived goes out, and the client sees the
                // replica's status and the body up to where it was cut off.
                this.finish(false);
                this.deferred = Some(e.into());
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(None) => {
                this.finish(true);
                Poll::Ready(None)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.finish(false);
                    let timeout = this.timeout;
                    Poll::Ready(Some(Err(Box::new(BodyTimeout { timeout }))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.deferred.is_none() && (self.in_flight.is_none() || self.inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
