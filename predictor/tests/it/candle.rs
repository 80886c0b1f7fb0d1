//! candle runtime tests (MiniLM embeddings against the float64 reference).
//!
//! They load the real all-MiniLM-L6-v2 from `$INFERGATE_HOME/models` (default
//! `~/.local/share/infergate/models`), which `scripts/setup.sh` installs, and fail when it is
//! missing. The reference vectors are in `tests/data/minilm-embeddings.json` (see its README).
#![cfg(feature = "candle")]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use infergate_predictor::protocol::{DataType, Tensor, TensorData};
use infergate_predictor::runtime::candle::{CandleOptions, load};
use infergate_predictor::{LoadedModel, RuntimeError, Session, TensorSpec};
use serde::Deserialize;

const MODEL_NAME: &str = "all-MiniLM-L6-v2";
const HIDDEN_SIZE: usize = 384;
const REFERENCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/minilm-embeddings.json"
);

#[derive(Deserialize)]
struct Reference {
    max_seq_length: usize,
    sentences: Vec<String>,
    embeddings: Vec<Vec<f64>>,
}

fn model_dir() -> PathBuf {
    let home = std::env::var_os("INFERGATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local/share/infergate")))
        .expect("neither INFERGATE_HOME nor HOME is set");
    let dir = home.join("models").join(MODEL_NAME);
    assert!(
        dir.join("model.safetensors").is_file(),
        "{MODEL_NAME} is not installed in {}: run `scripts/setup.sh` first",
        dir.display()
    );
    dir
}

/// The model, loaded once for the whole test binary.
fn model() -> &'static LoadedModel {
    static MODEL: OnceLock<LoadedModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        load("minilm", &model_dir(), &CandleOptions::default()).expect("load all-MiniLM-L6-v2")
    })
}

fn session() -> Box<dyn Session> {
    (model().sessions)().expect("make a candle session")
}

fn reference() -> Reference {
    let bytes = std::fs::read(REFERENCE).expect("read tests/data/minilm-embeddings.json");
    serde_json::from_slice(&bytes).expect("parse tests/data/minilm-embeddings.json")
}

fn text_input(texts: &[&str], shape: Vec<usize>) -> Vec<Tensor> {
    let bytes = texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    vec![Tensor::new("text", shape, TensorData::Bytes(bytes)).expect("text tensor")]
}

/// Embeds `texts` as one `[n]` request and returns one vector per text.
fn embed(session: &mut dyn Session, texts: &[&str]) -> Vec<Vec<f32>> {
    let outputs = session
        .run(text_input(texts, vec![texts.len()]))
        .expect("embed texts");
    rows(outputs, texts.len())
}

fn rows(outputs: Vec<Tensor>, n: usize) -> Vec<Vec<f32>> {
    let [output] = <[Tensor; 1]>::try_from(outputs).expect("exactly one output");
    let (name, shape, data) = output.into_parts();
    assert_eq!(name, "embedding");
    assert_eq!(shape, [n, HIDDEN_SIZE]);
    let TensorData::F32(data) = data else {
        panic!("embedding is {}, not FP32", data.datatype());
    };
    data.chunks(HIDDEN_SIZE).map(<[f32]>::to_vec).collect()
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt()
}

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let dot: f64 = a.iter().zip(b).map(|(&x, y)| f64::from(x) * y).sum();
    let nb = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    dot / (norm(a) * nb)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn load_error(dir: &Path, options: &CandleOptions) -> String {
    match load("minilm", dir, options) {
        Err(RuntimeError::Load(msg)) => msg,
        Err(other) => panic!("expected a load error, got {other:?}"),
        Ok(_) => panic!("loading {} with {options:?} succeeded", dir.display()),
    }
}

#[test]
fn metadata_is_text_in_embedding_out() {
    let meta = &model().metadata;
    assert_eq!(meta.name, "minilm");
    assert_eq!(meta.platform, "candle_huggingface");
    assert_eq!(
        meta.inputs,
        [TensorSpec {
            name: "text".to_owned(),
            datatype: DataType::Bytes,
            shape: vec![-1],
        }]
    );
    assert_eq!(
        meta.outputs,
        [TensorSpec {
            name: "embedding".to_owned(),
            datatype: DataType::F32,
            shape: vec![-1, 384],
        }]
    );
}

#[test]
fn each_sentence_matches_the_reference() {
    let reference = reference();
    assert_eq!(
        reference.max_seq_length,
        CandleOptions::default().max_sequence_length
    );
    assert!(
        reference.sentences.iter().any(String::is_empty),
        "the reference covers the empty string"
    );
    let mut session = session();
    for (sentence, expected) in reference.sentences.iter().zip(&reference.embeddings) {
        let got = embed(session.as_mut(), &[sentence]).remove(0);
        let cos = cosine(&got, expected);
        assert!(
            cos >= 0.9999,
            "{sentence:?}: cosine {cos} with the reference"
        );
        let n = norm(&got);
        assert!((n - 1.0).abs() < 1e-5, "{sentence:?}: norm {n}, not 1");
    }
}

