//! Route table tests: Host and path forms, namespaces, tags, pinning, errors, the split schedule.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

use super::split::{SLOTS, Split, apportion};
use super::*;

fn revision(name: &str) -> Arc<RevisionRoute> {
    Arc::new(RevisionRoute {
        name: name.to_owned(),
        endpoints: Vec::new(),
        container_concurrency: 0,
        scaling: None,
        transformer: None,
    })
}

/// A service whose traffic is `(revision suffix, percent, tag)`; every listed revision is Ready.
fn service(namespace: &str, name: &str, traffic: &[(&str, u32, Option<&str>)]) -> ServiceRoute {
    let revisions: Vec<Arc<RevisionRoute>> = traffic
        .iter()
        .map(|(suffix, _, _)| revision(&format!("{name}-predictor-{suffix}")))
        .collect();
    ServiceRoute {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        timeout: Duration::from_secs(60),
        tag_routing: false,
        traffic: traffic
            .iter()
            .zip(&revisions)
            .map(|((_, percent, tag), r)| (Arc::clone(r), *percent, tag.map(str::to_owned)))
            .collect(),
        revisions,
    }
}

fn tagged(mut s: ServiceRoute) -> ServiceRoute {
    s.tag_routing = true;
    s
}

/// iris in `default` (canary 10/90, tags), iris in `team-a`, and `pending` with no ready revision.
fn table() -> RouteTable {
    RouteTable::builder(DEFAULT_DOMAIN)
        .service(tagged(service(
            "default",
            "iris",
            &[("00002", 10, Some("latest")), ("00001", 90, Some("prev"))],
        )))
        .service(service("team-a", "iris", &[("00007", 100, None)]))
        .service(service("default", "pending", &[]))
        .build()
}

fn revision_of(t: &RouteTable, host: Option<&str>, path: &str, pin: Option<&str>) -> String {
    match t.resolve(host, path, pin) {
        Ok(r) => format!("{}/{}", r.service.namespace, r.revision.name),
        Err(e) => panic!("{host:?} {path} {pin:?}: {e}"),
    }
}

fn pinned(t: &RouteTable, host: Option<&str>, path: &str) -> String {
    revision_of(t, host, path, Some("iris-predictor-00001"))
}

#[test]
fn path_forms_route_to_the_default_namespace() {
    let t = table();
    for path in [
        "/v1/models/iris",
        "/v1/models/iris:predict",
        "/v2/models/iris",
        "/v2/models/iris/ready",
        "/v2/models/iris/infer",
        "/v2/models/iris/versions/1/infer",
    ] {
        let r = t.resolve(None, path, None).expect(path);
        assert_eq!(r.service.namespace, "default", "{path}");
        assert_eq!(r.service.name, "iris", "{path}");
        assert_eq!(r.pick, Pick::Split);
        // A Host that names no service (an IP, localhost) leaves routing to the path.
        let r = t.resolve(Some("127.0.0.1:8080"), path, None).expect(path);
        assert_eq!(r.service.namespace, "default", "{path}");
    }
}

#[test]
fn host_routes_to_any_namespace_and_wins_over_the_path() {
    let t = table();
    for (host, path) in [
        ("iris.team-a.example.com", "/v2/models/iris/infer"),
        ("iris.team-a.example.com:8080", "/v1/models/iris:predict"),
        ("IRIS.Team-A.Example.COM", "/v2/models/iris/infer"),
        // Host wins even when the path names another model (the replica will answer for it).
        ("iris.team-a.example.com", "/v2/models/pending/infer"),
        ("iris.team-a.example.com", "/"),
    ] {
        assert_eq!(
            revision_of(&t, Some(host), path, None),
            "team-a/iris-predictor-00007",
            "{host} {path}"
        );
    }
    // A Host naming an unknown service falls back to the path.
    let r = t
        .resolve(Some("nope.team-a.example.com"), "/v1/models/iris", None)
        .expect("path fallback");
    assert_eq!(r.service.namespace, "default");
    // Another domain is no service Host.
    let r = t
        .resolve(Some("iris.team-a.example.org"), "/v1/models/iris", None)
        .expect("path fallback");
    assert_eq!(r.service.namespace, "default");
}

