//! The reference file: a model's expected distributions, per feature and per output.
//!
//! JSON, named by the `monitoring.infergate.dev/reference` annotation (or `reference:` in the
//! standalone config), relative to the config folder. Each series is given one of three ways:
//!
//! ```json
//! {
//!   "features": {
//!     "input[0]": { "samples": [5.1, 4.9, 4.7] },
//!     "input[1]": { "edges": [2.8, 3.0, 3.4], "counts": [30, 40, 50, 30] }
//!   },
//!   "outputs": {
//!     "label": { "classes": { "setosa": 50, "versicolor": 50, "virginica": 50 } },
//!     "probabilities[0]": { "samples": [0.97, 0.02, 0.01] }
//!   }
//! }
//! ```
//!
//! - `samples`: raw values, binned on their deciles (see [`crate::bins`]).
//! - `edges` + `counts`: bins given directly; `edges` strictly ascending, one more count than
//!   edges (the first count is everything `<= edges[0]`, the last everything above the last edge).
//! - `classes`: class label -> count, for class outputs (labels after `class-names` mapping).
//!
//! Series the file does not name take their reference from their first `reference-size` values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::bins::{Bins, Reference};
use crate::config::MAX_CLASSES;

/// Most bin edges a series may give (bins are counted in 16 bits in the window).
pub const MAX_EDGES: usize = 1000;

/// A parsed reference file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReferenceFile {
    pub features: BTreeMap<String, Reference>,
    pub outputs: BTreeMap<String, Reference>,
}

/// Why a reference file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("cannot read the reference file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reference file {path} is not valid JSON of the documented shape: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("reference file {path}: `{section}.{series}`: {problem}")]
    Invalid {
        path: PathBuf,
        section: &'static str,
        series: String,
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    features: BTreeMap<String, RawSeries>,
    #[serde(default)]
    outputs: BTreeMap<String, RawSeries>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeries {
    samples: Option<Vec<f64>>,
    edges: Option<Vec<f64>>,
    counts: Option<Vec<u64>>,
    classes: Option<BTreeMap<String, u64>>,
}

// === impl ReferenceFile ===

impl ReferenceFile {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<ReferenceFile, ReferenceError> {
        let text = std::fs::read(path).map_err(|source| ReferenceError::Read {
            path: path.to_owned(),
            source,
        })?;
        ReferenceFile::parse(&text, path)
    }

    /// Parses and checks a reference file's contents (`path` is for messages).
    pub fn parse(text: &[u8], path: &Path) -> Result<ReferenceFile, ReferenceError> {
        let raw: RawFile =
            serde_json::from_slice(text).map_err(|source| ReferenceError::Parse {
                path: path.to_owned(),
                source,
            })?;
        let convert = |section: &'static str, raw: BTreeMap<String, RawSeries>| {
            raw.into_iter()
                .map(|(series, s)| match s.into_reference() {
                    Ok(reference) => Ok((series, reference)),
                    Err(problem) => Err(ReferenceError::Invalid {
                        path: path.to_owned(),
                        section,
                        series,
                        problem,
                    }),
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
        };
        Ok(ReferenceFile {
            features: convert("features", raw.features)?,
            outputs: convert("outputs", raw.outputs)?,
        })
    }
}

// === impl RawSeries ===

impl RawSeries {
    fn into_reference(self) -> Result<Reference, String> {
        match (self.samples, self.edges, self.counts, self.classes) {
            (Some(samples), None, None, None) => {
                if let Some(bad) = samples.iter().find(|v| !v.is_finite()) {
                    return Err(format!("`samples` has the non-finite value {bad}"));
                }
                Reference::from_values(&samples).ok_or_else(|| "`samples` is empty".to_owned())
            }
            (None, Some(edges), Some(counts), None) => {
                if edges.iter().any(|e| !e.is_finite()) || !edges.windows(2).all(|w| w[0] < w[1]) {
                    return Err("`edges` must be finite and strictly ascending".to_owned());
                }
                if edges.len() > MAX_EDGES {
                    return Err(format!(
                        "`edges` has {} entries; at most {MAX_EDGES}",
                        edges.len()
                    ));
                }
                if counts.len() != edges.len() + 1 {
                    return Err(format!(
                        "`counts` has {} entries; {} edges need {} (one more than the edges)",
                        counts.len(),
                        edges.len(),
                        edges.len() + 1
                    ));
                }
                if counts.iter().sum::<u64>() == 0 {
                    return Err("`counts` are all 0".to_owned());
                }
                Ok(Reference {
                    bins: Bins::Numeric { edges },
                    counts,
                })
            }
            (None, None, None, Some(classes)) => {
                if classes.values().sum::<u64>() == 0 {
                    return Err("`classes` is empty or all its counts are 0".to_owned());
                }
                Ok(Reference::from_classes(&classes, MAX_CLASSES))
            }
            _ => {
                Err("give exactly one of `samples`, `edges` with `counts`, or `classes`".to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ReferenceFile, String> {
        ReferenceFile::parse(text.as_bytes(), Path::new("ref.json")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_three_forms() {
        let file = parse(
            r#"{"features": {"a": {"samples": [1, 2, 3, 4]}, "b": {"edges": [0, 1], "counts": [1, 2, 3]}},
                "outputs": {"label": {"classes": {"x": 3, "y": 1}}}}"#,
        )
        .expect("valid");
        assert_eq!(file.features["a"].counts.iter().sum::<u64>(), 4);
        assert_eq!(
            file.features["b"].bins,
            Bins::Numeric {
                edges: vec![0.0, 1.0]
            }
        );
        assert_eq!(file.outputs["label"].counts, vec![3, 1, 0]);
    }

    #[test]
    fn errors_name_the_series_and_the_problem() {
        let e =
            parse(r#"{"features": {"f": {"edges": [1, 0], "counts": [1, 1, 1]}}}"#).unwrap_err();
        assert!(
            e.contains("`features.f`") && e.contains("strictly ascending"),
            "{e}"
        );
        let e = parse(r#"{"features": {"f": {"edges": [0], "counts": [1]}}}"#).unwrap_err();
        assert!(e.contains("`counts` has 1 entries; 1 edges need 2"), "{e}");
        let e = parse(r#"{"outputs": {"o": {"samples": [1], "classes": {"a": 1}}}}"#).unwrap_err();
        assert!(
            e.contains("`outputs.o`") && e.contains("exactly one"),
            "{e}"
        );
        let e = parse(r#"{"feature": {}}"#).unwrap_err();
        assert!(e.contains("unknown field `feature`"), "{e}");
        let e = parse(r#"{"features": {"f": {"samples": []}}}"#).unwrap_err();
        assert!(e.contains("`samples` is empty"), "{e}");
    }
}
