//! The nginx config, finding the binary, and a real nginx proxying to a real server.

use std::net::TcpListener;
use std::time::Duration;

use super::*;
use crate::server::ServerProcess;

fn temp_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "infergate-bench-nginx-test-{}-{name}",
        std::process::id()
    ))
}

fn config(prefix: PathBuf) -> NginxConfig {
    NginxConfig {
        prefix,
        listen: "127.0.0.1:18081".parse().unwrap(),
        upstream: "127.0.0.1:18082".parse().unwrap(),
        keepalive: 64,
        static_backend: None,
    }
}

fn with_static(prefix: PathBuf, body: &str) -> NginxConfig {
    NginxConfig {
        static_backend: Some(StaticBackend {
            listen: "127.0.0.1:18083".parse().unwrap(),
            backend: "127.0.0.1:18084".parse().unwrap(),
            body: body.to_owned(),
        }),
        ..config(prefix)
    }
}

/// A body with every character nginx's config syntax gives a meaning to: quotes, backslashes
/// (also before `n`, as JSON writes a newline), `$` (also as `${...}`), `;`, braces, `#`, and
/// text outside ASCII.
const AWKWARD_BODY: &str = r#"{"id":"it's \"q\" \\n","$x":"${y} $1 \u00e9 é; # {}","outputs":[]}"#;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_config_is_a_keepalive_reverse_proxy_on_loopback_inside_its_prefix() {
    let text = config(PathBuf::from("/tmp/p")).render().unwrap();
    for directive in [
        "worker_processes auto;",
        "daemon off;",
        "pid /tmp/p/nginx.pid;",
        "access_log off;",
        "proxy_temp_path /tmp/p/proxy;",
        "client_body_temp_path /tmp/p/client_body;",
        "keepalive_requests 100000000;",
        "server 127.0.0.1:18082;",
        "keepalive 64;",
        "listen 127.0.0.1:18081;",
        "proxy_pass http://predictor;",
        "proxy_http_version 1.1;",
        "proxy_set_header Connection \"\";",
    ] {
        assert!(
            text.contains(directive),
            "missing {directive:?} in:\n{text}"
        );
    }
    // Nothing outside the prefix, and no access log anywhere.
    assert!(!text.contains("/var/"), "{text}");
    assert_eq!(text.matches("access_log").count(), 1, "{text}");
    // Braces balance (a typo in the template would make nginx refuse it).
    assert_eq!(text.matches('{').count(), text.matches('}').count());
}

#[test]
fn without_a_static_backend_nothing_of_it_is_rendered() {
    let text = config(PathBuf::from("/tmp/p")).render().unwrap();
    for absent in ["static_backend", "return 200", "geo ", "default_type"] {
        assert!(!text.contains(absent), "{absent:?} in:\n{text}");
    }
}

#[test]
fn the_static_backend_answers_its_body_behind_a_proxy_with_the_same_settings() {
    let body = r#"{"model_name":"iris","outputs":[{"name":"label","data":[0]}]}"#;
    let text = with_static(PathBuf::from("/tmp/p"), body).render().unwrap();
    for directive in [
        "listen 127.0.0.1:18084;",
        "default_type application/json;",
        &format!("return 200 '{body}';"),
        "upstream static_backend {\n        server 127.0.0.1:18084;\n        keepalive 64;\n        \
         keepalive_requests 100000000;\n    }",
        "listen 127.0.0.1:18083;\n        location / {\n            proxy_pass \
         http://static_backend;\n            proxy_http_version 1.1;\n            \
         proxy_set_header Connection \"\";",
        "geo $infergate_dollar {\n        default \"$\";\n    }",
    ] {
        assert!(
            text.contains(directive),
            "missing {directive:?} in:\n{text}"
        );
    }
    // The predictor's proxy is still there, and both proxies are rendered alike.
    assert!(text.contains("proxy_pass http://predictor;"), "{text}");
    assert_eq!(text.matches("proxy_http_version 1.1;").count(), 2, "{text}");
    assert_eq!(text.matches("keepalive 64;").count(), 2, "{text}");
    assert_eq!(text.matches("access_log").count(), 1, "{text}");
    assert_eq!(text.matches('{').count(), text.matches('}').count());
}

