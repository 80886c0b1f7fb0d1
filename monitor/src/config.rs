//! Per-model monitoring settings: from an InferenceService's annotations, or from the standalone
//! proxy's `--config` YAML; parsed once into a checked [`ModelMonitoring`].
//!
//! | annotation (`monitoring.infergate.dev/…`) / YAML key | default | meaning |
//! |---|---|---|
//! | `sample-ratio` | `1.0` | share of requests recorded, 0..=1 (0 turns monitoring off) |
//! | `class-names` | none | comma list (YAML: list): class `i` of an integer output is named `class-names[i]` |
//! | `argmax-outputs` | none | comma list of score outputs whose per-row argmax is also counted as a class |
//! | `output-buckets` | reference deciles | comma list of ascending bucket bounds for numeric outputs |
//! | `reference` | none | reference file, relative to the config folder ([`crate::reference`]) |
//! | `reference-size` | `1000` | values per series taken as reference when the file does not give it |
//! | `window` | `1000` | sliding window per series, in values (rows), drift is scored over |
//! | `drift-warning` | `0.1` | warning level for PSI and JS distance |
//! | `drift-threshold` | `0.2` | drift level for PSI and JS distance |

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::reference::{ReferenceError, ReferenceFile};

/// Annotation prefix of the monitoring settings.
pub const ANNOTATION_PREFIX: &str = "monitoring.infergate.dev/";
pub const SAMPLE_RATIO: &str = "monitoring.infergate.dev/sample-ratio";
pub const CLASS_NAMES: &str = "monitoring.infergate.dev/class-names";
pub const ARGMAX_OUTPUTS: &str = "monitoring.infergate.dev/argmax-outputs";
pub const OUTPUT_BUCKETS: &str = "monitoring.infergate.dev/output-buckets";
pub const REFERENCE: &str = "monitoring.infergate.dev/reference";
pub const REFERENCE_SIZE: &str = "monitoring.infergate.dev/reference-size";
pub const WINDOW: &str = "monitoring.infergate.dev/window";
pub const DRIFT_WARNING: &str = "monitoring.infergate.dev/drift-warning";
pub const DRIFT_THRESHOLD: &str = "monitoring.infergate.dev/drift-threshold";

/// Distinct classes counted per output; the rest are counted as [`OTHER_CLASS`].
pub const MAX_CLASSES: usize = 100;
/// The class label of every class past [`MAX_CLASSES`].
pub const OTHER_CLASS: &str = "other";
/// Feature series per model, and output series per model; values of further series are not
/// recorded (logged once per model).
pub const MAX_SERIES: usize = 64;
/// Smallest `reference-size` and `window`: fewer values make decile bins meaningless.
pub const MIN_VALUES: usize = 10;
/// Largest `reference-size` and `window` (memory: 2 bytes per windowed value).
pub const MAX_VALUES: usize = 1_000_000;

/// The settings as written, every one optional (YAML keys are the annotation suffixes).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    pub sample_ratio: Option<f64>,
    pub class_names: Option<Vec<String>>,
    pub argmax_outputs: Option<Vec<String>>,
    pub output_buckets: Option<Vec<f64>>,
    pub reference: Option<PathBuf>,
    pub reference_size: Option<usize>,
    pub window: Option<usize>,
    pub drift_warning: Option<f64>,
    pub drift_threshold: Option<f64>,
}

/// One model's checked monitoring settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMonitoring {
    /// Share of requests recorded, 0..=1. Default 1.
    pub sample_ratio: f64,
    /// Names of integer classes, by index. Default none (classes are the numbers).
    pub class_names: Vec<String>,
    /// Score outputs whose per-row argmax is counted as a class. Default none.
    pub argmax_outputs: Vec<String>,
    /// Buckets of numeric output histograms. Default: the output's reference bin edges.
    pub output_buckets: Option<Vec<f64>>,
    /// The reference file, loaded. Default none (every series uses its first values).
    pub reference: Option<Arc<ReferenceFile>>,
    /// Values per series taken as reference when the file does not give it. Default 1000.
    pub reference_size: usize,
    /// Sliding window per series, in values. Default 1000.
    pub window: usize,
    /// Warning level of both drift scores. Default 0.1.
    pub drift_warning: f64,
    /// Drift level of both drift scores. Default 0.2.
    pub drift_threshold: f64,
}

/// A setting that cannot be used; messages name the annotation (or YAML key) and the problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("`{key}`: {value:?} {problem}")]
    Invalid {
        key: String,
        value: String,
        problem: String,
    },
    #[error("`{key}` is not a monitoring setting; known: {known}")]
    Unknown { key: String, known: String },
    #[error("`{key}`: {source}")]
    Reference {
        key: String,
        #[source]
        source: ReferenceError,
    },
}

