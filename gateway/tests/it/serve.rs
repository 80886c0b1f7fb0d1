//! `infergate serve` end to end: the real gateway, its real predictor processes, on loopback.
//!
//! Each test runs its own gateway on a temporary config folder (`--predictor-workers 1`), with
//! copies of the example models under unique paths so that a revision's processes can be found
//! by their `--storage-uri`. Every wait is bounded; conditions are polled, never slept on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    Gateway, Http, Isvc, Load, Predictor, Reply, Sample, assert_all_ok, children_of, condition,
    copy_model, example, floats, processes_with_arg, read_json, revision, revision_state, signal,
    traffic, wait_until, write_config,
};

const R1: &str = "iris-predictor-00001";
const R2: &str = "iris-predictor-00002";

/// The iris V2 request of the examples.
fn iris_v2() -> Vec<u8> {
    read_json("examples/requests/iris-v2.json")
        .to_string()
        .into_bytes()
}

/// `(revision, percent)` pairs, as [`traffic`] returns them (sorted by revision).
fn split(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = pairs.iter().map(|(r, p)| ((*r).to_owned(), *p)).collect();
    out.sort();
    out
}

/// The `x-infergate-revision` of a reply, asserting it is a 200.
fn served_by(reply: &Reply, what: &str) -> String {
    reply.assert_status(StatusCode::OK, what);
    reply
        .headers
        .get("x-infergate-revision")
        .unwrap_or_else(|| panic!("{what}: no x-infergate-revision header"))
        .to_str()
        .unwrap()
        .to_owned()
}

// === routing ===

/// A binary-extension form of a V2 JSON request with one FP32 input: the tensor as raw
/// little-endian bytes after the JSON header, and binary outputs asked for.
fn binary_v2(request: &Value) -> (Bytes, String) {
    let input = &request["inputs"][0];
    let data: Vec<u8> = floats(&input["data"])
        .iter()
        .flat_map(|&v| (v as f32).to_le_bytes())
        .collect();
    let header = serde_json::to_vec(&json!({
        "inputs": [{"name": input["name"], "shape": input["shape"], "datatype": "FP32",
                    "parameters": {"binary_data_size": data.len()}}],
        "parameters": {"binary_data_output": true}
    }))
    .unwrap();
    let len = header.len().to_string();
    let mut body = header;
    body.extend_from_slice(&data);
    (Bytes::from(body), len)
}

/// A reply's body as (JSON, binary tail): the JSON part ends where
/// `inference-header-content-length` says, or at the end of the body.
fn parsed(reply: &Reply, what: &str) -> (Value, Bytes) {
    let json_len = reply
        .headers
        .get("inference-header-content-length")
        .map_or(reply.body.len(), |v| v.to_str().unwrap().parse().unwrap());
    let head = serde_json::from_slice(&reply.body[..json_len]).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {:?}",
            String::from_utf8_lossy(&reply.body)
        )
    });
    (head, reply.body.slice(json_len..))
}