#[test]
fn the_static_body_is_quoted_for_nginx() {
    // Plain JSON needs nothing but the quotes.
    assert_eq!(quote(r#"{"a":[1.5]}"#).unwrap(), r#"'{"a":[1.5]}'"#);
    assert_eq!(quote("").unwrap(), "''");
    // `\` and `'` are backslash-escaped; `$` becomes the variable whose value is `$`.
    assert_eq!(quote(r"it's").unwrap(), r"'it\'s'");
    assert_eq!(quote(r"a\b").unwrap(), r"'a\\b'");
    assert_eq!(quote(r#""\n""#).unwrap(), r#"'"\\n"'"#, "not a newline");
    assert_eq!(
        quote("$x ${y}").unwrap(),
        "'${infergate_dollar}x ${infergate_dollar}{y}'"
    );
    // Everything else passes as it is, including what ends a token outside quotes.
    assert_eq!(quote("; {} # é \"").unwrap(), "'; {} # é \"'");
}

#[test]
fn a_static_body_too_long_for_nginx_is_refused() {
    let fits = "x".repeat(MAX_QUOTED_BODY - 2);
    assert_eq!(quote(&fits).unwrap().len(), MAX_QUOTED_BODY);
    let err = quote(&format!("{fits}x")).unwrap_err();
    assert!(
        matches!(err, NginxError::BodyTooLong { len, max } if len == max + 1),
        "{err}"
    );
    // Escapes count: 1,999 quotes take 3,998 bytes, 4,000 with the enclosing quotes; 2,000 are
    // over.
    assert_eq!(quote(&"'".repeat(1_999)).unwrap().len(), MAX_QUOTED_BODY);
    let err = quote(&"'".repeat(2_000)).unwrap_err();
    assert!(err.to_string().contains("4002 bytes"), "{err}");
    assert!(err.to_string().contains("4000"), "{err}");
    let err = with_static(PathBuf::from("/tmp/p"), &"'".repeat(2_000))
        .render()
        .unwrap_err();
    assert!(matches!(err, NginxError::BodyTooLong { .. }), "{err}");
}

#[test]
fn a_zero_keepalive_pool_still_keeps_one_connection() {
    let mut c = config(PathBuf::from("/tmp/p"));
    c.keepalive = 0;
    assert!(c.render().unwrap().contains("keepalive 1;"));
}

#[test]
fn nginx_never_listens_beyond_loopback() {
    let mut c = config(PathBuf::from("/tmp/p"));
    c.listen = "0.0.0.0:80".parse().unwrap();
    let err = c.render().unwrap_err();
    assert!(matches!(err, NginxError::NotLoopback { .. }), "{err}");
    assert!(err.to_string().contains("0.0.0.0:80"), "{err}");

    for (listen, backend) in [("0.0.0.0:81", "127.0.0.1:82"), ("127.0.0.1:81", "[::]:82")] {
        let mut c = with_static(PathBuf::from("/tmp/p"), "{}");
        let s = c.static_backend.as_mut().unwrap();
        (s.listen, s.backend) = (listen.parse().unwrap(), backend.parse().unwrap());
        let err = c.render().unwrap_err();
        assert!(matches!(err, NginxError::NotLoopback { .. }), "{err}");
    }
}

#[test]
fn a_missing_nginx_says_to_run_the_setup_script() {
    let empty = temp_dir("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let err = find(None, Some(empty.as_os_str()), &["/nonexistent/sbin/nginx"]).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, NginxError::NotFound { .. }), "{message}");
    assert!(
        message.contains("benches/peers/setup-nginx.sh"),
        "{message}"
    );
    assert!(message.contains("/nonexistent/sbin/nginx"), "{message}");
    assert!(message.contains("--skip-nginx"), "{message}");
    let err = find(None, None, &[]).unwrap_err();
    assert!(matches!(err, NginxError::NotFound { .. }), "{err}");

    let err = find(Some(Path::new("/nonexistent/nginx")), None, &[]).unwrap_err();
    assert!(matches!(err, NginxError::NotExecutable { .. }), "{err}");
    assert!(err.to_string().contains("setup-nginx.sh"), "{err}");
}

#[test]
fn nginx_is_found_on_path_before_the_fallbacks() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp_dir("path");
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("nginx");
    std::fs::write(&fake, "#!/bin/sh\n").unwrap();
    // Not executable yet: skipped.
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(find(None, Some(dir.as_os_str()), &[]).is_err());
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path_var = std::env::join_paths([Path::new("/nonexistent"), &dir]).unwrap();
    assert_eq!(
        find(None, Some(&path_var), &["/bin/sh"]).unwrap(),
        fake,
        "PATH comes before the fallbacks"
    );
    assert_eq!(
        find(None, None, &["/nonexistent/nginx", "/bin/sh"]).unwrap(),
        PathBuf::from("/bin/sh")
    );
}

#[test]
fn versions_are_read_from_nginx_dash_v() {
    assert_eq!(
        parse_version("nginx version: nginx/1.22.1\n").as_deref(),
        Some("nginx/1.22.1")
    );
    assert_eq!(
        parse_version("nginx version: nginx/1.26.0 (Ubuntu)\n").as_deref(),
        Some("nginx/1.26.0")
    );
    assert_eq!(parse_version("sh: nginx: not found"), None);
}

// Needs nginx (benches/peers/setup-nginx.sh installs it); without it this fails, saying so.
#[tokio::test]
async fn a_real_nginx_with_this_config_proxies_to_a_real_server() {
    let nginx = find(None, std::env::var_os("PATH").as_deref(), FALLBACK_PATHS)
        .unwrap_or_else(|e| panic!("{e}"));

    // The upstream: python's http.server serving a file named `ready`.
    let www = temp_dir("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("ready"), "upstream ok").unwrap();
    let upstream_port = free_port();
    let mut command = tokio::process::Command::new("python3");
    command
        .args(["-m", "http.server", "--bind", "127.0.0.1"])
        .arg(upstream_port.to_string())
        .current_dir(&www);
    let upstream_addr: SocketAddr = format!("127.0.0.1:{upstream_port}").parse().unwrap();
    let upstream = ServerProcess::start_with_ready_url(
        "http.server",
        command,
        upstream_addr,
        "/ready",
        &temp_dir("logs").join("upstream.log"),
    )
    .await
    .unwrap();

    // The static answer: every awkward character, padded to the longest body the config takes.
    let quoted = quote(AWKWARD_BODY).unwrap().len();
    let static_body = format!("{AWKWARD_BODY}{}", " ".repeat(MAX_QUOTED_BODY - quoted));
    let static_backend = StaticBackend {
        listen: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
        backend: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
        body: static_body.clone(),
    };
    let config = NginxConfig {
        prefix: temp_dir("prefix"),
        listen: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
        upstream: upstream_addr,
        keepalive: 4,
        static_backend: Some(static_backend.clone()),
    };
    let started = tokio::time::timeout(
        Duration::from_secs(30),
        config.start(&nginx, "/ready", &temp_dir("logs").join("nginx.log")),
    )
    .await
    .unwrap();
    let proxy = match started {
        Ok(proxy) => proxy,
        Err(e) => {
            upstream.stop().await.unwrap();
            panic!("nginx did not start: {e:#}");
        }
    };
    let (status, body) = crate::load::get(proxy.addr(), "/ready").await.unwrap();
    assert_eq!(status, http::StatusCode::OK);
    assert_eq!(&body[..], b"upstream ok");
    // The static answer, byte for byte, to a POST with a body (as the benchmark sends), through
    // the proxy and from the static server itself.
    for addr in [static_backend.listen, static_backend.backend] {
        let post = crate::load::LoadConfig::json_post(
            addr,
            "/v2/models/iris/infer",
            bytes::Bytes::from_static(br#"{"inputs":[]}"#),
        );
        let answer = crate::load::probe(&post).await.unwrap();
        assert_eq!(answer.status, http::StatusCode::OK);
        let text = std::str::from_utf8(&answer.body).unwrap();
        assert_eq!(text, static_body, "from {addr}");
    }
    assert!(
        proxy.peak_rss_kib().unwrap() > 0,
        "master and workers are read"
    );
    assert!(version(&nginx).await.starts_with("nginx/"));

    tokio::time::timeout(Duration::from_secs(30), proxy.stop())
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), upstream.stop())
        .await
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_dir_all(&config.prefix);
}
