//! Reading the KServe samples in `tests/data/kserve-samples`.

use std::path::PathBuf;

use infergate_k8s::{InferenceService, Parsed, Warning, parse_documents};

pub(crate) fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/kserve-samples")
}

pub(crate) fn read_sample(file: &str) -> String {
    let path = samples_dir().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every document of a sample file.
pub(crate) fn parse_sample(file: &str) -> Vec<Parsed> {
    parse_documents(&read_sample(file), file).unwrap_or_else(|e| panic!("{e}"))
}

/// The only document of a sample file, which must be an InferenceService.
pub(crate) fn parse_single(file: &str) -> (InferenceService, Vec<Warning>) {
    let mut docs = parse_sample(file);
    assert_eq!(docs.len(), 1, "{file}: expected one document");
    let doc = docs.remove(0);
    let isvc = doc
        .isvc
        .unwrap_or_else(|| panic!("{file}: skipped: {:?}", doc.warnings));
    (isvc, doc.warnings)
}

/// The warnings' paths, for exact comparisons.
pub(crate) fn paths(warnings: &[Warning]) -> Vec<&str> {
    warnings.iter().map(|w| w.path.as_str()).collect()
}