/// Path and Host routing, V1 and V2, JSON and binary, across two namespaces: every answer
/// through the gateway equals (after JSON parsing; binary tails byte for byte) the answer of the
/// same model served directly by `infergate predictor`. `iris` in namespace `team-a` serves the
/// MLP, so a request routed to the wrong namespace cannot give the expected answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_by_path_and_host_matches_the_predictor_served_directly() {
    let (iris, mlp) = (example("models/iris.onnx"), example("models/mlp.onnx"));
    let dir = Gateway::config_dir();
    write_config(dir.path(), "iris.yaml", &Isvc::new("iris", &iris).yaml());
    write_config(
        dir.path(),
        "team-a.iris.yaml",
        &Isvc::new("iris", &mlp).namespace("team-a").yaml(),
    );
    let gw = Gateway::start(dir).await;
    let (direct_iris, direct_mlp) = tokio::join!(
        Predictor::start("iris", &iris, &["--workers", "1"]),
        Predictor::start("iris", &mlp, &["--workers", "1"]),
    );
    gw.wait_ready("default", "iris").await;
    gw.wait_ready("team-a", "iris").await;

    let iris_v2: Value = read_json("examples/requests/iris-v2.json");
    let iris_v1: Value = read_json("examples/requests/iris-v1.json");
    let mlp_v2: Value = read_json("examples/requests/mlp-v2.json");
    let mlp_v1 = json!({ "instances": [mlp_v2["inputs"][0]["data"]] });
    let (iris_bin, iris_bin_len) = binary_v2(&iris_v2);
    let (mlp_bin, mlp_bin_len) = binary_v2(&mlp_v2);
    let json_body = |v: &Value| Bytes::from(v.to_string());
    let hdr = "inference-header-content-length";

    let iris_host = Some("iris.default.example.com");
    let team_a_host = Some("iris.team-a.example.com");
    let infer = "/v2/models/iris/infer";
    let predict = "/v1/models/iris:predict";
    let metadata = "/v2/models/iris";
    let cases = [
        Case::post(
            "path V2 JSON",
            None,
            infer,
            json_body(&iris_v2),
            &direct_iris,
        ),
        Case::post("path V1", None, predict, json_body(&iris_v1), &direct_iris),
        Case::post(
            "path V2 binary",
            None,
            infer,
            iris_bin.clone(),
            &direct_iris,
        )
        .headers(vec![(hdr, iris_bin_len.as_str())]),
        Case::get("path V2 metadata", None, metadata, &direct_iris),
        Case::post(
            "Host V2 JSON",
            iris_host,
            infer,
            json_body(&iris_v2),
            &direct_iris,
        ),
        Case::post(
            "Host V1",
            iris_host,
            predict,
            json_body(&iris_v1),
            &direct_iris,
        ),
        Case::post("Host V2 binary", iris_host, infer, iris_bin, &direct_iris)
            .headers(vec![(hdr, iris_bin_len.as_str())]),
        Case::post(
            "team-a V2 JSON",
            team_a_host,
            infer,
            json_body(&mlp_v2),
            &direct_mlp,
        ),
        Case::post(
            "team-a V1",
            team_a_host,
            predict,
            json_body(&mlp_v1),
            &direct_mlp,
        ),
        Case::post(
            "team-a V2 binary",
            Some("iris.team-a.example.com:80"),
            infer,
            mlp_bin,
            &direct_mlp,
        )
        .headers(vec![(hdr, mlp_bin_len.as_str())]),
        Case::get("team-a V2 metadata", team_a_host, metadata, &direct_mlp),
    ];
    let http = Http::new();
    for case in cases {
        let what = case.what;
        let mut plain = case.headers.clone();
        plain.push(("content-type", "application/json"));
        let mut through = plain.clone();
        through.extend(case.host.map(|host| ("host", host)));
        let (via_url, direct_url) = (gw.url(case.path), case.direct.url(case.path));
        let (via, want) = tokio::join!(
            http.send(case.method.clone(), &via_url, &through, case.body.clone()),
            http.send(case.method.clone(), &direct_url, &plain, case.body),
        );
        assert_eq!(served_by(&via, what), R1, "{what}");
        assert_eq!(want.status, StatusCode::OK, "{what}: direct");
        assert_eq!(
            via.headers.get("content-type"),
            want.headers.get("content-type"),
            "{what}: content-type"
        );
        let (via_json, via_tail) = parsed(&via, what);
        let (want_json, want_tail) = parsed(&want, what);
        assert_eq!(via_json, want_json, "{what}: JSON");
        assert_eq!(via_tail, want_tail, "{what}: binary tensor data");
        let outputs = via_json["outputs"]
            .as_array()
            .or(via_json["predictions"].as_array());
        let answered = outputs.is_some_and(|o| !o.is_empty()) || !via_tail.is_empty();
        assert!(answered || case.method == Method::GET, "{what}: {via_json}");
    }
}

/// One routing case: a request through the gateway and the same one to a predictor directly.
struct Case<'a> {
    what: &'a str,
    /// The Host header through the gateway (`None`: the gateway's own address, path routing).
    host: Option<&'a str>,
    method: Method,
    path: &'a str,
    headers: Vec<(&'a str, &'a str)>,
    body: Bytes,
    /// The predictor whose answer the gateway's must equal.
    direct: &'a Predictor,
}

impl<'a> Case<'a> {
    fn post(
        what: &'a str,
        host: Option<&'a str>,
        path: &'a str,
        body: Bytes,
        direct: &'a Predictor,
    ) -> Case<'a> {
        Case {
            what,
            host,
            method: Method::POST,
            path,
            headers: Vec::new(),
            body,
            direct,
        }
    }

    fn get(what: &'a str, host: Option<&'a str>, path: &'a str, direct: &'a Predictor) -> Case<'a> {
        Case {
            method: Method::GET,
            ..Case::post(what, host, path, Bytes::new(), direct)
        }
    }

    fn headers(mut self, headers: Vec<(&'a str, &'a str)>) -> Case<'a> {
        self.headers = headers;
        self
    }
}

// === canary and restart ===

/// Sends `n` requests one after another and counts them per serving revision; also returns the
/// longest run of consecutive requests served by `revision`.
async fn tally(
    gw: &Gateway,
    model: &str,
    n: usize,
    revision: &str,
) -> (BTreeMap<String, usize>, usize) {
    let url = gw.url(&format!("/v2/models/{model}/infer"));
    let body = Bytes::from(iris_v2());
    let mut counts = BTreeMap::new();
    let (mut run, mut longest) = (0, 0);
    for i in 0..n {
        let reply = gw.http.post(&url, body.clone()).await;
        let by = served_by(&reply, &format!("request {i}"));
        run = if by == revision { run + 1 } else { 0 };
        longest = longest.max(run);
        *counts.entry(by).or_default() += 1;
    }
    (counts, longest)
}

