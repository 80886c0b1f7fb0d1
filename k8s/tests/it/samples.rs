//! Every KServe sample loads.

use infergate_k8s::WarningKind;

use crate::support::{parse_sample, paths, samples_dir};

/// The number of files in `tests/data/kserve-samples` (see its README): a file that goes
/// missing, or one added without a look at what it does, fails here.
const SAMPLE_COUNT: usize = 30;

#[test]
fn every_sample_parses() {
    let mut files: Vec<String> = std::fs::read_dir(samples_dir())
        .expect("the samples folder exists")
        .map(|entry| {
            entry
                .expect("readable entry")
                .file_name()
                .into_string()
                .expect("UTF-8 name")
        })
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), SAMPLE_COUNT, "sample files: {files:?}");

    let mut services = 0;
    for file in &files {
        let docs = parse_sample(file);
        assert!(!docs.is_empty(), "{file}: no documents");
        for doc in docs {
            let isvc = doc
                .isvc
                .unwrap_or_else(|| panic!("{file}: skipped: {:?}", doc.warnings));
            assert!(!isvc.name().is_empty(), "{file}: empty name");
            assert_eq!(isvc.api_version, infergate_k8s::API_VERSION, "{file}");
            services += 1;
        }
    }
    // rollout-strategy-multi-doc.yaml holds three InferenceServices.
    assert_eq!(services, SAMPLE_COUNT + 2);
}

#[test]
fn every_sample_prints_back_to_the_same_object() {
    for entry in std::fs::read_dir(samples_dir()).expect("the samples folder exists") {
        let file = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("UTF-8 name");
        if !file.ends_with(".yaml") {
            continue;
        }
        for doc in parse_sample(&file) {
            let isvc = doc.isvc.clone().expect("an InferenceService");
            let yaml = serde_saphyr::to_string(&isvc).expect("serializes to YAML");
            let again = infergate_k8s::parse_documents(&yaml, &file).expect("reloads");
            assert_eq!(again.len(), 1, "{file}");
            // Unknown fields are gone; containers and annotations (and their warnings) stay.
            let kept: Vec<_> = doc
                .warnings
                .iter()
                .filter(|w| w.kind != WarningKind::UnknownField)
                .map(|w| w.path.as_str())
                .collect();
            assert_eq!(paths(&again[0].warnings), kept, "{file}");
            assert_eq!(again[0].isvc.as_ref(), Some(&isvc), "{file}:\n{yaml}");

            let json = serde_json::to_string(&isvc).expect("serializes to JSON");
            let back: infergate_k8s::InferenceService =
                serde_json::from_str(&json).expect("JSON deserializes");
            assert_eq!(back, isvc, "{file}: {json}");
        }
    }
}
