//! The other side of `infergate-bench transport`: a hyper HTTP/1.1 server in its own process,
//! started by the benchmark as `infergate-bench transport-server --tcp ADDR | --unix PATH`.
//!
//! It answers every request with the same iris-sized V2 JSON response after reading the whole
//! request body, and prints `listening ADDR` (or `listening PATH`) on stdout once it accepts.

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};

use super::RESPONSE_BODY;

/// Options of the hidden `transport-server` subcommand.
#[derive(clap::Args, Clone, Debug)]
#[group(required = true, multiple = false)]
pub struct TransportServerArgs {
    /// Listen on this TCP address (e.g. 127.0.0.1:0); accepted connections get TCP_NODELAY.
    #[arg(long)]
    pub tcp: Option<SocketAddr>,
    /// Listen on this Unix domain socket path (an existing file there is replaced).
    #[arg(long)]
    pub unix: Option<PathBuf>,
}

/// Serves until killed.
pub async fn serve(args: &TransportServerArgs) -> anyhow::Result<()> {
    match (&args.tcp, &args.unix) {
        (Some(addr), _) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("--tcp {addr}: bind"))?;
            announce(&listener.local_addr()?.to_string())?;
            accept_tcp(listener).await
        }
        (None, Some(path)) => {
            let _ = std::fs::remove_file(path);
            let listener = UnixListener::bind(path)
                .with_context(|| format!("--unix {}: bind", path.display()))?;
            announce(&path.display().to_string())?;
            accept_unix(listener).await
        }
        (None, None) => anyhow::bail!("one of --tcp or --unix is required"),
    }
}

/// Serves every connection accepted on `listener`, with TCP_NODELAY, until an accept fails.
pub(super) async fn accept_tcp(listener: TcpListener) -> anyhow::Result<()> {
    loop {
        let (stream, _) = listener.accept().await.context("accepting on TCP")?;
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;
        tokio::spawn(serve_connection(stream));
    }
}

/// Serves every connection accepted on `listener` until an accept fails.
pub(super) async fn accept_unix(listener: UnixListener) -> anyhow::Result<()> {
    loop {
        let (stream, _) = listener.accept().await.context("accepting on Unix")?;
        tokio::spawn(serve_connection(stream));
    }
}

/// Tells the parent where to connect.
fn announce(address: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {address}")?;
    stdout.flush()?;
    Ok(())
}

/// One keep-alive connection; its errors (a client going away) end it quietly.
async fn serve_connection<S>(stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service_fn(answer))
        .await;
}

/// Reads the request body in full (as a predictor does), then answers the fixed response.
async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let status = match request.into_body().collect().await {
        Ok(_) => http::StatusCode::OK,
        Err(_) => http::StatusCode::BAD_REQUEST,
    };
    let mut response = Response::new(Full::new(Bytes::from_static(RESPONSE_BODY.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