/// Canary 10/90, then a restart.
///
/// The splitter is an exact, interleaved 100-slot schedule per route table: any 100 consecutive
/// requests give the canary exactly 10. Bound: of 2,000 requests sent one after another once
/// both revisions are Ready (the route table is not rebuilt meanwhile), exactly 200 go to the
/// canary and 1,800 to the stable revision, tolerance 0; and the canary never serves two
/// consecutive requests.
///
/// SIGTERM stops the gateway and its predictors; started again on the same folder it brings back
/// the same two revisions (no third), the same rollout, and, once both are Ready, the same exact
/// split (1,000 requests: exactly 100 to the canary).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_split_is_exact_and_survives_a_restart() {
    let dir = Gateway::config_dir();
    let m1 = copy_model(dir.path(), "iris.onnx", "canary-1.onnx");
    let m2 = copy_model(dir.path(), "iris.onnx", "canary-2.onnx");
    write_config(dir.path(), "iris.yaml", &Isvc::new("iris", &m1).yaml());
    let gw = Gateway::start(dir).await;
    gw.wait_ready("default", "iris").await;

    let canary = Isvc::new("iris", &m2).predictor("canaryTrafficPercent: 10");
    gw.write("iris.yaml", &canary.yaml());
    let settled = |v: &Value| {
        revision_state(v, R1) == "Ready"
            && revision_state(v, R2) == "Ready"
            && traffic(v) == split(&[(R1, 90), (R2, 10)])
    };
    let view = gw
        .wait_view(
            "default",
            "iris",
            "canary 10/90 on two Ready revisions",
            settled,
        )
        .await;
    let predictor = &view["isvc"]["status"]["components"]["predictor"];
    assert_eq!(predictor["latestRolledoutRevision"], R1, "{predictor:#}");
    assert_eq!(predictor["latestCreatedRevision"], R2, "{predictor:#}");

    let (counts, longest) = tally(&gw, "iris", 2000, R2).await;
    assert_eq!(counts.get(R2), Some(&200), "{counts:?}");
    assert_eq!(counts.get(R1), Some(&1800), "{counts:?}");
    assert_eq!(longest, 1, "the canary's requests are spread out");

    // Restart.
    let dir = gw.stop().await;
    for model in [&m1, &m2] {
        assert_eq!(
            processes_with_arg(model),
            Vec::<u32>::new(),
            "{model}: predictor stopped with the gateway"
        );
    }
    let gw = Gateway::start(dir).await;
    let view = gw
        .wait_view(
            "default",
            "iris",
            "the same canary back after a restart",
            settled,
        )
        .await;
    let names: Vec<&str> = view["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [R2, R1], "the same revisions, newest first");
    let predictor = &view["isvc"]["status"]["components"]["predictor"];
    assert_eq!(predictor["latestCreatedRevision"], R2, "{predictor:#}");
    assert_eq!(predictor["latestRolledoutRevision"], R1, "{predictor:#}");
    // Each revision runs its own model again.
    assert_eq!(processes_with_arg(&m1).len(), 1, "{}", gw.stderr());
    assert_eq!(processes_with_arg(&m2).len(), 1, "{}", gw.stderr());

    let (counts, _) = tally(&gw, "iris", 1000, R2).await;
    assert_eq!(counts.get(R2), Some(&100), "{counts:?}");
    assert_eq!(counts.get(R1), Some(&900), "{counts:?}");
}

// === rollout under load ===

/// One admin poll: when it was sent and the state it showed of the new revision.
struct Poll {
    sent: tokio::time::Instant,
    state: String,
}