#[test]
fn custom_domain() {
    let t = RouteTable::builder(".Svc.Cluster.Local.")
        .service(service("ns", "m", &[("00001", 100, None)]))
        .build();
    assert_eq!(t.domain(), "svc.cluster.local");
    assert_eq!(
        revision_of(&t, Some("m.ns.svc.cluster.local"), "/", None),
        "ns/m-predictor-00001"
    );
    assert!(t.resolve(Some("m.ns.example.com"), "/", None).is_err());
}

#[test]
fn tag_hosts_pin_the_tagged_revision_when_tag_routing_is_on() {
    let t = table();
    for _ in 0..20 {
        assert_eq!(
            revision_of(
                &t,
                Some("latest-iris.default.example.com"),
                "/v2/models/iris/infer",
                None
            ),
            "default/iris-predictor-00002"
        );
        assert_eq!(
            revision_of(&t, Some("prev-iris.default.example.com:80"), "/", None),
            "default/iris-predictor-00001"
        );
    }
    let r = t
        .resolve(Some("latest-iris.default.example.com"), "/", None)
        .expect("tag");
    assert_eq!(r.pick, Pick::Tag);

    // iris in team-a has tag routing off: its tag hosts name nothing, and `/` names no model.
    let err = t
        .resolve(Some("latest-iris.team-a.example.com"), "/", None)
        .expect_err("tag routing off");
    assert_eq!(
        err,
        RouteError::NoService {
            namespace: "team-a".into(),
            name: "latest-iris".into()
        }
    );
    assert_eq!(err.status(), StatusCode::NOT_FOUND);

    // Tag routing on, but no revision carries the tag.
    let t = RouteTable::builder(DEFAULT_DOMAIN)
        .service(tagged(service(
            "default",
            "solo",
            &[("00001", 100, Some("latest"))],
        )))
        .build();
    let err = t
        .resolve(Some("prev-solo.default.example.com"), "/", None)
        .expect_err("no prev");
    assert!(
        matches!(&err, RouteError::UnknownTag { tag, .. } if tag == "prev"),
        "{err}"
    );
    assert_eq!(err.status(), StatusCode::NOT_FOUND);
}

#[test]
fn header_pins_a_revision_over_tag_and_split() {
    let t = table();
    for _ in 0..20 {
        assert_eq!(
            pinned(&t, None, "/v1/models/iris:predict"),
            "default/iris-predictor-00001"
        );
    }
    assert_eq!(
        pinned(&t, Some("latest-iris.default.example.com"), "/"),
        "default/iris-predictor-00001"
    );
    let r = t
        .resolve(None, "/v1/models/iris", Some("iris-predictor-00002"))
        .expect("pin");
    assert_eq!(r.pick, Pick::Header);

    // A revision of another service, or of the same name in another namespace, is unknown here.
    let err = t
        .resolve(None, "/v1/models/iris", Some("iris-predictor-00007"))
        .expect_err("team-a's revision");
    assert_eq!(
        err,
        RouteError::UnknownRevision {
            namespace: "default".into(),
            name: "iris".into(),
            revision: "iris-predictor-00007".into()
        }
    );
    assert_eq!(err.status(), StatusCode::NOT_FOUND);
    assert!(err.to_string().contains("iris-predictor-00007"), "{err}");
}

