//! Where a server listens: a TCP address or a Unix domain socket, behind one [`Accept`] trait so
//! that the accept loop ([`super::serve`]) is written once.
//!
//! A Unix socket is how `infergate serve` reaches its local predictor pods: HTTP/1.1 keep-alive
//! over a Unix socket does ~1.7x the requests/s of loopback TCP between two processes
//! (BENCHMARKS.md, transport). Its file is a [`SocketFile`]: a stale one (nobody listening) is
//! replaced when binding, and the file is removed when the listener is dropped.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// A listener the accept loop can serve: `TcpListener` (accepted streams get `TCP_NODELAY`) or
/// `UnixListener`.
pub trait Accept: Send + Sync + 'static {
    /// One accepted connection.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Who connected, for logs.
    type Peer: fmt::Debug + Send + 'static;

    /// The next connection.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Io, Self::Peer)>> + Send;
}

/// Where a server listens, written the way the predictor's ready line prints it:
/// `http://HOST:PORT` or `unix:PATH`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    /// HTTP over TCP.
    Tcp(SocketAddr),
    /// HTTP over the Unix domain socket at this path.
    Unix(PathBuf),
}

/// Why a string is not a [`ListenAddr`].
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ListenAddrError {
    #[error("listen address `{0}` must start with `http://` or `unix:`")]
    Scheme(String),
    #[error("listen address `{value}` is no HOST:PORT after `http://`: {problem}")]
    Tcp { value: String, problem: String },
    #[error("listen address `unix:` needs a socket path after it")]
    EmptyPath,
}

/// A bound listener: TCP or a Unix socket (with its file, removed when this is dropped).
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, SocketFile),
}

/// The file of a bound Unix socket; dropping it removes the file (if it is still a socket).
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
}

// === impl Accept ===

impl Accept for TcpListener {
    type Io = TcpStream;
    type Peer = SocketAddr;

    async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = TcpListener::accept(self).await?;
        // Small request/response exchanges: never wait for Nagle.
        let _ = stream.set_nodelay(true);
        Ok((stream, peer))
    }
}

impl Accept for UnixListener {
    type Io = UnixStream;
    type Peer = tokio::net::unix::SocketAddr;

    async fn accept(&self) -> io::Result<(UnixStream, Self::Peer)> {
        UnixListener::accept(self).await
    }
}

// === impl ListenAddr ===

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "http://{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl FromStr for ListenAddr {
    type Err = ListenAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if let Some(hostport) = s.strip_prefix("http://") {
            let hostport = hostport.trim_end_matches('/');
            return hostport
                .parse()
                .map(ListenAddr::Tcp)
                .map_err(|e: std::net::AddrParseError| ListenAddrError::Tcp {
                    value: s.to_owned(),
                    problem: e.to_string(),
                });
        }
        match s.strip_prefix("unix:") {
            Some("") => Err(ListenAddrError::EmptyPath),
            Some(path) => Ok(ListenAddr::Unix(PathBuf::from(path))),
            None => Err(ListenAddrError::Scheme(s.to_owned())),
        }
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        ListenAddr::Tcp(addr)
    }
}

// === impl Listener ===

impl Listener {
    /// Binds `addr` and returns the listener with the address actually bound (TCP port 0 picks
    /// a free port). A Unix socket file nobody listens on any more is replaced; a live one, or a
    /// path that is not a socket, is an error.
    pub async fn bind(addr: &ListenAddr) -> io::Result<(Listener, ListenAddr)> {
        match addr {
            ListenAddr::Tcp(addr) => {
                let listener = TcpListener::bind(*addr).await?;
                let bound = listener.local_addr()?;
                Ok((Listener::Tcp(listener), ListenAddr::Tcp(bound)))
            }
            ListenAddr::Unix(path) => {
                remove_stale_socket(path)?;
                let listener = UnixListener::bind(path)?;
                let file = SocketFile { path: path.clone() };
                Ok((
                    Listener::Unix(listener, file),
                    ListenAddr::Unix(path.clone()),
                ))
            }
        }
    }
}

/// Removes `path` if it is a socket nobody accepts on (left by a killed server).
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("another server listens on {}", path.display()),
        ));
    }
    std::fs::remove_file(path)
}

// === impl SocketFile ===

impl SocketFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let is_socket =
            std::fs::symlink_metadata(&self.path).is_ok_and(|meta| meta.file_type().is_socket());
        if is_socket && let Err(e) = std::fs::remove_file(&self.path) {
            tracing::debug!(path = %self.path.display(), error = %e, "Cannot remove the socket file.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_print_and_parse_back() {
        for (text, addr) in [
            (
                "http://127.0.0.1:8080",
                ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], 8080))),
            ),
            (
                "http://[::1]:9",
                ListenAddr::Tcp("[::1]:9".parse().expect("addr")),
            ),
            (
                "unix:/tmp/a b/p.sock",
                ListenAddr::Unix("/tmp/a b/p.sock".into()),
            ),
        ] {
            assert_eq!(text.parse::<ListenAddr>(), Ok(addr.clone()));
            assert_eq!(addr.to_string(), text);
        }
        assert_eq!(
            "http://127.0.0.1:1/\r\n".parse::<ListenAddr>(),
            Ok(ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], 1))))
        );
        assert_eq!(
            "unix:".parse::<ListenAddr>(),
            Err(ListenAddrError::EmptyPath)
        );
        assert!(matches!(
            "http://nope".parse::<ListenAddr>(),
            Err(ListenAddrError::Tcp { .. })
        ));
        assert_eq!(
            "tcp://1.2.3.4:5".parse::<ListenAddr>(),
            Err(ListenAddrError::Scheme("tcp://1.2.3.4:5".into()))
        );
    }

    #[tokio::test]
    async fn a_unix_socket_replaces_a_stale_file_refuses_a_live_one_and_is_removed_on_drop() {
        let dir = std::env::temp_dir().join(format!("infergate-listen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the test directory");
        let path = dir.join("p.sock");
        let addr = ListenAddr::Unix(path.clone());

        // A socket file whose listener is gone: replaced.
        drop(std::os::unix::net::UnixListener::bind(&path).expect("bind a stale socket"));
        assert!(path.exists(), "std leaves the file behind");
        let (listener, bound) = Listener::bind(&addr)
            .await
            .expect("replaces the stale file");
        assert_eq!(bound, addr);

        // Someone listens on it: refused, and the live socket is untouched.
        let err = Listener::bind(&addr).await.expect_err("the socket is live");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert!(path.exists());

        drop(listener);
        assert!(!path.exists(), "dropping the listener removes its file");

        // A regular file is never removed.
        std::fs::write(&path, b"data").expect("write a regular file");
        let err = Listener::bind(&addr).await.expect_err("not a socket");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
        assert_eq!(std::fs::read(&path).expect("still there"), b"data");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
