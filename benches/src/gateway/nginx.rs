//! nginx as the reference reverse proxy: found, configured and started without root.
//!
//! The config is rendered into a temporary prefix directory (pid file, temp paths and error log
//! all inside it), so nginx runs as whoever runs the benchmark and never touches /etc/nginx or
//! /var/log/nginx. It is a plain keep-alive reverse proxy, tuned the way a careful operator would:
//!
//! ```text
//! client --HTTP/1.1 keep-alive--> nginx 127.0.0.1:PORT --upstream keepalive pool--> predictor
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::server::{ServerError, ServerProcess};

/// The script that installs nginx; named in every "nginx not found" error.
pub(super) const SETUP_SCRIPT: &str = "benches/peers/setup-nginx.sh";
/// Where nginx is looked for after `PATH` (Debian installs it in /usr/sbin).
pub(super) const FALLBACK_PATHS: &[&str] = &[
    "/usr/sbin/nginx",
    "/usr/local/sbin/nginx",
    "/usr/local/nginx/sbin/nginx",
];
/// Requests per keep-alive connection, client side and upstream: high enough that nginx never
/// closes a connection during a run (its default, 1000, would make the load generator reconnect
/// every 1000 requests and count each close as a transport error).
const KEEPALIVE_REQUESTS: u64 = 100_000_000;

/// What the rendered config needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct NginxConfig {
    /// The prefix directory: config, pid file, temp paths.
    pub(super) prefix: PathBuf,
    /// Where nginx listens (a loopback address).
    pub(super) listen: SocketAddr,
    /// The predictor it forwards to.
    pub(super) upstream: SocketAddr,
    /// Idle upstream connections each worker keeps (`keepalive N`).
    pub(super) keepalive: usize,
}

/// nginx could not be found or prepared.
#[derive(Debug, thiserror::Error)]
pub(super) enum NginxError {
    #[error(
        "nginx not found (looked for `nginx` on PATH and in {fallbacks}); install it with \
         `{SETUP_SCRIPT}` (apt-get, needs root or sudo once), or pass --nginx-bin PATH, or skip \
         it with --skip-nginx"
    )]
    NotFound { fallbacks: String },
    #[error("--nginx-bin {path}: not an executable file; run `{SETUP_SCRIPT}` to install nginx")]
    NotExecutable { path: PathBuf },
    #[error("nginx listen address {addr}: must be a loopback address")]
    NotLoopback { addr: SocketAddr },
    #[error("nginx prefix {path}: {source}")]
    Prefix {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

// === impl NginxConfig ===

impl NginxConfig {
    /// The config file's text. Every path is absolute, inside the prefix.
    pub(super) fn render(&self) -> Result<String, NginxError> {
        if !self.listen.ip().is_loopback() {
            return Err(NginxError::NotLoopback { addr: self.listen });
        }
        let prefix = self.prefix.display();
        let (listen, upstream) = (self.listen, self.upstream);
        let keepalive = self.keepalive.max(1);
        Ok(format!(
            "# Written by infergate-bench gateway: a keep-alive reverse proxy in front of one
# infergate predictor. Run as: nginx -p {prefix}/ -c {prefix}/nginx.conf -e stderr
worker_processes auto;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log stderr warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests {KEEPALIVE_REQUESTS};
    keepalive_timeout 75s;

    upstream predictor {{
        server {upstream};
        keepalive {keepalive};
        keepalive_requests {KEEPALIVE_REQUESTS};
    }}

    server {{
        listen {listen};
        location / {{
            proxy_pass http://predictor;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }}
    }}
}}
"
        ))
    }

    /// Creates the prefix directory and writes the config into it; returns the config's path.
    pub(super) fn write(&self) -> Result<PathBuf, NginxError> {
        let text = self.render()?;
        let err = |source| NginxError::Prefix {
            path: self.prefix.clone(),
            source,
        };
        std::fs::create_dir_all(&self.prefix).map_err(err)?;
        let path = self.prefix.join("nginx.conf");
        std::fs::write(&path, text).map_err(err)?;
        Ok(path)
    }

    /// Starts nginx in the foreground with this config (written first) and waits until it
    /// proxies `ready_path` to the predictor with a 200.
    pub(super) async fn start(
        &self,
        nginx: &Path,
        ready_path: &str,
        log: &Path,
    ) -> anyhow::Result<ServerProcess> {
        let conf = self.write()?;
        let mut command = Command::new(nginx);
        // `-e stderr`: no attempt to open the packaged /var/log/nginx/error.log at start-up.
        command
            .arg("-p")
            .arg(format!("{}/", self.prefix.display()))
            .arg("-c")
            .arg(&conf)
            .args(["-e", "stderr"]);
        let server =
            ServerProcess::start_with_ready_url("nginx", command, self.listen, ready_path, log)
                .await
                .map_err(|e: ServerError| anyhow::anyhow!(e))?;
        Ok(server)
    }
}

/// The nginx binary: `explicit` if given (it must be executable), else the first `nginx` in
/// `path_var` (a `PATH` value), else the first of `fallbacks` that exists.
pub(super) fn find(
    explicit: Option<&Path>,
    path_var: Option<&std::ffi::OsStr>,
    fallbacks: &[&str],
) -> Result<PathBuf, NginxError> {
    if let Some(path) = explicit {
        return if is_executable(path) {
            Ok(path.to_owned())
        } else {
            Err(NginxError::NotExecutable {
                path: path.to_owned(),
            })
        };
    }
    let on_path = path_var
        .into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("nginx"));
    on_path
        .chain(fallbacks.iter().map(PathBuf::from))
        .find(|p| is_executable(p))
        .ok_or_else(|| NginxError::NotFound {
            fallbacks: fallbacks.join(", "),
        })
}

/// `nginx -v`'s version line (`nginx/1.22.1`), or "nginx (version unknown)".
pub(super) async fn version(nginx: &Path) -> String {
    // nginx prints its version on stderr.
    let output = Command::new(nginx).arg("-v").output().await;
    output
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stderr).into_owned();
            parse_version(&text)
        })
        .unwrap_or_else(|| "nginx (version unknown)".to_owned())
}

/// `nginx/1.22.1` from `nginx version: nginx/1.22.1`.
fn parse_version(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("nginx version: "))
        .map(|v| v.split_whitespace().next().unwrap_or(v).to_owned())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests;
