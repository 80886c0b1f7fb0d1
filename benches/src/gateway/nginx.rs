//! nginx as the reference reverse proxy: found, configured and started without root.
//!
//! The config is rendered into a temporary prefix directory (pid file, temp paths and error log
//! all inside it), so nginx runs as whoever runs the benchmark and never touches /etc/nginx or
//! /var/log/nginx. It is a plain keep-alive reverse proxy, tuned the way a careful operator would:
//!
//! ```text
//! client --HTTP/1.1 keep-alive--> nginx 127.0.0.1:PORT --upstream keepalive pool--> predictor
//! client --HTTP/1.1 keep-alive--> nginx 127.0.0.1:P2 --upstream keepalive pool--> nginx 127.0.0.1:P3
//!                                                      (the same process: `return 200 '<body>'`)
//! ```
//!
//! The second line is optional ([`StaticBackend`]): the same proxy settings in front of a server
//! block that answers one fixed body with no inference, the cost of one bare nginx hop.

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
/// A variable whose value is `$`: nginx has no escape for `$` in a string that is expanded (as
/// `return`'s text is), so a literal `$` is written as `${DOLLAR_VARIABLE}`.
const DOLLAR_VARIABLE: &str = "infergate_dollar";
/// The longest quoted string the static body may become in the config: nginx reads a config
/// through a 4096-byte buffer and refuses a longer parameter ("too long parameter").
pub(super) const MAX_QUOTED_BODY: usize = 4000;

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
    /// A second proxy, to a fixed answer served by this same nginx; `None`: not rendered.
    pub(super) static_backend: Option<StaticBackend>,
}

/// A server block that answers every request with one body, and a proxy in front of it with
/// the same settings as the proxy to the predictor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct StaticBackend {
    /// Where the proxy to the static server listens (a loopback address): the path measured.
    pub(super) listen: SocketAddr,
    /// Where the static server itself listens (a loopback address).
    pub(super) backend: SocketAddr,
    /// The body every request gets, as `application/json`, byte for byte.
    pub(super) body: String,
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
    #[error(
        "static backend body: {len} bytes once quoted for nginx, over the {max} nginx reads as \
         one parameter"
    )]
    BodyTooLong { len: usize, max: usize },
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
        let static_listens = self
            .static_backend
            .iter()
            .flat_map(|s| [s.listen, s.backend]);
        if let Some(addr) = std::iter::once(self.listen)
            .chain(static_listens)
            .find(|a| !a.ip().is_loopback())
        {
            return Err(NginxError::NotLoopback { addr });
        }
        let prefix = self.prefix.display();
        let keepalive = self.keepalive.max(1);
        let mut blocks = vec![
            upstream_block("predictor", self.upstream, keepalive),
            proxy_block(self.listen, "predictor"),
        ];
        if let Some(s) = &self.static_backend {
            let body = quote(&s.body)?;
            blocks.push(format!(
                "    # Answers every request with the predictor's answer, without inference.
    geo ${DOLLAR_VARIABLE} {{
        default \"$\";
    }}

    server {{
        listen {};
        default_type application/json;
        location / {{
            return 200 {body};
        }}
    }}
",
                s.backend
            ));
            blocks.push(upstream_block("static_backend", s.backend, keepalive));
            blocks.push(proxy_block(s.listen, "static_backend"));
        }
        let blocks = blocks.join("\n");
        Ok(format!(
            "# Written by infergate-bench gateway: a keep-alive reverse proxy in front of one
# infergate predictor (and, when rendered, one in front of a static answer served here).
# Run as: nginx -p {prefix}/ -c {prefix}/nginx.conf -e stderr
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

{blocks}}}
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

/// An upstream pool of one server, keeping `keepalive` idle connections per worker.
fn upstream_block(name: &str, server: SocketAddr, keepalive: usize) -> String {
    format!(
        "    upstream {name} {{
        server {server};
        keepalive {keepalive};
        keepalive_requests {KEEPALIVE_REQUESTS};
    }}
"
    )
}

/// A server on `listen` that proxies everything to `upstream` over kept-alive HTTP/1.1.
fn proxy_block(listen: SocketAddr, upstream: &str) -> String {
    format!(
        "    server {{
        listen {listen};
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }}
    }}
"
    )
}

/// `text` as one single-quoted nginx string whose value, as `return`'s text, is exactly `text`:
/// nginx's parser unescapes `\\` and `\'` (and turns `\n`, `\t`, `\r` into control characters,
/// which escaping every `\` prevents), and `return` expands variables, so `$` becomes a variable
/// whose value is `$`.
pub(super) fn quote(text: &str) -> Result<String, NginxError> {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '$' => {
                out.push_str("${");
                out.push_str(DOLLAR_VARIABLE);
                out.push('}');
            }
            ch => out.push(ch),
        }
    }
    out.push('\'');
    if out.len() > MAX_QUOTED_BODY {
        return Err(NginxError::BodyTooLong {
            len: out.len(),
            max: MAX_QUOTED_BODY,
        });
    }
    Ok(out)
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
