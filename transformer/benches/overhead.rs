//! Per-call overhead of a transformer: a fresh instance, the body copied in, the entry point, the
//! output checked and copied out. `cargo bench -p infergate-transformer`.
//!
//! * `echo/{2rows,1KiB,64KiB}`: a WAT module that returns its input: the host's own cost.
//! * `iris-pre`, `iris-post`, `minilm-pre`: the example transformers (Rust + serde), as the
//!   gateway would run them (needs scripts/build-transformers.sh).
//! * `reset/*`: the same iris call with memory slots reset by `madvise` (keep_resident = 0) vs
//!   kept resident and reset by `memset` of the touched pages (the default).
//! * `async/*`: awaited inline in a tokio task (what the gateway does) vs handed to the blocking
//!   pool with `spawn_blocking` (what it did before the host went async).
//!
//! The `call` and `reset` groups drive each call to completion with `block_on` on a
//! current-thread runtime (a few hundred ns of the figure).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use infergate_transformer::{Engine, EngineConfig, Limits, Protocol, Transformer};

/// "2rows" is the size of a typical iris request (two instances; examples/requests/).
const SIZES: [(&str, usize); 3] = [("2rows", 160), ("1KiB", 1 << 10), ("64KiB", 64 << 10)];
const IRIS_CONFIG: &str = r#"{"classes": ["setosa", "versicolor", "virginica"]}"#;

fn example(engine: &Engine, name: &str, config: &str) -> Transformer {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/transformers/build")
        .join(format!("{name}.wasm"));
    let wasm = std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "cannot read {}: {error}; run scripts/build-transformers.sh",
            path.display()
        )
    });
    engine
        .compile(name, &wasm, config, Limits::default())
        .expect("example loads")
}

fn echo(engine: &Engine) -> Transformer {
    let wat = r#"(module
      (memory (export "memory") 1)
      (global $next (mut i32) (i32.const 1024))
      (func (export "alloc") (param $len i32) (result i32)
        (local $ptr i32) (local $end i32)
        (local.set $ptr (global.get $next))
        (local.set $end (i32.add (local.get $ptr) (local.get $len)))
        (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
          (then (drop (memory.grow (i32.sub (i32.add (i32.shr_u (local.get $end) (i32.const 16)) (i32.const 1))
                                            (memory.size))))))
        (global.set $next (local.get $end))
        (local.get $ptr))
      (func (export "preprocess") (param $in i32) (param $len i32) (param i32 i32 i32 i32) (result i64)
        (i64.or (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 32)) (i64.extend_i32_u (local.get $in)))))"#;
    let wasm = wat::parse_str(wat).expect("echo assembles");
    engine
        .compile("echo", &wasm, "", Limits::default())
        .expect("echo loads")
}