/// The standalone proxy's `--config` file.
///
/// ```yaml
/// namespace: default          # the `namespace` label of every series (default "")
/// defaults:                   # settings of models not listed (default: every default)
///   sample-ratio: 0.5
/// models:                     # model name (as in the URL) -> settings
///   iris:
///     class-names: [setosa, versicolor, virginica]
///     reference: iris-reference.json   # relative to this file's folder
///     window: 500
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MonitorFile {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub defaults: Settings,
    #[serde(default)]
    pub models: BTreeMap<String, Settings>,
}

/// Why the `--config` file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MonitorFileError {
    #[error("cannot read the monitoring config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("monitoring config {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    #[error("monitoring config {path}: {context}: {source}")]
    Setting {
        path: PathBuf,
        context: String,
        #[source]
        source: Box<ConfigError>,
    },
}

/// The annotation suffixes, i.e. the YAML keys.
const KEYS: &[&str] = &[
    "sample-ratio",
    "class-names",
    "argmax-outputs",
    "output-buckets",
    "reference",
    "reference-size",
    "window",
    "drift-warning",
    "drift-threshold",
];

// === impl Settings ===

impl Settings {
    /// The `monitoring.infergate.dev/*` annotations among `annotations`.
    pub fn from_annotations(
        annotations: &BTreeMap<String, String>,
    ) -> Result<Settings, ConfigError> {
        let mut settings = Settings::default();
        for (key, value) in annotations {
            let Some(suffix) = key.strip_prefix(ANNOTATION_PREFIX) else {
                continue;
            };
            let value = value.trim();
            let invalid = |problem: &str| ConfigError::Invalid {
                key: key.clone(),
                value: value.to_owned(),
                problem: problem.to_owned(),
            };
            let list = || -> Vec<String> {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            };
            let number = || value.parse::<f64>().map_err(|_| invalid("is not a number"));
            let count = || {
                value
                    .parse::<usize>()
                    .map_err(|_| invalid("is not a whole number"))
            };
            match suffix {
                "sample-ratio" => settings.sample_ratio = Some(number()?),
                "class-names" => settings.class_names = Some(list()),
                "argmax-outputs" => settings.argmax_outputs = Some(list()),
                "output-buckets" => {
                    let buckets = list()
                        .iter()
                        .map(|b| b.parse::<f64>())
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|_| invalid("is not a comma list of numbers"))?;
                    settings.output_buckets = Some(buckets);
                }
                "reference" => settings.reference = Some(PathBuf::from(value)),
                "reference-size" => settings.reference_size = Some(count()?),
                "window" => settings.window = Some(count()?),
                "drift-warning" => settings.drift_warning = Some(number()?),
                "drift-threshold" => settings.drift_threshold = Some(number()?),
                _ => {
                    return Err(ConfigError::Unknown {
                        key: key.clone(),
                        known: KEYS.join(", "),
                    });
                }
            }
        }
        Ok(settings)
    }

    /// `self`, with every unset field taken from `defaults`.
    pub fn or(self, defaults: &Settings) -> Settings {
        let d = defaults.clone();
        Settings {
            sample_ratio: self.sample_ratio.or(d.sample_ratio),
            class_names: self.class_names.or(d.class_names),
            argmax_outputs: self.argmax_outputs.or(d.argmax_outputs),
            output_buckets: self.output_buckets.or(d.output_buckets),
            reference: self.reference.or(d.reference),
            reference_size: self.reference_size.or(d.reference_size),
            window: self.window.or(d.window),
            drift_warning: self.drift_warning.or(d.drift_warning),
            drift_threshold: self.drift_threshold.or(d.drift_threshold),
        }
    }

    /// Checks the values, fills the defaults and loads the reference file (relative to `base`).
    /// `key` turns a setting's name (`window`) into what messages call it.
    pub fn resolve(
        self,
        base: &Path,
        key: impl Fn(&str) -> String,
    ) -> Result<ModelMonitoring, ConfigError> {
        let invalid = |name: &str, value: String, problem: &str| ConfigError::Invalid {
            key: key(name),
            value,
            problem: problem.to_owned(),
        };
        let sample_ratio = self.sample_ratio.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&sample_ratio) {
            return Err(invalid(
                "sample-ratio",
                sample_ratio.to_string(),
                "must be between 0 and 1",
            ));
        }
        let sizes = [
            ("reference-size", self.reference_size),
            ("window", self.window),
        ];
        for (name, size) in sizes {
            if let Some(n) = size
                && !(MIN_VALUES..=MAX_VALUES).contains(&n)
            {
                return Err(invalid(
                    name,
                    n.to_string(),
                    &format!("must be between {MIN_VALUES} and {MAX_VALUES}"),
                ));
            }
        }
        let drift_warning = self.drift_warning.unwrap_or(0.1);
        let drift_threshold = self.drift_threshold.unwrap_or(0.2);
        for (name, level) in [
            ("drift-warning", drift_warning),
            ("drift-threshold", drift_threshold),
        ] {
            if !(level.is_finite() && level > 0.0) {
                return Err(invalid(name, level.to_string(), "must be a number above 0"));
            }
        }
        if drift_warning > drift_threshold {
            return Err(invalid(
                "drift-warning",
                drift_warning.to_string(),
                &format!("must not be above the drift threshold {drift_threshold}"),
            ));
        }
        if let Some(buckets) = &self.output_buckets
            && (buckets.is_empty()
                || buckets.iter().any(|b| !b.is_finite())
                || !buckets.windows(2).all(|w| w[0] < w[1]))
        {
            return Err(invalid(
                "output-buckets",
                format!("{buckets:?}"),
                "must be finite numbers in strictly ascending order",
            ));
        }
        let reference = match &self.reference {
            Some(path) => {
                let file = ReferenceFile::load(&base.join(path)).map_err(|source| {
                    ConfigError::Reference {
                        key: key("reference"),
                        source,
                    }
                })?;
                Some(Arc::new(file))
            }
            None => None,
        };
        Ok(ModelMonitoring {
            sample_ratio,
            class_names: self.class_names.unwrap_or_default(),
            argmax_outputs: self.argmax_outputs.unwrap_or_default(),
            output_buckets: self.output_buckets,
            reference,
            reference_size: self.reference_size.unwrap_or(1000),
            window: self.window.unwrap_or(1000),
            drift_warning,
            drift_threshold,
        })
    }
}