#[test]
fn request_helper_reads_host_authority_and_header() {
    let t = table();
    let req = http::Request::get("/v2/models/iris/infer")
        .header("host", "iris.team-a.example.com")
        .body(())
        .expect("request");
    let r = t.resolve_request(&req).expect("host");
    assert_eq!(r.service.namespace, "team-a");
    // HTTP/2: no Host header, the authority is in the URI.
    let req = http::Request::get("http://iris.team-a.example.com/v2/models/iris/infer")
        .body(())
        .expect("request");
    assert_eq!(
        t.resolve_request(&req)
            .expect("authority")
            .service
            .namespace,
        "team-a"
    );
    let req = http::Request::get("/v1/models/iris")
        .header(REVISION_HEADER, "iris-predictor-00002")
        .body(())
        .expect("request");
    let r = t.resolve_request(&req).expect("pinned");
    assert_eq!(r.revision.name, "iris-predictor-00002");
}

#[test]
fn unknown_models_and_unroutable_services() {
    let t = table();
    let err = t
        .resolve(None, "/v2/models/bert/infer", None)
        .expect_err("unknown");
    assert_eq!(
        err,
        RouteError::NoService {
            namespace: "default".into(),
            name: "bert".into()
        }
    );
    assert!(err.to_string().contains("`bert`"), "{err}");
    assert_eq!(err.to_response().status(), StatusCode::NOT_FOUND);

    let err = t
        .resolve(None, "/v2/health/ready", None)
        .expect_err("no model");
    assert!(matches!(err, RouteError::NoModel { .. }), "{err}");
    assert_eq!(err.status(), StatusCode::NOT_FOUND);

    let err = t
        .resolve(None, "/v2/models/pending/infer", None)
        .expect_err("not ready");
    assert!(matches!(err, RouteError::NoReadyRevision { .. }), "{err}");
    let response = err.to_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response
            .headers()
            .get(http::header::RETRY_AFTER)
            .map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    // Path routing never looks outside `default`: a model only in team-a is not found by path.
    let t = RouteTable::builder(DEFAULT_DOMAIN)
        .service(service("team-a", "only-a", &[("00001", 100, None)]))
        .build();
    assert!(t.resolve(None, "/v1/models/only-a", None).is_err());
    assert!(
        t.resolve(Some("only-a.team-a.example.com"), "/v1/models/only-a", None)
            .is_ok()
    );
    assert!(
        RouteTable::default()
            .resolve(None, "/v1/models/iris", None)
            .is_err()
    );
}

#[test]
fn later_duplicate_service_wins() {
    let t = RouteTable::builder(DEFAULT_DOMAIN)
        .service(service("default", "m", &[("00001", 100, None)]))
        .service(service("default", "m", &[("00002", 100, None)]))
        .build();
    assert_eq!(
        revision_of(&t, None, "/v1/models/m", None),
        "default/m-predictor-00002"
    );
    assert_eq!(t.services().count(), 1);
    assert!(t.service("default", "m").is_some());
}

/// Draws `n` revisions by path and counts each, also returning the order.
fn draws(t: &RouteTable, path: &str, n: usize) -> Vec<String> {
    (0..n).map(|_| revision_of(t, None, path, None)).collect()
}

#[test]
fn split_is_exact_per_hundred_and_interleaved() {
    for (canary, main) in [(10_u32, 90_u32), (33, 67)] {
        let t = RouteTable::builder(DEFAULT_DOMAIN)
            .service(service(
                "default",
                "m",
                &[("00002", canary, None), ("00001", main, None)],
            ))
            .build();
        let picks = draws(&t, "/v1/models/m:predict", 2_000);
        let is_canary: Vec<bool> = picks.iter().map(|p| p.ends_with("00002")).collect();
        let total = is_canary.iter().filter(|&&c| c).count();
        assert_eq!(total, 20 * canary as usize, "{canary}/{main}");
        // Exact in every window of 100 consecutive requests, wherever it starts.
        for window in is_canary.windows(SLOTS) {
            assert_eq!(window.iter().filter(|&&c| c).count(), canary as usize);
        }
        // Interleaved: a minority revision never gets two in a row, and the gaps between its
        // picks differ by at most one from the ideal spacing.
        let positions: Vec<usize> = (0..is_canary.len()).filter(|&i| is_canary[i]).collect();
        let ideal = 100.0 / f64::from(canary);
        for gap in positions.windows(2).map(|w| w[1] - w[0]) {
            assert!(gap >= 2, "{canary}/{main}: two canary picks in a row");
            assert!(
                (gap as f64 - ideal).abs() < 1.0 + f64::EPSILON,
                "{canary}/{main}: gap {gap}"
            );
        }
    }
    // 10/90: exactly one canary in every ten consecutive requests.
    let t = RouteTable::builder(DEFAULT_DOMAIN)
        .service(service(
            "default",
            "m",
            &[("00002", 10, None), ("00001", 90, None)],
        ))
        .build();
    let picks = draws(&t, "/v2/models/m/infer", 2_000);
    for window in picks.windows(10) {
        assert_eq!(window.iter().filter(|p| p.ends_with("00002")).count(), 1);
    }
}

