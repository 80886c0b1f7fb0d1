//! Files that cannot load say where (file:line:column) and what.

use infergate_k8s::{LoadError, Position, parse_documents};

fn error(yaml: &str) -> LoadError {
    parse_documents(yaml, "iris.yaml").expect_err("must not load")
}

#[test]
fn invalid_yaml_reports_line_and_column() {
    let yaml = "\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: iris
spec:
  predictor: {}
";
    let err = error(yaml);
    assert!(matches!(err, LoadError::Yaml { .. }), "{err:?}");
    assert!(err.to_string().starts_with("iris.yaml:4:5: "), "{err}");
}

#[test]
fn bad_indentation_reports_line_and_column() {
    let yaml = "\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: iris
   namespace: ml
spec: {}
";
    let err = error(yaml);
    assert_eq!(
        err.position(),
        Position {
            line: 5,
            column: 13
        },
        "{err}"
    );
}

#[test]
fn a_wrong_type_reports_the_value_position() {
    let yaml = "\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: iris
spec:
  predictor:
    minReplicas: lots
    onnx: {storageUri: /m.onnx}
";
    let err = error(yaml);
    assert_eq!(
        err.position(),
        Position {
            line: 7,
            column: 18
        },
        "{err}"
    );
    let text = err.to_string();
    assert!(text.starts_with("iris.yaml:7:18: "), "{text}");
    // serde-saphyr's message ("invalid i32") does not name the field; the quoted line does.
    assert!(text.ends_with(" in `minReplicas: lots`"), "{text}");
}

#[test]
fn positions_count_lines_of_earlier_documents() {
    let yaml = "\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: a}
spec: {predictor: {onnx: {storageUri: /a.onnx}}}
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: b}
spec:
  predictor:
    timeout: [1]
";
    let err = error(yaml);
    assert_eq!(
        err.position(),
        Position {
            line: 11,
            column: 14
        },
        "{err}"
    );
    assert!(err.to_string().ends_with(" in `timeout: [1]`"), "{err}");
}

#[test]
fn missing_name_is_named() {
    let yaml = "\
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  namespace: ml
spec:
  predictor: {onnx: {storageUri: /m.onnx}}
";
    let err = error(yaml);
    assert!(
        matches!(
            err,
            LoadError::MissingField {
                field: "metadata.name",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "iris.yaml:4:3: `metadata.name` is missing");

    let blank = "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n\
                 metadata: {name: \"\"}\nspec: {predictor: {}}\n";
    assert!(matches!(
        error(blank),
        LoadError::MissingField {
            field: "metadata.name",
            ..
        }
    ));

    let no_metadata = "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nspec: {}\n";
    assert_eq!(
        error(no_metadata).to_string(),
        "iris.yaml:1:1: `metadata.name` is missing"
    );
}

#[test]
fn missing_predictor_is_named() {
    let yaml = "\
---
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: {name: iris}
spec:
  transformer: {wasm: {uri: /t.wasm}}
";
    let err = error(yaml);
    assert!(
        matches!(
            err,
            LoadError::MissingField {
                field: "spec.predictor",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "iris.yaml:6:3: `spec.predictor` is missing"
    );

    let no_spec =
        "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: {name: a}\n";
    assert_eq!(
        error(no_spec).to_string(),
        "iris.yaml:1:1: `spec.predictor` is missing"
    );
}

#[test]
fn a_manifest_without_kind_is_an_error() {
    let err = error("metadata: {name: iris}\nspec: {predictor: {}}\n");
    assert_eq!(err.to_string(), "iris.yaml:1:1: `apiVersion` is missing");
    let err = error("# comment\napiVersion: v1\nmetadata: {name: iris}\n");
    assert_eq!(err.to_string(), "iris.yaml:1:1: `kind` is missing");
}

#[test]
fn empty_streams_load_nothing() {
    for yaml in [
        "",
        "\n\n",
        "# only a comment\n",
        "---\n---\n",
        "---\n# c\n...\n",
    ] {
        let docs = parse_documents(yaml, "empty.yaml").expect("empty streams load");
        assert!(docs.is_empty(), "{yaml:?}: {docs:?}");
    }
}

#[test]
fn a_scalar_document_is_an_error_not_a_panic() {
    let err = error("just text\n");
    assert!(err.to_string().starts_with("iris.yaml:1:1: "), "{err}");
}

#[test]
fn crlf_and_bom_streams_load() {
    let yaml = "\u{feff}apiVersion: serving.kserve.io/v1beta1\r\nkind: InferenceService\r\n\
                metadata: {name: a}\r\nspec: {predictor: {onnx: {storageUri: /a.onnx}}}\r\n\
                ---\r\napiVersion: v1\r\nkind: Secret\r\nmetadata: {name: s}\r\n";
    let docs = parse_documents(yaml, "crlf.yaml").expect("loads");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].isvc.as_ref().map(|i| i.name()), Some("a"));
    assert!(docs[1].isvc.is_none());
}