/// Polls the admin view of default/iris back to back until `stop`, recording the state of
/// `revision` each time.
fn poll_states(
    gw: &Gateway,
    revision: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Poll>> {
    let (http, url) = (
        Http::new(),
        gw.url("/admin/v1/namespaces/default/inferenceservices/iris"),
    );
    tokio::spawn(async move {
        let mut polls = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let sent = tokio::time::Instant::now();
            let reply = http.get(&url).await;
            reply.assert_ok();
            polls.push(Poll {
                sent,
                state: revision_state(&reply.json(), revision).to_owned(),
            });
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        polls
    })
}

/// Blue/green under load: 16 clients run throughout the apply of a new revision (two replicas)
/// and the old revision's drain. Every request succeeds, and no response comes from the new
/// revision before the admin API reported it Ready: each one ended after the send time of every
/// admin poll that still showed it not Ready (the admin API publishes a revision's state together
/// with the route table, so a revision routed while Loading, or with one of its two replicas
/// up, fails this). Then the old revision is Stopped with 0 replicas and its process is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_rollout_under_load_fails_nothing_and_waits_for_ready() {
    let dir = Gateway::config_dir();
    let m1 = copy_model(dir.path(), "iris.onnx", "bluegreen-1.onnx");
    let m2 = copy_model(dir.path(), "iris.onnx", "bluegreen-2.onnx");
    write_config(dir.path(), "iris.yaml", &Isvc::new("iris", &m1).yaml());
    let gw = Gateway::start(dir).await;
    gw.wait_ready("default", "iris").await;

    let load = Load::start(&gw.url("/v2/models/iris/infer"), &iris_v2(), 16);
    load.wait_more(100).await;
    let stop_polls = Arc::new(AtomicBool::new(false));
    let polls = poll_states(&gw, R2, Arc::clone(&stop_polls));

    gw.write(
        "iris.yaml",
        &Isvc::new("iris", &m2).predictor("minReplicas: 2").yaml(),
    );
    gw.wait_view(
        "default",
        "iris",
        "the new revision takes all traffic and the old one stops",
        |v| {
            revision_state(v, R2) == "Ready"
                && revision(v, R2).is_some_and(|r| r["readyReplicas"] == 2)
                && traffic(v) == split(&[(R2, 100)])
                && revision_state(v, R1) == "Stopped"
                && revision(v, R1)
                    .is_some_and(|r| r["readyReplicas"] == 0 && r["desiredReplicas"] == 0)
        },
    )
    .await;
    wait_until("the old revision's predictor exits after its drain", || {
        processes_with_arg(&m1).is_empty()
    })
    .await;
    assert_eq!(
        processes_with_arg(&m2).len(),
        2,
        "two replicas of the new revision"
    );
    load.wait_more(200).await;
    stop_polls.store(true, Ordering::Relaxed);
    let polls = polls.await.unwrap();
    let samples = load.stop().await;

    assert_all_ok(&samples, "rollout under load");
    let first_loading = polls
        .iter()
        .find(|p| p.state == "Loading")
        .expect("some admin poll saw the new revision Loading (else the check below is vacuous)")
        .sent;
    let last_not_ready = polls
        .iter()
        .filter(|p| p.state != "Ready")
        .map(|p| p.sent)
        .max()
        .unwrap();
    assert!(
        polls.iter().any(|p| p.state == "Ready"),
        "some poll saw it Ready"
    );
    let from = |rev: &'static str| {
        samples
            .iter()
            .filter(move |s| s.revision.as_deref() == Some(rev))
    };
    let early: Vec<&Sample> = from(R2).filter(|s| s.end <= last_not_ready).collect();
    assert!(
        early.is_empty(),
        "{} responses from {R2} ended before an admin poll that still showed it not Ready, e.g. {:?} ({:?} before)",
        early.len(),
        early[0],
        last_not_ready - early[0].end
    );
    assert!(
        from(R1).any(|s| s.end > first_loading),
        "the old revision served while the new one loaded"
    );
    assert!(from(R2).count() > 0);
    assert!(
        samples.iter().all(|s| s.revision.is_some()),
        "every response names its revision"
    );
    assert!(
        samples[samples.len() - 100..]
            .iter()
            .all(|s| s.revision.as_deref() == Some(R2)),
        "the last requests all went to the new revision"
    );
}

// === failures ===