/// `{"pad":"xxx…"}` of exactly `size` bytes.
fn padded(size: usize) -> Vec<u8> {
    format!(r#"{{"pad":"{}"}}"#, "x".repeat(size - 10)).into_bytes()
}

/// V1 named-feature instances, about `size` bytes.
fn iris_request(size: usize) -> Vec<u8> {
    let one = r#"{"sepal_length":6.8,"sepal_width":2.8,"petal_length":4.8,"petal_width":1.4}"#;
    let rows = (size / (one.len() + 1)).max(1);
    format!(r#"{{"instances":[{}]}}"#, vec![one; rows].join(",")).into_bytes()
}

/// The V2 response to [`iris_request`] of `rows` rows.
fn iris_response(rows: usize) -> Vec<u8> {
    let labels = vec!["1"; rows].join(",");
    let probabilities = vec!["0.01,0.8,0.19"; rows].join(",");
    format!(
        r#"{{"model_name":"iris","outputs":[{{"name":"label","datatype":"INT64","shape":[{rows}],"data":[{labels}]}},{{"name":"probabilities","datatype":"FP32","shape":[{rows},3],"data":[{probabilities}]}}]}}"#
    )
    .into_bytes()
}

/// V1 texts, about `size` bytes.
fn minilm_request(size: usize) -> Vec<u8> {
    let one = r#""  A Man Is Eating Food, And The Dog Watches.  ""#;
    let rows = (size / (one.len() + 1)).max(1);
    format!(r#"{{"instances":[{}]}}"#, vec![one; rows].join(",")).into_bytes()
}

/// A current-thread runtime with its timer (a call waiting for a slot needs it).
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
}

fn calls(c: &mut Criterion) {
    let runtime = current_thread();
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    let echo = echo(&engine);
    let iris = example(&engine, "iris", IRIS_CONFIG);
    let minilm = example(&engine, "minilm", r#"{"max_chars": 256}"#);

    let mut group = c.benchmark_group("call");
    for (label, size) in SIZES {
        let body = padded(size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("echo", label), &body, |b, body| {
            b.iter(|| {
                runtime
                    .block_on(echo.preprocess(black_box(body), Protocol::V1))
                    .expect("echo")
            });
        });
        let body = iris_request(size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("iris-pre", label), &body, |b, body| {
            b.iter(|| {
                runtime
                    .block_on(iris.preprocess(black_box(body), Protocol::V1))
                    .expect("iris preprocess")
            });
        });
        let rows = size / 80;
        let body = iris_response(rows.max(1));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("iris-post", label), &body, |b, body| {
            b.iter(|| {
                runtime
                    .block_on(iris.postprocess(black_box(body), Protocol::V2, Protocol::V1))
                    .expect("iris postprocess")
            });
        });
        let body = minilm_request(size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("minilm-pre", label), &body, |b, body| {
            b.iter(|| {
                runtime
                    .block_on(minilm.preprocess(black_box(body), Protocol::V1))
                    .expect("minilm preprocess")
            });
        });
    }
    group.finish();
}

fn reset(c: &mut Criterion) {
    let runtime = current_thread();
    let mut group = c.benchmark_group("reset");
    let body = iris_request(160);
    for (label, keep) in [
        ("madvise", 0),
        ("keep-resident", EngineConfig::default_keep_resident_bytes()),
    ] {
        let engine = Engine::new(EngineConfig {
            keep_resident_bytes: keep,
            ..EngineConfig::default()
        })
        .expect("engine");
        let iris = example(&engine, "iris", IRIS_CONFIG);
        group.bench_function(BenchmarkId::new("iris-pre-2rows", label), |b| {
            b.iter(|| {
                runtime
                    .block_on(iris.preprocess(black_box(&body), Protocol::V1))
                    .expect("iris preprocess")
            });
        });
    }
    group.finish();
}

fn from_async(c: &mut Criterion) {
    let engine = Engine::new(EngineConfig::default()).expect("engine");
    let iris = example(&engine, "iris", IRIS_CONFIG);
    // The gateway's runtime shape on this box: a multi-threaded runtime with 2 workers.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("async");
    for (label, size) in SIZES {
        let body = iris_request(size);
        group.bench_function(BenchmarkId::new("inline", label), |b| {
            b.iter_custom(|iters| {
                let (iris, body) = (iris.clone(), body.clone());
                runtime.block_on(async move {
                    tokio::spawn(async move {
                        let started = Instant::now();
                        for _ in 0..iters {
                            black_box(iris.preprocess(&body, Protocol::V1).await.expect("iris"));
                        }
                        started.elapsed()
                    })
                    .await
                    .expect("task")
                })
            });
        });
        let body = std::sync::Arc::new(body);
        group.bench_function(BenchmarkId::new("spawn_blocking", label), |b| {
            b.iter_custom(|iters| {
                let (iris, body) = (iris.clone(), body.clone());
                runtime.block_on(async move {
                    tokio::spawn(async move {
                        let started = Instant::now();
                        for _ in 0..iters {
                            let (iris, body) = (iris.clone(), body.clone());
                            let handle = tokio::runtime::Handle::current();
                            let out = tokio::task::spawn_blocking(move || {
                                handle.block_on(iris.preprocess(&body, Protocol::V1))
                            });
                            black_box(out.await.expect("blocking task").expect("iris"));
                        }
                        started.elapsed()
                    })
                    .await
                    .expect("task")
                })
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = calls, reset, from_async
}
criterion_main!(benches);
