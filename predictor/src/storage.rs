//! Where models come from: a `storageUri` resolved to a local path, and the model format.
//!
//! Local paths and `file://` URIs are served in place. Remote schemes (`http(s)://`, `s3://`,
//! `gs://`, `pvc://`) are recognised and refused with a clear message for now; a download step
//! into a local cache slots in at [`StorageUri::fetch`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A parsed `storageUri`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageUri {
    /// A path on this machine (plain, or from a `file://` URI).
    Local(PathBuf),
    /// A URI of a scheme that needs a download (`s3`, `gs`, `http`, `https`, `pvc`, ...).
    Remote { scheme: String, uri: String },
}

/// The model formats the predictor runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFormat {
    /// An `.onnx` file, run by ONNX Runtime.
    Onnx,
    /// A Hugging Face BERT-family text-embedding model directory, run by candle.
    HuggingFace,
}

/// Why a model could not be found.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "storage URI `{uri}` uses `{scheme}://`, which is not supported yet; copy the model to this machine and use a local path or a file:// URI"
    )]
    UnsupportedScheme { scheme: String, uri: String },
    #[error("model path {} does not exist", .0.display())]
    NotFound(PathBuf),
    #[error("cannot tell the model format of {}: {reason}; pass --model-format onnx|huggingface", .path.display())]
    UnknownFormat { path: PathBuf, reason: String },
    #[error("{} holds {count} .onnx files; point the storage URI at one of them", .path.display())]
    AmbiguousOnnx { path: PathBuf, count: usize },
    #[error("unknown model format `{0}`; infergate runs `onnx` and `huggingface`")]
    UnknownFormatName(String),
}

// === impl StorageUri ===

impl StorageUri {
    /// Parses a `storageUri` as KServe writes it.
    pub fn parse(uri: &str) -> StorageUri {
        if let Some(path) = uri.strip_prefix("file://") {
            return StorageUri::Local(PathBuf::from(path));
        }
        match uri.split_once("://") {
            Some((scheme, _)) if !scheme.is_empty() && !scheme.contains('/') => {
                StorageUri::Remote {
                    scheme: scheme.to_owned(),
                    uri: uri.to_owned(),
                }
            }
            _ => StorageUri::Local(PathBuf::from(uri)),
        }
    }

    /// The local path of the model, downloading it first where that is needed.
    pub fn fetch(&self) -> Result<PathBuf, StorageError> {
        match self {
            StorageUri::Local(path) if path.exists() => Ok(path.clone()),
            StorageUri::Local(path) => Err(StorageError::NotFound(path.clone())),
            StorageUri::Remote { scheme, uri } => Err(StorageError::UnsupportedScheme {
                scheme: scheme.clone(),
                uri: uri.clone(),
            }),
        }
    }
}

impl fmt::Display for StorageUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageUri::Local(path) => write!(f, "{}", path.display()),
            StorageUri::Remote { uri, .. } => f.write_str(uri),
        }
    }
}

// === impl ModelFormat ===

impl ModelFormat {
    /// KServe's `modelFormat.name` for this format.
    pub const fn as_str(self) -> &'static str {
        match self {
            ModelFormat::Onnx => "onnx",
            ModelFormat::HuggingFace => "huggingface",
        }
    }
}

impl FromStr for ModelFormat {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "onnx" => Ok(ModelFormat::Onnx),
            "huggingface" | "hf" => Ok(ModelFormat::HuggingFace),
            _ => Err(StorageError::UnknownFormatName(s.to_owned())),
        }
    }
}

impl fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Finds the model file inside `path` and its format, when `format` is not given.
///
/// A `.onnx` file is ONNX; a directory with `config.json` and `model.safetensors` is a
/// Hugging Face model; a directory with exactly one `.onnx` file (KServe's layout) is that file.
pub fn locate(
    path: &Path,
    format: Option<ModelFormat>,
) -> Result<(PathBuf, ModelFormat), StorageError> {
    let is_hf_dir =
        |p: &Path| p.join("config.json").is_file() && p.join("model.safetensors").is_file();
    if path.is_file() {
        let is_onnx = path.extension().is_some_and(|e| e == "onnx");
        return match format {
            Some(f) => Ok((path.to_path_buf(), f)),
            None if is_onnx => Ok((path.to_path_buf(), ModelFormat::Onnx)),
            None => Err(StorageError::UnknownFormat {
                path: path.to_path_buf(),
                reason: "the file does not end in .onnx".into(),
            }),
        };
    }
    if !path.is_dir() {
        return Err(StorageError::NotFound(path.to_path_buf()));
    }
    if format != Some(ModelFormat::Onnx) && is_hf_dir(path) {
        return Ok((path.to_path_buf(), ModelFormat::HuggingFace));
    }
    let onnx: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|_| StorageError::NotFound(path.to_path_buf()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    match (format, onnx.as_slice()) {
        (Some(ModelFormat::HuggingFace), _) => Err(StorageError::UnknownFormat {
            path: path.to_path_buf(),
            reason: "a Hugging Face model directory needs config.json and model.safetensors".into(),
        }),
        (_, [one]) => Ok((one.clone(), ModelFormat::Onnx)),
        (_, []) => Err(StorageError::UnknownFormat {
            path: path.to_path_buf(),
            reason: "the directory has no .onnx file and no config.json + model.safetensors".into(),
        }),
        (_, many) => Err(StorageError::AmbiguousOnnx {
            path: path.to_path_buf(),
            count: many.len(),
        }),
    }
}
