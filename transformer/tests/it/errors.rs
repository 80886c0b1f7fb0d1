//! How each way a call can go wrong reaches the caller: the error, its status and its message.

use infergate_transformer::{CallError, Limits, Protocol, Transformed, Transformer};

use crate::fixtures::{self, module};
use crate::support::engine;

fn load(name: &str, items: &str, limits: Limits) -> Transformer {
    engine()
        .compile(name, &module(items), "", limits)
        .expect("fixture loads")
}

async fn preprocess_error(name: &str, items: &str) -> CallError {
    load(name, items, Limits::default())
        .preprocess(b"{}", Protocol::V1)
        .await
        .expect_err("the call fails")
}

#[tokio::test]
async fn echo_copies_the_body_in_and_out() {
    let echo = load("echo", fixtures::ECHO, Limits::default());
    let body = br#"{"instances": [1, 2, 3]}"#;
    let out = echo
        .preprocess(body, Protocol::V1)
        .await
        .expect("preprocess");
    assert_eq!(
        out,
        Transformed {
            body: Some(body.to_vec()),
            protocol: Protocol::V1
        }
    );
    let out = echo
        .postprocess(body, Protocol::V2, Protocol::V1)
        .await
        .expect("postprocess");
    assert_eq!(
        out,
        Transformed {
            body: Some(body.to_vec()),
            protocol: Protocol::V2
        }
    );
    // Bodies larger than the initial memory make `alloc` grow it.
    let big = format!("[{}0]", "0,".repeat(100_000));
    let out = echo
        .preprocess(big.as_bytes(), Protocol::V1)
        .await
        .expect("a 200 KB body");
    assert_eq!(out.body.as_deref(), Some(big.as_bytes()));
}

#[tokio::test]
async fn the_guest_gets_its_config_and_both_protocols() {
    let transformer = engine()
        .compile(
            "cfg",
            &module(fixtures::CONFIG_AND_PROTOCOLS),
            r#"{"scale": 0.5}"#,
            Limits::default(),
        )
        .expect("fixture loads");
    let out = transformer
        .preprocess(b"{}", Protocol::V2)
        .await
        .expect("preprocess");
    assert_eq!(out.body.as_deref(), Some(br#"{"scale": 0.5}"#.as_slice()));
    let out = transformer
        .postprocess(b"{}", Protocol::V2, Protocol::V1)
        .await
        .expect("postprocess");
    assert_eq!(
        out,
        Transformed {
            body: Some(b"[2,1]".to_vec()),
            protocol: Protocol::V2
        }
    );
}

#[tokio::test]
async fn unchanged_passes_through_without_a_body() {
    let out = load("same", fixtures::UNCHANGED, Limits::default())
        .preprocess(b"not even json", Protocol::V2)
        .await;
    assert_eq!(
        out.expect("preprocess"),
        Transformed {
            body: None,
            protocol: Protocol::V2
        }
    );
}

#[tokio::test]
async fn a_rejected_request_is_a_400_with_the_guests_message() {
    let transformer = load("picky", fixtures::REJECT, Limits::default());
    let error = transformer
        .preprocess(b"{}", Protocol::V1)
        .await
        .expect_err("rejected");
    assert_eq!(error.status(), 400);
    assert_eq!(
        error.to_string(),
        "transformer picky preprocess rejected its input: petal_width is missing"
    );
    let error = transformer
        .postprocess(b"{}", Protocol::V1, Protocol::V1)
        .await
        .expect_err("rejected");
    assert_eq!(
        error.status(),
        500,
        "the predictor's response is not the client's fault"
    );
}

#[tokio::test]
async fn invalid_json_is_a_500_naming_the_transformer() {
    let error = preprocess_error("garbled", fixtures::NOT_JSON).await;
    assert!(
        matches!(error, CallError::InvalidOutput { .. }),
        "{error:?}"
    );
    assert_eq!(error.status(), 500);
    let message = error.to_string();
    assert!(
        message.starts_with("transformer garbled preprocess returned invalid output: not JSON"),
        "{message}"
    );
}

#[tokio::test]
async fn broken_return_words_are_500s() {
    for (items, expected) in [
        (fixtures::OUT_OF_BOUNDS, "outside its 65536 bytes of memory"),
        (fixtures::UNKNOWN_STATUS, "unknown status 9"),
    ] {
        let error = preprocess_error("broken", items).await;
        assert_eq!(error.status(), 500);
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[tokio::test]
async fn an_output_over_the_cap_is_a_500() {
    let limits = Limits {
        max_output_bytes: 1024,
        ..Limits::default()
    };
    let error = load("big", fixtures::BIG_OUTPUT, limits)
        .preprocess(b"{}", Protocol::V1)
        .await
        .expect_err("too big");
    assert!(
        matches!(
            error,
            CallError::OutputTooLarge {
                len: 65536,
                max: 1024,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.status(), 500);
}

#[tokio::test]
async fn a_trap_is_a_500_with_what_the_guest_wrote() {
    let error = preprocess_error("panicky", fixtures::PANIC).await;
    assert!(matches!(error, CallError::Trap { .. }), "{error:?}");
    assert_eq!(error.status(), 500);
    let message = error.to_string();
    assert!(
        message.starts_with("transformer panicky trapped: panicked at src/lib.rs: boom ("),
        "{message}"
    );
    assert!(message.contains("unreachable"), "names the trap: {message}");

    let error = preprocess_error("silent", fixtures::UNREACHABLE).await;
    assert_eq!(error.status(), 500);
    let message = error.to_string();
    assert!(
        message.starts_with("transformer silent trapped: "),
        "{message}"
    );
    assert!(
        message.ends_with("wasm `unreachable` instruction executed"),
        "{message}"
    );
}

#[tokio::test]
async fn proc_exit_and_missing_imports_trap() {
    let error = preprocess_error("quitter", fixtures::EXIT).await;
    assert_eq!(
        error.to_string(),
        "transformer quitter trapped: exited with code 3"
    );
    let error = preprocess_error("clock", fixtures::CLOCK).await;
    assert_eq!(error.status(), 500);
    assert!(
        error.to_string().contains("clock_time_get"),
        "names the import: {error}"
    );
}

#[tokio::test]
async fn calling_an_entry_point_the_module_lacks_is_a_500() {
    let error = load("pre-only", fixtures::SPIN, Limits::default())
        .postprocess(b"{}", Protocol::V1, Protocol::V1)
        .await
        .expect_err("no postprocess");
    assert_eq!(error.status(), 500);
    assert_eq!(
        error.to_string(),
        "transformer pre-only has no postprocess entry point"
    );
}
