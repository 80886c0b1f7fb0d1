//! Errors that stop a file from loading.

use std::fmt;

use serde_saphyr::{MessageFormatter, UserMessageFormatter};

/// A YAML stream that cannot be loaded. Its `Display` starts with `origin:line:column:`, as
/// compilers write it, so editors can jump to the spot.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not valid YAML, or a value of the wrong type for its field.
    #[error("{origin}:{at}: {}{}", message(source), Quoted(line))]
    Yaml {
        origin: String,
        at: Position,
        /// The text of the line the error points at, trimmed: serde-saphyr's messages ("invalid
        /// i32") do not name the field, the line does.
        line: Option<String>,
        /// Boxed: serde-saphyr's error is large and this travels in every `Result`.
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// A field every InferenceService needs is absent; `field` is its full path.
    #[error("{origin}:{at}: `{field}` is missing")]
    MissingField {
        origin: String,
        at: Position,
        field: &'static str,
    },
}

/// A position in a file: 1-based line and column; `0:0` when unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

// === impl LoadError ===

impl LoadError {
    /// Where the problem is.
    pub fn position(&self) -> Position {
        match self {
            Self::Yaml { at, .. } | Self::MissingField { at, .. } => *at,
        }
    }
}

/// serde-saphyr's message without its own location suffix or source snippet (we print the
/// position first, relative to the whole file), with control characters neutralised as its
/// docs ask of direct `format_message` callers.
fn message(error: &serde_saphyr::Error) -> String {
    UserMessageFormatter
        .format_message(error.without_snippet())
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// ` in `line``, or nothing.
struct Quoted<'a>(&'a Option<String>);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => write!(f, " in `{line}`"),
            None => Ok(()),
        }
    }
}

// === impl Position ===

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}