#[test]
fn a_batch_of_different_lengths_equals_one_at_a_time() {
    let reference = reference();
    let sentences: Vec<&str> = reference.sentences.iter().map(String::as_str).collect();
    let mut session = session();
    let alone: Vec<Vec<f32>> = sentences
        .iter()
        .map(|s| embed(session.as_mut(), &[s]).remove(0))
        .collect();

    // Both accepted shapes: [n] and [n, 1].
    let n = sentences.len();
    for shape in [vec![n], vec![n, 1]] {
        let outputs = session
            .run(text_input(&sentences, shape.clone()))
            .expect("embed the batch");
        let batch = rows(outputs, n);
        for ((sentence, b), a) in sentences.iter().zip(&batch).zip(&alone) {
            let diff = max_abs_diff(a, b);
            assert!(
                diff < 1e-5,
                "{sentence:?} in a {shape:?} batch: max |diff| {diff}"
            );
        }
    }
}

#[test]
fn sessions_on_other_threads_share_the_weights() {
    let text = ["A man is eating food."];
    let expected = embed(session().as_mut(), &text);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| s.spawn(|| embed(session().as_mut(), &text)))
            .collect();
        for worker in workers {
            let got = worker.join().expect("worker thread");
            assert!(max_abs_diff(&got[0], &expected[0]) < 1e-6);
        }
    });
}

#[test]
fn two_threads_per_session_give_the_same_vectors() {
    let options = CandleOptions {
        threads: 2,
        ..CandleOptions::default()
    };
    let two = load("minilm", &model_dir(), &options).expect("load with 2 threads");
    let mut two_threads = (two.sessions)().expect("session with 2 threads");
    let texts = ["A man is riding a horse.", "The new movie is awesome!"];
    let got = embed(two_threads.as_mut(), &texts);
    let expected = embed(session().as_mut(), &texts);
    for (g, e) in got.iter().zip(&expected) {
        assert!(max_abs_diff(g, e) < 1e-5);
    }
}

#[test]
fn long_texts_are_truncated_at_256_tokens() {
    // "apple" and "banana" are one token each; with [CLS] and [SEP], 256 tokens hold 254 words.
    let words = |apples: usize, tail: &str| format!("{}{tail}", "apple ".repeat(apples));
    let exactly_254 = words(254, "");
    let beyond = words(254, "banana banana");
    let banana_at_254 = words(253, "banana");
    let mut session = session();
    let v = embed(
        session.as_mut(),
        &[&exactly_254, &beyond, &banana_at_254, &words(400, "")],
    );
    assert!(
        max_abs_diff(&v[0], &v[1]) < 1e-6,
        "words past token 256 must be cut"
    );
    assert!(
        max_abs_diff(&v[0], &v[3]) < 1e-6,
        "a 400-word text is cut too"
    );
    assert!(
        max_abs_diff(&v[0], &v[2]) > 1e-4,
        "token 255 (the 254th word) must still count"
    );
}

#[test]
fn non_utf8_text_is_invalid_input() {
    let input = vec![
        Tensor::new(
            "text",
            vec![2],
            TensorData::Bytes(vec![b"fine".to_vec(), vec![b'o', 0xff, 0xfe]]),
        )
        .expect("text tensor"),
    ];
    match session().run(input) {
        Err(RuntimeError::InvalidInput(msg)) => {
            assert!(msg.contains("element 1"), "{msg}");
            assert!(msg.contains("UTF-8"), "{msg}");
        }
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn wrong_shape_or_datatype_is_invalid_input() {
    let square = text_input(&["a", "b", "c", "d"], vec![2, 2]);
    let numbers = vec![Tensor::new("text", vec![1], TensorData::F32(vec![1.0])).expect("tensor")];
    let mut session = session();
    for (input, needle) in [(square, "[2, 2]"), (numbers, "FP32"), (Vec::new(), "got 0")] {
        match session.run(input) {
            Err(RuntimeError::InvalidInput(msg)) => assert!(msg.contains(needle), "{msg}"),
            other => panic!("expected InvalidInput naming {needle}, got {other:?}"),
        }
    }
}

#[test]
fn an_empty_batch_gives_no_rows() {
    let outputs = session()
        .run(text_input(&[], vec![0]))
        .expect("empty batch");
    assert!(rows(outputs, 0).is_empty());
}

#[test]
fn missing_files_name_the_file_and_the_directory() {
    let dir = std::env::temp_dir().join(format!("infergate-candle-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temp model dir");
    std::fs::copy(model_dir().join("config.json"), dir.join("config.json")).expect("copy config");
    let msg = load_error(&dir, &CandleOptions::default());
    std::fs::remove_dir_all(&dir).expect("remove the temp model dir");
    assert!(msg.contains("model.safetensors"), "{msg}");
    assert!(msg.contains(&dir.display().to_string()), "{msg}");
}

#[test]
fn out_of_range_options_are_load_errors() {
    let dir = model_dir();
    let zero_threads = CandleOptions {
        threads: 0,
        ..CandleOptions::default()
    };
    assert!(load_error(&dir, &zero_threads).contains("`threads`"));
    for max_sequence_length in [1, 513] {
        let options = CandleOptions {
            max_sequence_length,
            ..CandleOptions::default()
        };
        let msg = load_error(&dir, &options);
        assert!(msg.contains("`max_sequence_length`"), "{msg}");
        assert!(msg.contains("512"), "{msg}");
    }
}