#[test]
fn zero_percent_revisions_get_no_split_traffic_but_keep_their_tag() {
    let t = RouteTable::builder(DEFAULT_DOMAIN)
        .service(tagged(service(
            "default",
            "m",
            &[("00002", 100, Some("latest")), ("00001", 0, Some("prev"))],
        )))
        .build();
    assert!(
        draws(&t, "/v1/models/m", 300)
            .iter()
            .all(|p| p.ends_with("00002"))
    );
    assert_eq!(
        revision_of(&t, Some("prev-m.default.example.com"), "/", None),
        "default/m-predictor-00001"
    );
    let split = t.split_of("default", "m").expect("service m");
    assert_eq!(split.schedule().len(), SLOTS);
}

/// Every schedule over two and three revisions holds exactly `percent` slots per revision, the
/// slots sum to 100, and each revision's picks are spread out (the gap between two picks of a
/// revision with p% never exceeds ceil(100 / p) + the number of revisions).
#[test]
fn schedule_property_exhaustive_two_and_three_way() {
    let check = |percents: &[u32]| {
        let split = Split::new(percents);
        let schedule = split.schedule();
        assert_eq!(schedule.len(), SLOTS, "{percents:?}");
        for (i, &p) in percents.iter().enumerate() {
            let slots: Vec<usize> = (0..SLOTS).filter(|&s| schedule[s] == i).collect();
            assert_eq!(slots.len(), p as usize, "{percents:?}: entry {i}");
            if p > 0 {
                let bound = SLOTS.div_ceil(p as usize) + percents.len();
                // Gaps measured cyclically, since the schedule repeats.
                let gaps = slots
                    .windows(2)
                    .map(|w| w[1] - w[0])
                    .chain(std::iter::once(slots[0] + SLOTS - slots[slots.len() - 1]));
                for gap in gaps {
                    assert!(gap <= bound, "{percents:?}: entry {i} gap {gap} > {bound}");
                }
            }
        }
        // Draws follow the schedule cyclically.
        for n in 0..2 * SLOTS {
            assert_eq!(split.draw(), Some(schedule[n % SLOTS]));
        }
    };
    for a in 0..=100 {
        check(&[a, 100 - a]);
        for b in 0..=100 - a {
            check(&[a, b, 100 - a - b]);
        }
    }
    assert_eq!(Split::new(&[]).draw(), None);
    assert_eq!(Split::new(&[0, 0]).draw(), None);
}

#[test]
fn weights_not_summing_to_100_are_apportioned() {
    assert_eq!(apportion(&[1, 1, 1]), [34, 33, 33]);
    assert_eq!(apportion(&[1, 3]), [25, 75]);
    assert_eq!(apportion(&[50, 100]), [33, 67]);
    assert_eq!(apportion(&[0, 0]), [0, 0]);
    assert_eq!(apportion(&[u32::MAX, u32::MAX]), [50, 50]);
    for w in [[7_u32, 5, 3], [200, 1, 1], [0, 9, 2]] {
        assert_eq!(apportion(&w).iter().sum::<u32>(), 100, "{w:?}");
    }
}