/// A revision whose model file is garbage: its replica fails to load, the revision is Failed
/// with the loader's message (admin status and `get revisions`), it is not restarted, and all
/// traffic stays on the previous revision while a client runs throughout with 0 failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_model_fails_its_revision_and_traffic_stays() {
    let dir = Gateway::config_dir();
    let m1 = copy_model(dir.path(), "iris.onnx", "corrupt-test-good.onnx");
    let corrupt = dir.path().join("models/corrupt-test-bad.onnx");
    std::fs::write(&corrupt, b"\x08\x07garbage, not a protobuf\xff\xfe").unwrap();
    let corrupt = corrupt.display().to_string();
    write_config(dir.path(), "iris.yaml", &Isvc::new("iris", &m1).yaml());
    let gw = Gateway::start(dir).await;
    gw.wait_ready("default", "iris").await;

    let load = Load::start(&gw.url("/v2/models/iris/infer"), &iris_v2(), 4);
    load.wait_more(50).await;
    gw.write("iris.yaml", &Isvc::new("iris", &corrupt).yaml());
    let view = gw
        .wait_view("default", "iris", "the new revision Failed", |v| {
            revision_state(v, R2) == "Failed"
        })
        .await;
    let needle = "not a valid ONNX model";
    let message = revision(&view, R2).unwrap()["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(message.contains(needle), "{message}");
    let failure = &view["isvc"]["status"]["modelStatus"]["lastFailureInfo"];
    assert_eq!(failure["reason"], "ModelLoadFailed", "{failure:#}");
    assert_eq!(failure["modelRevisionName"], R2, "{failure:#}");
    assert!(
        failure["message"]
            .as_str()
            .is_some_and(|m| m.contains(needle)),
        "{failure:#}"
    );
    assert_eq!(
        view["isvc"]["status"]["modelStatus"]["transitionStatus"],
        "BlockedByFailedLoad"
    );
    assert_eq!(traffic(&view), split(&[(R1, 100)]));
    assert_eq!(condition(&view, "Ready"), "True", "still serving");
    assert_eq!(condition(&view, "LatestDeploymentReady"), "False");

    let out = gw.cli(&["get", "revisions", "iris"]).await;
    assert!(out.success, "{out:?}");
    let row = |rev: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(rev))
            .unwrap_or_else(|| panic!("no row for {rev}:\n{}", out.stdout))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        row(R2).starts_with(&format!("{R2} Failed 0/0 no 0% -")),
        "{}",
        out.stdout
    );
    assert!(row(R2).contains(needle), "{}", out.stdout);
    assert!(
        row(R1).starts_with(&format!("{R1} Ready 1/1 no 100% latest")),
        "{}",
        out.stdout
    );

    // A failed load is not retried: no process of the corrupt model stays or comes back.
    wait_until("the failed predictor is gone", || {
        processes_with_arg(&corrupt).is_empty()
    })
    .await;
    load.wait_more(100).await;
    assert!(processes_with_arg(&corrupt).is_empty(), "not restarted");
    let samples = load.stop().await;
    assert_all_ok(&samples, "corrupt rollout");
    assert!(
        samples.iter().all(|s| s.revision.as_deref() == Some(R1)),
        "every request served by the previous revision"
    );
}

/// A replica killed with SIGKILL under load (`minReplicas: 2`): requests meanwhile all succeed
/// (the proxy retries a connection failure once, on the other replica), the supervisor starts a
/// new process, and the revision is back to 2/2 ready replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_replica_is_retried_around_and_replaced() {
    let dir = Gateway::config_dir();
    let m1 = copy_model(dir.path(), "iris.onnx", "killed-replica.onnx");
    write_config(
        dir.path(),
        "iris.yaml",
        &Isvc::new("iris", &m1).predictor("minReplicas: 2").yaml(),
    );
    // The proxy logs each retry at debug level.
    let gw =
        Gateway::start_with_env(dir, &[("RUST_LOG", "info,infergate_gateway::proxy=debug")]).await;
    let two_ready = |v: &Value| {
        condition(v, "Ready") == "True"
            && revision_state(v, R1) == "Ready"
            && revision(v, R1).is_some_and(|r| r["readyReplicas"] == 2 && r["desiredReplicas"] == 2)
    };
    gw.wait_view("default", "iris", "2/2 replicas ready", two_ready)
        .await;
    let before = processes_with_arg(&m1);
    assert_eq!(before.len(), 2, "two predictor processes");
    let children = children_of(gw.pid());
    assert!(
        before.iter().all(|p| children.contains(p)),
        "both are the gateway's children"
    );

    let load = Load::start(&gw.url("/v2/models/iris/infer"), &iris_v2(), 8);
    load.wait_more(100).await;
    let victim = before[0];
    let killed_at = tokio::time::Instant::now();
    signal(victim, nix::sys::signal::Signal::SIGKILL);
    gw.wait_stderr("Replica exited; restarting it.").await;
    // The controller logs the exit just before it publishes it: a view read in between still
    // says 2/2. A replacement process is only started after a backoff that follows that
    // publication, so wait for the replacement and for 2/2 together.
    let replaced = || {
        let now = processes_with_arg(&m1);
        now.len() == 2 && !now.contains(&victim)
    };
    gw.wait_view(
        "default",
        "iris",
        "a new process and 2/2 replicas ready",
        |v| replaced() && two_ready(v),
    )
    .await;
    let recovered_at = tokio::time::Instant::now();
    assert!(
        replaced(),
        "two predictor processes again, the killed one replaced"
    );
    load.wait_more(200).await;
    let samples = load.stop().await;

    assert_all_ok(&samples, "a replica killed under load");
    let meanwhile = samples
        .iter()
        .filter(|s| s.end > killed_at && s.end < recovered_at)
        .count();
    assert!(
        meanwhile > 0,
        "requests were served while a replica was down"
    );
    let retries = gw.stderr().matches("retrying once").count();
    assert!(
        retries > 0,
        "requests in flight to the killed replica were retried:\n{}",
        gw.stderr()
    );
}

