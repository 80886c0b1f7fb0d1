//! Every KServe sample loads.

use crate::support::{parse_sample, samples_dir};

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
