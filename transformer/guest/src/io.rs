//! What a transformer function receives ([`Input`]) and returns ([`Output`] or [`Error`]).

use std::fmt;

use serde::Serialize;
use serde::de::{Deserialize, DeserializeOwned};

/// The protocol a JSON body speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// KServe V1: `{"instances": ...}` / `{"predictions": ...}`.
    V1,
    /// V2 / Open Inference Protocol: `{"inputs": [...]}` / `{"outputs": [...]}`.
    V2,
}

/// One call's input: the body (request for `preprocess`, the predictor's response for
/// `postprocess`), the protocols, and the configuration string from the YAML.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub(crate) body: &'a [u8],
    pub(crate) config: &'a str,
    pub(crate) protocol: Protocol,
    pub(crate) client_protocol: Protocol,
}

/// A successful result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    pub(crate) kind: OutputKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OutputKind {
    Json {
        bytes: Vec<u8>,
        protocol: Option<Protocol>,
    },
    Unchanged,
}

/// The input is unusable; the message goes back to the client (400 from `preprocess`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    message: String,
}

// === impl Protocol ===

impl Protocol {
    pub(crate) fn from_code(code: i32) -> Option<Self> {
        match code {
            1 => Some(Self::V1),
            2 => Some(Self::V2),
            _ => None,
        }
    }

    pub(crate) fn status(self) -> u64 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }
}

// === impl Input ===

impl<'a> Input<'a> {
    /// An input, for unit tests of transformer functions.
    pub fn new(
        body: &'a [u8],
        config: &'a str,
        protocol: Protocol,
        client_protocol: Protocol,
    ) -> Self {
        Self {
            body,
            config,
            protocol,
            client_protocol,
        }
    }

    /// The body's bytes, as received.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The body parsed as JSON into `T`; an error names what serde found wrong.
    pub fn json<T: Deserialize<'a>>(&self) -> Result<T, Error> {
        serde_json::from_slice(self.body)
            .map_err(|error| Error::new(format!("invalid body: {error}")))
    }

    /// The protocol the body speaks.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The protocol of the client's request: what the client expects back. In `preprocess` it
    /// is [`Input::protocol`].
    pub fn client_protocol(&self) -> Protocol {
        self.client_protocol
    }

    /// The configuration string (`spec.transformer.wasm.config`; JSON text unless the YAML gave
    /// a string), empty when unset.
    pub fn config_str(&self) -> &'a str {
        self.config
    }

    /// The configuration parsed as JSON into `T`, or `T::default()` when there is none.
    pub fn config<T: DeserializeOwned + Default>(&self) -> Result<T, Error> {
        if self.config.trim().is_empty() {
            return Ok(T::default());
        }
        serde_json::from_str(self.config)
            .map_err(|error| Error::new(format!("invalid transformer config: {error}")))
    }
}

// === impl Output ===

impl Output {
    /// `value` as JSON, in the input's protocol (change it with [`Output::with_protocol`]).
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(value)
            .map_err(|error| Error::new(format!("cannot encode the output: {error}")))?;
        Ok(Self::raw(bytes))
    }

    /// Bytes that already are JSON, in the input's protocol.
    pub fn raw(bytes: Vec<u8>) -> Self {
        Self {
            kind: OutputKind::Json {
                bytes,
                protocol: None,
            },
        }
    }

    /// The input passes through as it is (no copy).
    pub fn unchanged() -> Self {
        Self {
            kind: OutputKind::Unchanged,
        }
    }

    /// Declares the output's protocol: after `preprocess`, the gateway sends a V2 output to the
    /// predictor's `/v2/models/{name}/infer` and a V1 output to `/v1/models/{name}:predict`.
    /// No effect on [`Output::unchanged`].
    #[must_use]
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        if let OutputKind::Json {
            protocol: declared, ..
        } = &mut self.kind
        {
            *declared = Some(protocol);
        }
        self
    }

    /// The output's JSON bytes and declared protocol (`None` when unchanged), for unit tests.
    pub fn as_json(&self) -> Option<(&[u8], Option<Protocol>)> {
        match &self.kind {
            OutputKind::Json { bytes, protocol } => Some((bytes, *protocol)),
            OutputKind::Unchanged => None,
        }
    }

    /// Whether the input passes through unchanged.
    pub fn is_unchanged(&self) -> bool {
        self.kind == OutputKind::Unchanged
    }
}

// === impl Error ===

impl Error {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Self {
        Self::new(error.to_string())
    }
}