/// Bad configuration never disturbs serving: an unknown field is warned with its path and file;
/// invalid YAML written over a serving service's file is reported with its line and column and
/// the service keeps serving its last good spec; a model format infergate does not run (sklearn)
/// gives a Failed revision telling to convert to ONNX. A client runs throughout: 0 failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_is_reported_and_never_disturbs_serving() {
    let dir = Gateway::config_dir();
    let m1 = copy_model(dir.path(), "iris.onnx", "bad-config.onnx");
    let iris = Isvc::new("iris", &m1).predictor("serviceAccountName: robot");
    write_config(dir.path(), "iris.yaml", &iris.yaml());
    let gw = Gateway::start(dir).await;
    gw.wait_ready("default", "iris").await;
    let log = gw.wait_stderr("spec.predictor.serviceAccountName").await;
    let warning = log
        .lines()
        .find(|l| l.contains("spec.predictor.serviceAccountName"))
        .unwrap();
    assert!(
        warning.contains("WARN") && warning.contains("iris.yaml"),
        "{warning}"
    );

    let load = Load::start(&gw.url("/v2/models/iris/infer"), &iris_v2(), 4);
    load.wait_more(50).await;

    // Invalid YAML (a string where a number goes, on line 7) over the serving file.
    let broken = Isvc::new("iris", &m1).predictor("minReplicas: two");
    assert_eq!(broken.yaml().lines().nth(6), Some("    minReplicas: two"));
    gw.write("iris.yaml", &broken.yaml());
    let log = gw.wait_stderr("Invalid InferenceService YAML").await;
    let error = log
        .lines()
        .find(|l| l.contains("Invalid InferenceService YAML"))
        .unwrap();
    assert!(
        error.contains("keeping its last good content: iris.yaml:7:18: ")
            && error.contains("minReplicas: two"),
        "{error}"
    );

    // A model format infergate does not run, in a new file.
    write_config(
        gw.dir(),
        "wine.yaml",
        &Isvc::new("wine", "/models/wine.joblib")
            .format("sklearn")
            .yaml(),
    );
    let wine = gw
        .wait_view("default", "wine", "the sklearn revision Failed", |v| {
            revision_state(v, "wine-predictor-00001") == "Failed"
        })
        .await;
    let message = revision(&wine, "wine-predictor-00001").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("convert it to ONNX") && message.contains("sklearn"),
        "{message}"
    );
    let failure = &wine["isvc"]["status"]["modelStatus"]["lastFailureInfo"];
    assert_eq!(failure["reason"], "UnsupportedModel", "{failure:#}");
    assert_eq!(failure["message"].as_str(), Some(message.as_str()));
    assert_eq!(condition(&wine, "Ready"), "False");
    let out = gw.cli(&["get", "revisions", "wine"]).await;
    assert!(
        out.success && out.stdout.contains("Failed") && out.stdout.contains("convert it to ONNX"),
        "{out:?}"
    );
    let reply = gw
        .http
        .post(&gw.url("/v2/models/wine/infer"), iris_v2())
        .await;
    reply.assert_status(
        StatusCode::SERVICE_UNAVAILABLE,
        "wine has no ready revision",
    );
    assert!(reply.error().contains("wine"), "{}", reply.error());

    load.wait_more(100).await;
    let samples = load.stop().await;
    assert_all_ok(&samples, "bad configuration");
    let view = gw.view("default", "iris").await.unwrap();
    assert_eq!(
        view["revisions"].as_array().unwrap().len(),
        1,
        "no new revision: {view:#}"
    );
    assert_eq!(traffic(&view), split(&[(R1, 100)]));
    assert!(samples.iter().all(|s| s.revision.as_deref() == Some(R1)));
}

// === CLI verbs ===

/// The whitespace-separated cells of the line of `stdout` whose first cell is `first`.
fn table_row<'a>(stdout: &'a str, first: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row {first:?} in:\n{stdout}"))
}

/// Sends `n` requests and asserts each was served by `revision`.
async fn all_served_by(gw: &Gateway, model: &str, n: usize, revision: &str) {
    let (counts, _) = tally(gw, model, n, revision).await;
    assert_eq!(counts, BTreeMap::from([(revision.to_owned(), n)]));
}