// === impl ModelMonitoring ===

impl ModelMonitoring {
    /// Settings from `monitoring.infergate.dev/*` annotations; a `reference` path is relative to
    /// `config_dir`.
    pub fn from_annotations(
        annotations: &BTreeMap<String, String>,
        config_dir: &Path,
    ) -> Result<ModelMonitoring, ConfigError> {
        Settings::from_annotations(annotations)?
            .resolve(config_dir, |name| format!("{ANNOTATION_PREFIX}{name}"))
    }

    /// [`ModelMonitoring::from_annotations`] of an InferenceService.
    pub fn from_inference_service(
        isvc: &infergate_k8s::InferenceService,
        config_dir: &Path,
    ) -> Result<ModelMonitoring, ConfigError> {
        ModelMonitoring::from_annotations(&isvc.metadata.annotations, config_dir)
    }

    /// The label of integer class `index`: its name from `class-names`, else the number.
    pub fn class_label(&self, index: i64) -> String {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.class_names.get(i))
            .cloned()
            .unwrap_or_else(|| index.to_string())
    }
}

impl Default for ModelMonitoring {
    fn default() -> Self {
        Settings::default()
            .resolve(Path::new("."), str::to_owned)
            .expect("the defaults are valid")
    }
}

// === impl MonitorFile ===

impl MonitorFile {
    /// Reads the YAML file at `path`.
    pub fn load(path: &Path) -> Result<MonitorFile, MonitorFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| MonitorFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        serde_saphyr::from_str(&text).map_err(|source| MonitorFileError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// The defaults and every listed model resolved; references are relative to `base` (the
    /// file's folder).
    pub fn resolve(
        &self,
        path: &Path,
        base: &Path,
    ) -> Result<(ModelMonitoring, BTreeMap<String, ModelMonitoring>), MonitorFileError> {
        let setting = |context: String| {
            move |source| MonitorFileError::Setting {
                path: path.to_owned(),
                context: context.clone(),
                source: Box::new(source),
            }
        };
        let defaults = self
            .defaults
            .clone()
            .resolve(base, |k| format!("defaults.{k}"))
            .map_err(setting("defaults".to_owned()))?;
        let mut models = BTreeMap::new();
        for (name, settings) in &self.models {
            let resolved = settings
                .clone()
                .or(&self.defaults)
                .resolve(base, |k| format!("models.{name}.{k}"))
                .map_err(setting(format!("model {name}")))?;
            models.insert(name.clone(), resolved);
        }
        Ok((defaults, models))
    }
}

#[cfg(test)]
mod tests;
