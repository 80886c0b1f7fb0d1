//! [`TeeBody`]: a response body passed through frame by frame, with a copy kept for monitoring.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use crate::monitor::{Monitor, Sample};

/// Forwards every frame of `B` unchanged. When recording, it also keeps the data frames (cheap
/// `Bytes` clones, up to the monitor's byte cap) and, at the end of the body, hands the
/// exchange to the monitoring queue without waiting. A body that fails, passes the cap or is
/// dropped before its end (client gone) is not recorded, and counted.
#[derive(Debug)]
pub struct TeeBody<B> {
    inner: B,
    capture: Option<Capture>,
}

#[derive(Debug)]
pub(crate) struct Capture {
    pub(crate) sample: Sample,
    pub(crate) len: usize,
    pub(crate) monitor: Monitor,
}

impl std::fmt::Debug for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sample")
            .field("model", &self.entry.model)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

// === impl TeeBody ===

impl<B: Body> TeeBody<B> {
    /// A body recording into `capture`; one that is already over is recorded at once (nobody
    /// polls an empty body).
    pub(crate) fn new(inner: B, capture: Option<Capture>) -> TeeBody<B> {
        let mut body = TeeBody { inner, capture };
        if body.inner.is_end_stream() {
            body.finish();
        }
        body
    }
}

impl<B> TeeBody<B> {
    /// A body that records nothing.
    pub fn passthrough(inner: B) -> TeeBody<B> {
        TeeBody {
            inner,
            capture: None,
        }
    }

    /// Whether this body will be recorded when it ends.
    pub fn is_recording(&self) -> bool {
        self.capture.is_some()
    }

    fn finish(&mut self) {
        if let Some(Capture {
            sample, monitor, ..
        }) = self.capture.take()
        {
            monitor.send(sample);
        }
    }
}

impl<B> Body for TeeBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(capture) = &mut this.capture
                    && let Some(data) = frame.data_ref()
                {
                    capture.len += data.len();
                    if capture.len > capture.monitor.max_response_bytes() {
                        if let Some(c) = this.capture.take() {
                            c.sample.entry.dropped_too_large.inc();
                        }
                    } else {
                        capture.sample.response.push(data.clone());
                    }
                }
                if this.inner.is_end_stream() {
                    this.finish();
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(c) = this.capture.take() {
                    c.sample.entry.dropped_incomplete.inc();
                }
            }
            Poll::Ready(None) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for TeeBody<B> {
    fn drop(&mut self) {
        if let Some(c) = self.capture.take() {
            c.sample.entry.dropped_incomplete.inc();
        }
    }
}
