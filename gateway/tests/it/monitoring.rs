//! Monitoring end to end, with real processes: `infergate serve` scraped by a real Prometheus
//! through a scripted run ([`serve`]), and the standalone `infergate monitor` in front of an
//! infergate predictor and of KServe's Python ModelServer, compared with in-gateway monitoring
//! ([`standalone`]). The Prometheus harness is shared with the monitor crate's tests
//! (`infergate_monitor::test_support`).

mod serve;
mod standalone;

use std::time::Duration;

use crate::support::{Http, READY_TIMEOUT, read_json};

/// The monitoring settings both the annotations and the standalone YAML give iris: the
/// reference is the first 150 rows, the drift window the last 150.
const CLASS_NAMES: &str = "setosa,versicolor,virginica";
const ARGMAX_OUTPUTS: &str = "probabilities";
const REFERENCE_SIZE: &str = "150";
const WINDOW: &str = "150";

/// The 150 rows of examples/reference/iris.json.
fn iris_rows() -> Vec<[f32; 4]> {
    let json = read_json("examples/reference/iris.json");
    let data = json["cases"][0]["inputs"]["input"]["data"]
        .as_array()
        .unwrap();
    data.chunks(4)
        .map(|c| std::array::from_fn(|i| c[i].as_f64().unwrap() as f32))
        .collect()
}

/// The rows with sepal length (`input[0]`) shifted by +3 cm; the other features unchanged.
fn shifted(rows: &[[f32; 4]]) -> Vec<[f32; 4]> {
    rows.iter()
        .map(|r| [r[0] + 3.0, r[1], r[2], r[3]])
        .collect()
}

/// A V2 request of `rows`.
fn iris_v2(rows: &[[f32; 4]]) -> String {
    let data: Vec<String> = rows.iter().flatten().map(|v| v.to_string()).collect();
    format!(
        r#"{{"inputs": [{{"name": "input", "shape": [{}, 4], "datatype": "FP32", "data": [{}]}}]}}"#,
        rows.len(),
        data.join(",")
    )
}

/// A V1 request of `rows`.
fn iris_v1(rows: &[[f32; 4]]) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|r| format!("[{}]", r.map(|v| v.to_string()).join(",")))
        .collect();
    format!(r#"{{"instances": [{}]}}"#, rows.join(","))
}

/// Sends `rows` to `base` as V2 requests of 15 rows; asserts each is a 200.
async fn send_v2(http: &Http, base: &str, rows: &[[f32; 4]]) {
    for chunk in rows.chunks(15) {
        http.post(&format!("{base}/v2/models/iris/infer"), iris_v2(chunk))
            .await
            .assert_ok();
    }
}

/// Polls the exposition at `metrics` until `samples_total` (the exact series) reads `n`;
/// returns that exposition.
async fn recorded(http: &Http, metrics: &str, samples_total: &str, n: usize) -> String {
    let want = format!("{samples_total} {n}");
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let text = String::from_utf8_lossy(&http.get(metrics).await.body).into_owned();
        if text.lines().any(|l| l == want) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not {n} recorded: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The lines of `text` that start with one of `prefixes`, sorted.
fn lines_with(text: &str, prefixes: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}
