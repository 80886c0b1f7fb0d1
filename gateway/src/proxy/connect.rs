//! Opening a connection to a replica: loopback TCP (with `TCP_NODELAY`) or a Unix domain socket,
//! within the connect timeout.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;
use infergate_predictor::http::ListenAddr;
use tokio::net::{TcpStream, UnixStream};

/// A connection to a replica.
#[derive(Debug)]
pub(crate) enum PodStream {
    Tcp(TokioIo<TcpStream>),
    Unix(TokioIo<UnixStream>),
}

/// Why a connection to a replica could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot connect: {0}")]
    Io(#[source] io::Error),
    #[error("cannot connect: no connection within {0:?}")]
    Timeout(Duration),
}

// === impl PodStream ===

impl PodStream {
    /// Connects to `addr` within `timeout`.
    pub(crate) async fn connect(
        addr: &ListenAddr,
        timeout: Duration,
    ) -> Result<PodStream, ConnectError> {
        let connecting = async {
            match addr {
                ListenAddr::Tcp(addr) => {
                    let stream = TcpStream::connect(addr).await?;
                    // Small request/response exchanges: never wait for Nagle.
                    stream.set_nodelay(true)?;
                    Ok(PodStream::Tcp(TokioIo::new(stream)))
                }
                ListenAddr::Unix(path) => {
                    let stream = UnixStream::connect(path).await?;
                    Ok(PodStream::Unix(TokioIo::new(stream)))
                }
            }
        };
        match tokio::time::timeout(timeout, connecting).await {
            Ok(connected) => connected.map_err(ConnectError::Io),
            Err(_elapsed) => Err(ConnectError::Timeout(timeout)),
        }
    }
}

impl Read for PodStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PodStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            PodStream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl Write for PodStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PodStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            PodStream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PodStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            PodStream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            PodStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            PodStream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            PodStream::Tcp(s) => s.is_write_vectored(),
            PodStream::Unix(s) => s.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            PodStream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            PodStream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }
}
