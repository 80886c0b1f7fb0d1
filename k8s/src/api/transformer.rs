//! `spec.transformer`: pre- and post-processing, which infergate runs as a WebAssembly module.
//!
//! See [`TransformerSpec`] for infergate's `wasm` extension.

use serde::{Deserialize, Serialize};

use super::model::Container;

/// `spec.transformer`.
///
/// # Our extension: `spec.transformer.wasm`
///
/// KServe's transformer is a container that sits in front of the predictor. infergate runs
/// transformers in the gateway process as a WebAssembly module instead (DESIGN §8), named by a
/// field KServe does not have:
///
/// ```yaml
/// spec:
///   transformer:
///     wasm:
///       uri: file:///models/iris/transformer.wasm   # local path, file://, http(s):// or s3://
///       config:                                     # optional; any YAML value
///         scale: 0.5
/// ```
///
/// `config` is handed to the module as a string: a YAML string as written, anything else as
/// its JSON text ([`WasmModule::config_string`]). A field rather than an annotation because the
/// module is part of the spec: changing it creates a new revision, like a predictor change.
/// KServe's own CRD has no `wasm` field (its API server would prune or reject it), so such a
/// YAML is for infergate only. Transformer `containers` are parsed so they can be reported,
/// never run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransformerSpec {
    /// The WebAssembly module (our extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm: Option<WasmModule>,
    /// A KServe container transformer: parsed so it can be reported, never run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<Container>>,
}

/// `spec.transformer.wasm`: where the module is and the configuration it is given.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmModule {
    /// A local path, `file://`, `http(s)://` or `s3://` URI of a `.wasm` file.
    pub uri: String,
    /// Handed to the module's entry points; see [`WasmModule::config_string`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

// === impl WasmModule ===

impl WasmModule {
    /// The configuration as the module receives it: a string as written, any other value as
    /// JSON text, `None` when unset.
    pub fn config_string(&self) -> Option<String> {
        match self.config.as_ref()? {
            serde_json::Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    }
}
