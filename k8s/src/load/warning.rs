//! Warnings: what the loader accepted but will not act on.

use std::fmt;

/// Something in a document that infergate ignores. Loading goes on; the gateway logs these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Where the document came from, usually its file name.
    pub origin: String,
    /// The document's position in the stream, from 1.
    pub document: usize,
    /// The field's full path, e.g. `spec.predictor.serviceAccountName` or
    /// `spec.predictor.containers[0]`; empty for a whole document.
    pub path: String,
    pub kind: WarningKind,
}

/// Why a field or document is ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WarningKind {
    /// infergate's InferenceService has no such field (a KServe field it does not honour, or a
    /// typo).
    UnknownField,
    /// The field is parsed but infergate cannot act on it; `reason` says why.
    Unsupported { reason: &'static str },
    /// An `autoscaling.knative.dev/` or `serving.kserve.io/` annotation that infergate does not
    /// read (see [`crate::annotations::is_honoured`]).
    UnknownAnnotation,
    /// The document is not a `serving.kserve.io/v1beta1` InferenceService and was skipped.
    SkippedDocument { api_version: String, kind: String },
}

// === impl Warning ===

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}: ", self.origin, self.document)?;
        match &self.kind {
            WarningKind::UnknownField => {
                write!(
                    f,
                    "{}: field not supported by infergate; ignored",
                    self.path
                )
            }
            WarningKind::Unsupported { reason } => write!(f, "{}: {reason}; ignored", self.path),
            WarningKind::UnknownAnnotation => write!(
                f,
                "{}: annotation not supported by infergate; ignored",
                self.path
            ),
            WarningKind::SkippedDocument { api_version, kind } => write!(
                f,
                "skipped: `{api_version}` `{kind}` is not a {} {}",
                crate::API_VERSION,
                crate::KIND
            ),
        }
    }
}
