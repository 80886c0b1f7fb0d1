//! Reading a service name out of a request path or Host header, without allocating.

/// The model a request path names: `/v1/models/{name}`, `/v1/models/{name}:{verb}` or
/// `/v2/models/{name}[/versions/{v}][/...]`. `None` for any other path (including `/v1/models`
/// and `/v2/models` themselves).
pub(crate) fn model_in_path(path: &str) -> Option<&str> {
    let rest = path
        .strip_prefix("/v1/models/")
        .map(|rest| {
            // `{name}:predict`, `{name}:explain`: model names are DNS labels, so never hold a ':'.
            let segment = rest.split('/').next().unwrap_or(rest);
            segment.split(':').next().unwrap_or(segment)
        })
        .or_else(|| {
            let rest = path.strip_prefix("/v2/models/")?;
            Some(rest.split('/').next().unwrap_or(rest))
        })?;
    Some(rest).filter(|name| !name.is_empty())
}

/// `(name, namespace)` from a Host of the form `{name}.{namespace}.{domain}[:port]`. The host must
/// already be lowercase; `domain` is lowercase without leading or trailing dots. `None` for any
/// other host (an IP, `localhost`, another domain).
pub(crate) fn service_in_host<'h>(host: &'h str, domain: &str) -> Option<(&'h str, &'h str)> {
    let host = strip_port(host);
    let host = host.strip_suffix('.').unwrap_or(host);
    let rest = host.strip_suffix(domain)?.strip_suffix('.')?;
    let (name, namespace) = rest.split_once('.')?;
    let valid = |label: &str| !label.is_empty() && !label.contains('.');
    (valid(name) && valid(namespace)).then_some((name, namespace))
}

/// `host` without a trailing `:port` (all digits). Bracketed IPv6 literals keep their colons.
fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!name.starts_with('[') || name.ends_with(']')) =>
        {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let cases = [
            ("/v1/models/iris", Some("iris")),
            ("/v1/models/iris:predict", Some("iris")),
            ("/v1/models/iris:explain", Some("iris")),
            ("/v2/models/iris", Some("iris")),
            ("/v2/models/iris/infer", Some("iris")),
            ("/v2/models/iris/ready", Some("iris")),
            ("/v2/models/iris/versions/3/infer", Some("iris")),
            ("/v2/models/iris/", Some("iris")),
            ("/v1/models", None),
            ("/v1/models/", None),
            ("/v1/models/:predict", None),
            ("/v2/models/", None),
            ("/v2/models//infer", None),
            ("/v2/health/ready", None),
            ("/", None),
            ("/v3/models/iris", None),
        ];
        for (path, want) in cases {
            assert_eq!(model_in_path(path), want, "{path}");
        }
    }

    #[test]
    fn hosts() {
        let d = "example.com";
        let cases = [
            ("iris.default.example.com", Some(("iris", "default"))),
            ("iris.team-a.example.com:8080", Some(("iris", "team-a"))),
            ("iris.default.example.com.", Some(("iris", "default"))),
            (
                "latest-iris.default.example.com",
                Some(("latest-iris", "default")),
            ),
            ("iris.example.com", None),
            ("a.b.c.example.com", None),
            ("iris.default.example.org", None),
            ("iris.defaultexample.com", None),
            (".default.example.com", None),
            ("localhost:8080", None),
            ("127.0.0.1:8080", None),
            ("[::1]:8080", None),
            ("example.com", None),
        ];
        for (host, want) in cases {
            assert_eq!(service_in_host(host, d), want, "{host}");
        }
        assert_eq!(
            service_in_host("m.ns.svc.cluster.local:80", "svc.cluster.local"),
            Some(("m", "ns"))
        );
    }

    #[test]
    fn ports() {
        assert_eq!(strip_port("a.b:80"), "a.b");
        assert_eq!(strip_port("a.b:"), "a.b:");
        assert_eq!(strip_port("[::1]:80"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
    }
}
