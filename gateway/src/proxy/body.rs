//! The streamed response body: holds the replica's in-flight slot until the body ends and stops
//! at the request deadline.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::Sleep;

use super::BoxError;
use super::endpoint::InFlight;

/// The upstream response body, passed through frame by frame (never buffered). The in-flight slot
/// is released when the body ends, fails, passes the deadline or is dropped (client gone), so
/// `outstanding` counts whole responses, not just their headers.
#[derive(Debug)]
pub(crate) struct Guarded {
    inner: Incoming,
    /// `None` once the body is over.
    in_flight: Option<InFlight>,
    deadline: Pin<Box<Sleep>>,
    timeout: Duration,
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
        deadline: Pin<Box<Sleep>>,
        timeout: Duration,
    ) -> Guarded {
        let in_flight = (!inner.is_end_stream()).then_some(in_flight);
        Guarded {
            inner,
            in_flight,
            deadline,
            timeout,
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
        if this.in_flight.is_none() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.in_flight = None;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.in_flight = None;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                this.in_flight = None;
                Poll::Ready(None)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.in_flight = None;
                    let timeout = this.timeout;
                    Poll::Ready(Some(Err(Box::new(BodyTimeout { timeout }))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.in_flight.is_none() || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
