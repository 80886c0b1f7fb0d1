//! The inference protocols a transformer's input and output speak, and their ABI codes.

use std::fmt;

/// The protocol a JSON body speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// KServe V1: `{"instances": ...}` in, `{"predictions": ...}` out; `/v1/models/{name}:predict`.
    V1,
    /// V2 / Open Inference Protocol: `{"inputs": [...]}` in, `{"outputs": [...]}` out;
    /// `/v2/models/{name}/infer`.
    V2,
}

// === impl Protocol ===

impl Protocol {
    /// The code passed to and returned by the guest (ABI.md).
    pub(crate) fn code(self) -> i32 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        })
    }
}
