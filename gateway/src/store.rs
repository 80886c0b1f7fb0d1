//! The embedded source of truth: a folder of InferenceService YAML files.
//!
//! Every `*.yaml` / `*.yml` file in the folder (not its subfolders, not hidden files) is read.
//! A file that stops parsing keeps serving its last good content: invalid YAML is reported
//! with its line and column and never disturbs what is already serving.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use infergate_k8s::{InferenceService, parse_documents};

/// The default namespace, as in Kubernetes.
pub const DEFAULT_NAMESPACE: &str = "default";

/// An InferenceService's identity: (namespace, name).
pub type Key = (String, String);

/// One InferenceService and where it came from.
#[derive(Clone, Debug)]
pub struct Source {
    pub isvc: InferenceService,
    /// The file that defines it.
    pub file: PathBuf,
    /// How many InferenceServices that file defines (apply and delete rewrite single-document files only).
    pub documents_in_file: usize,
    /// Why it cannot be served as written (validation errors), if so.
    pub invalid: Option<String>,
}

/// What the folder defines now.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub services: BTreeMap<Key, Source>,
}

/// Reads the folder, remembering each file's last good content.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    /// Per file: its text (to warn once per change) and what it parsed to.
    files: HashMap<PathBuf, (String, Vec<InferenceService>)>,
}

// === impl Store ===

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store {
            dir: dir.into(),
            files: HashMap::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Re-reads every file and returns what the folder now defines.
    pub fn reload(&mut self) -> Snapshot {
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_config_file(p))
                .collect(),
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), error = %e, "Cannot read the config folder.");
                Vec::new()
            }
        };
        paths.sort();
        self.files.retain(|path, _| paths.contains(path));
        for path in &paths {
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "Cannot read file; keeping its last good content.");
                    continue;
                }
            };
            if self.files.get(path).is_some_and(|(old, _)| *old == text) {
                continue;
            }
            let origin = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            match parse_documents(&text, &origin) {
                Ok(docs) => {
                    let mut services = Vec::new();
                    for doc in docs {
                        for warning in &doc.warnings {
                            tracing::warn!(file = %origin, "{warning}");
                        }
                        services.extend(doc.isvc);
                    }
                    self.files.insert(path.clone(), (text, services));
                }
                Err(e) => {
                    let kept = if self.files.contains_key(path) {
                        "keeping its last good content"
                    } else {
                        "ignoring it"
                    };
                    tracing::error!("Invalid InferenceService YAML, {kept}: {e}");
                }
            }
        }
        let mut snapshot = Snapshot::default();
        for path in &paths {
            let Some((_, services)) = self.files.get(path) else {
                continue;
            };
            for isvc in services {
                let key = key_of(isvc);
                if let Some(existing) = snapshot.services.get(&key) {
                    tracing::error!(
                        namespace = %key.0, name = %key.1, file = %path.display(), first = %existing.file.display(),
                        "InferenceService defined twice; using the first file."
                    );
                    continue;
                }
                let invalid = isvc.validate().err().map(|errors| {
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                });
                snapshot.services.insert(
                    key,
                    Source {
                        isvc: isvc.clone(),
                        file: path.clone(),
                        documents_in_file: services.len(),
                        invalid,
                    },
                );
            }
        }
        snapshot
    }
}

/// The (namespace, name) of an InferenceService, with Kubernetes' default namespace.
pub fn key_of(isvc: &InferenceService) -> Key {
    (
        isvc.namespace().unwrap_or(DEFAULT_NAMESPACE).to_owned(),
        isvc.name().to_owned(),
    )
}

/// Whether the folder watcher and loader consider this file.
pub fn is_config_file(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml")) && path.is_file()
}

/// Writes `contents` to `path` atomically: a temporary file in the same folder, then a rename.
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