/// `infergate apply -f`, `get isvc` (table, `-o yaml`, `-o json`), `get revisions`, `rollback`
/// (during a canary, and after a blue/green rollout of a second service) and `delete isvc`
/// against a running gateway: their output and their effect (delete stops only its own pods). `apply` writes the config folder atomically (a rename: the
/// file's inode changes, no temporary file stays behind).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_verbs_drive_a_running_gateway() {
    use std::os::unix::fs::MetadataExt as _;

    let dir = Gateway::config_dir();
    let models: Vec<String> = (1..=4)
        .map(|i| copy_model(dir.path(), "iris.onnx", &format!("cli-{i}.onnx")))
        .collect();
    let gw = Gateway::start(dir).await;
    let manifests = Gateway::config_dir();
    let manifest = |file: &str, isvc: &Isvc| {
        let path = manifests.path().join(file);
        std::fs::write(&path, isvc.yaml()).unwrap();
        (path.display().to_string(), isvc.yaml())
    };
    let config_file = gw.dir().join("iris.yaml");
    let entries = || {
        let mut names: Vec<String> = std::fs::read_dir(gw.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };

    let out = gw.cli(&["get", "isvc"]).await;
    assert!(
        out.success && out.stderr.contains("No InferenceServices found."),
        "{out:?}"
    );

    // apply: created, then unchanged.
    let (v1_file, v1_text) = manifest("iris-1.yaml", &Isvc::new("iris", &models[0]));
    let out = gw.cli(&["apply", "-f", &v1_file]).await;
    assert!(out.success, "{out:?}");
    assert_eq!(
        out.stdout,
        "inferenceservice.serving.kserve.io/iris created\n"
    );
    assert_eq!(
        std::fs::read_to_string(&config_file).unwrap(),
        v1_text,
        "written as sent"
    );
    gw.wait_ready("default", "iris").await;
    let out = gw.cli(&["apply", "-f", &v1_file]).await;
    assert_eq!(
        out.stdout, "inferenceservice.serving.kserve.io/iris unchanged\n",
        "{out:?}"
    );

    // get isvc: table, JSON and YAML.
    let out = gw.cli(&["get", "isvc"]).await;
    assert!(out.success, "{out:?}");
    assert_eq!(
        table_row(&out.stdout, "NAMESPACE"),
        [
            "NAMESPACE",
            "NAME",
            "URL",
            "READY",
            "PREV",
            "LATEST",
            "REVISIONS",
            "REPLICAS"
        ]
    );
    assert_eq!(
        table_row(&out.stdout, "default"),
        [
            "default",
            "iris",
            "http://iris.default.example.com",
            "True",
            "0",
            "100",
            "1",
            "1/1"
        ]
    );
    let out = gw.cli(&["get", "isvc", "iris", "-o", "json"]).await;
    assert!(out.success, "{out:?}");
    let as_json: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(as_json["kind"], "InferenceService");
    assert_eq!(as_json["metadata"]["name"], "iris");
    assert_eq!(
        as_json["spec"]["predictor"]["model"]["storageUri"],
        models[0].as_str()
    );
    assert_eq!(as_json["status"]["url"], "http://iris.default.example.com");
    assert_eq!(
        as_json["status"]["components"]["predictor"]["latestReadyRevision"],
        R1
    );
    let out = gw.cli(&["get", "isvc", "iris", "-o", "yaml"]).await;
    assert!(out.success, "{out:?}");
    let as_yaml: Value = serde_saphyr::from_str(&out.stdout).unwrap();
    for part in ["apiVersion", "kind", "metadata", "spec"] {
        assert_eq!(
            as_yaml[part], as_json[part],
            "-o yaml and -o json agree on {part}"
        );
    }
    assert_eq!(
        as_yaml["status"]["components"],
        as_json["status"]["components"]
    );

    let out = gw.cli(&["get", "revisions", "iris"]).await;
    assert_eq!(
        table_row(&out.stdout, "REVISION"),
        [
            "REVISION", "STATE", "REPLICAS", "AT-ZERO", "TRAFFIC", "TAGS", "CREATED", "MESSAGE"
        ]
    );
    let row = table_row(&out.stdout, R1);
    assert_eq!(
        row[..6],
        [R1, "Ready", "1/1", "no", "100%", "latest"],
        "{}",
        out.stdout
    );
    assert!(
        row[6].ends_with('Z') && row[6].len() == 20,
        "RFC 3339 creation time: {}",
        row[6]
    );

    // Nothing to roll back to yet.
    let out = gw.cli(&["rollback", "iris"]).await;
    assert!(
        !out.success && out.stderr.contains("no previous rolled-out revision"),
        "{out:?}"
    );

    // A canary, rolled back: everything to the stable revision.
    let inode = std::fs::metadata(&config_file).unwrap().ino();
    let (v2_file, v2_text) = manifest(
        "iris-2.yaml",
        &Isvc::new("iris", &models[1]).predictor("canaryTrafficPercent: 10"),
    );
    let out = gw.cli(&["apply", "-f", &v2_file]).await;
    assert_eq!(
        out.stdout, "inferenceservice.serving.kserve.io/iris configured\n",
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&config_file).unwrap(), v2_text);
    assert_ne!(
        std::fs::metadata(&config_file).unwrap().ino(),
        inode,
        "replaced by a rename, not rewritten in place"
    );
    assert_eq!(
        entries(),
        [".infergate", "iris.yaml", "models"],
        "no temporary file left"
    );
    gw.wait_view("default", "iris", "canary 10/90", |v| {
        revision_state(v, R2) == "Ready" && traffic(v) == split(&[(R1, 90), (R2, 10)])
    })
    .await;
    let out = gw.cli(&["rollback", "iris"]).await;
    assert!(out.success, "{out:?}");
    assert_eq!(
        out.stdout,
        "inferenceservice.serving.kserve.io/iris rolled back (canaryTrafficPercent: 0)\n"
    );
    gw.wait_view(
        "default",
        "iris",
        "rolled back to the stable revision",
        |v| traffic(v) == split(&[(R1, 100), (R2, 0)]) && revision_state(v, R1) == "Ready",
    )
    .await;
    all_served_by(&gw, "iris", 20, R1).await;
    let written = std::fs::read_to_string(&config_file).unwrap();
    assert!(written.contains("canaryTrafficPercent: 0"), "{written}");

    // Blue/green (a second InferenceService), then rolled back: the replaced revision stopped,
    // and the rollback starts it again and sends it 100% once it is Ready.
    let (f1, f2) = ("flower-predictor-00001", "flower-predictor-00002");
    let (f1_file, _) = manifest("flower-1.yaml", &Isvc::new("flower", &models[2]));
    let out = gw.cli(&["apply", "-f", &f1_file]).await;
    assert_eq!(
        out.stdout, "inferenceservice.serving.kserve.io/flower created\n",
        "{out:?}"
    );
    gw.wait_ready("default", "flower").await;
    let (f2_file, _) = manifest("flower-2.yaml", &Isvc::new("flower", &models[3]));
    let out = gw.cli(&["apply", "-f", &f2_file]).await;
    assert_eq!(
        out.stdout, "inferenceservice.serving.kserve.io/flower configured\n",
        "{out:?}"
    );
    gw.wait_view(
        "default",
        "flower",
        "the second revision rolled out, the first stopped",
        |v| {
            traffic(v) == split(&[(f2, 100)])
                && v["isvc"]["status"]["components"]["predictor"]["previousRolledoutRevision"] == f1
                && revision_state(v, f1) == "Stopped"
        },
    )
    .await;
    wait_until("the replaced revision's predictor stops", || {
        processes_with_arg(&models[2]).is_empty()
    })
    .await;
    all_served_by(&gw, "flower", 20, f2).await;
    let out = gw.cli(&["rollback", "flower"]).await;
    assert!(out.success, "{out:?}");
    gw.wait_view(
        "default",
        "flower",
        "rolled back to the previous rolled-out revision",
        |v| traffic(v) == split(&[(f1, 100), (f2, 0)]) && revision_state(v, f1) == "Ready",
    )
    .await;
    all_served_by(&gw, "flower", 20, f1).await;
    let out = gw.cli(&["get", "revisions", "flower"]).await;
    let rows: Vec<&str> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(rows, [f2, f1], "newest first: {}", out.stdout);
    assert_eq!(
        table_row(&out.stdout, f1)[..6],
        [f1, "Ready", "1/1", "no", "100%", "prev"],
        "{}",
        out.stdout
    );
    assert_eq!(
        table_row(&out.stdout, f2)[..6],
        [f2, "Ready", "1/1", "no", "0%", "latest"],
        "{}",
        out.stdout
    );

    // delete: the file goes, the model 404s, every predictor stops.
    let out = gw.cli(&["delete", "isvc", "iris"]).await;
    assert!(out.success, "{out:?}");
    assert_eq!(
        out.stdout,
        "inferenceservice.serving.kserve.io \"iris\" deleted\n"
    );
    assert!(!config_file.exists(), "the file is deleted");
    let deadline = tokio::time::Instant::now() + crate::support::CONDITION_TIMEOUT;
    while gw.view("default", "iris").await.is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "iris still listed after delete"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let reply = gw
        .http
        .post(&gw.url("/v2/models/iris/infer"), iris_v2())
        .await;
    reply.assert_status(StatusCode::NOT_FOUND, "iris after delete");
    assert!(reply.error().contains("iris"), "{}", reply.error());
    wait_until("every predictor of iris stops", || {
        models[..2].iter().all(|m| processes_with_arg(m).is_empty())
    })
    .await;
    let out = gw.cli(&["get", "isvc"]).await;
    assert!(out.success, "{out:?}");
    let listed: Vec<&str> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(listed, ["flower"], "{}", out.stdout);
    all_served_by(&gw, "flower", 20, f1).await;
}
