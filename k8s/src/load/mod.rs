//! Loading InferenceServices from (multi-document) YAML, naming every field that is ignored.
//!
//! ```text
//! yaml ─ split at `---` ─> document ─ probe (kind, name, predictor) ─> other kind: skipped + warning
//!                                      │                                missing field: LoadError
//!                                      └─> typed parse through serde_ignored ─> Parsed { isvc, warnings }
//! ```

mod error;
mod split;
mod warning;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use crate::annotations;
use crate::api::{API_VERSION, InferenceService, KIND};

pub use self::error::{LoadError, Position};
pub use self::warning::{Warning, WarningKind};

/// One non-empty document of a stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    /// The InferenceService; `None` when the document is of another kind and was skipped, in
    /// which case `warnings` holds a [`WarningKind::SkippedDocument`].
    pub isvc: Option<InferenceService>,
    /// Every field or annotation the document sets that infergate ignores.
    pub warnings: Vec<Warning>,
}

/// Parses every document of a YAML stream (documents separated by `---`).
///
/// `origin` names the source in errors and warnings, usually the file name. Empty documents
/// are dropped; documents of another kind come back skipped, with a warning. The first
/// document that is not valid YAML, has a value of the wrong type, or lacks `apiVersion`,
/// `kind`, `metadata.name` or `spec.predictor` fails the whole stream: a half-loaded file
/// would silently drop models.
pub fn parse_documents(yaml: &str, origin: &str) -> Result<Vec<Parsed>, LoadError> {
    let mut parsed = Vec::new();
    for chunk in split::split(yaml) {
        let document = parsed.len() + 1;
        let context = Context {
            origin,
            document,
            text: chunk.text,
            line_offset: chunk.line_offset,
        };
        if let Some(doc) = parse_document(chunk.text, &context)? {
            parsed.push(doc);
        }
    }
    Ok(parsed)
}

/// Where a document sits, for errors and warnings.
struct Context<'a> {
    origin: &'a str,
    document: usize,
    /// The document's text.
    text: &'a str,
    line_offset: u64,
}

/// Just enough of a document to decide what it is, read before the typed parse so that other
/// kinds are skipped without a flood of unknown-field warnings and a missing required field
/// is named by its full path.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Option<Spanned<ProbeMetadata>>,
    spec: Option<Spanned<ProbeSpec>>,
}

#[derive(Deserialize)]
struct ProbeMetadata {
    name: Option<String>,
}

#[derive(Deserialize)]
struct ProbeSpec {
    predictor: Option<serde::de::IgnoredAny>,
}

fn parse_document(text: &str, cx: &Context<'_>) -> Result<Option<Parsed>, LoadError> {
    let probe =
        serde_saphyr::with_deserializer_from_str(text, |de| Option::<Probe>::deserialize(de))
            .map_err(|source| cx.yaml_error(source))?;
    let Some(probe) = probe else {
        return Ok(None);
    };
    let start = Position {
        line: cx.line_offset + 1,
        column: 1,
    };
    // Every Kubernetes object has both; without them this is not a manifest at all.
    let (api_version, kind) = match (probe.api_version, probe.kind) {
        (Some(api_version), Some(kind)) => (api_version, kind),
        (api_version, _) => {
            let field = if api_version.is_none() {
                "apiVersion"
            } else {
                "kind"
            };
            return Err(LoadError::MissingField {
                origin: cx.origin.to_owned(),
                at: start,
                field,
            });
        }
    };
    if api_version != API_VERSION || kind != KIND {
        let warning = cx.warning("", WarningKind::SkippedDocument { api_version, kind });
        return Ok(Some(Parsed {
            isvc: None,
            warnings: vec![warning],
        }));
    }
    check_present(
        &probe.metadata,
        |m| {
            m.name
                .as_deref()
                .is_some_and(|name| !name.trim().is_empty())
        },
        "metadata.name",
        start,
        cx,
    )?;
    check_present(
        &probe.spec,
        |s| s.predictor.is_some(),
        "spec.predictor",
        start,
        cx,
    )?;

    let mut ignored = Vec::new();
    let isvc: InferenceService = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_ignored::deserialize(de, |path| ignored.push(field_path(&path)))
    })
    .map_err(|source| cx.yaml_error(source))?;

    let mut warnings: Vec<Warning> = ignored
        .into_iter()
        .map(|path| cx.warning(&path, WarningKind::UnknownField))
        .collect();
    warnings.extend(unsupported(&isvc, cx));
    Ok(Some(Parsed {
        isvc: Some(isvc),
        warnings,
    }))
}

/// Fails with `field` missing when `section` is absent or lacks it; the position is the
/// section's when known, else the document's start.
fn check_present<T>(
    section: &Option<Spanned<T>>,
    has_field: impl Fn(&T) -> bool,
    field: &'static str,
    start: Position,
    cx: &Context<'_>,
) -> Result<(), LoadError> {
    let at = match section {
        Some(spanned) if has_field(&spanned.value) => return Ok(()),
        Some(spanned) => cx.position(spanned.referenced).unwrap_or(start),
        None => start,
    };
    Err(LoadError::MissingField {
        origin: cx.origin.to_owned(),
        at,
        field,
    })
}

/// Warnings for what parses but cannot be served: container images, and the Knative
/// autoscaling and KServe annotations infergate does not read.
fn unsupported(isvc: &InferenceService, cx: &Context<'_>) -> Vec<Warning> {
    const CONTAINERS: &str = "custom containers are not supported: infergate runs ONNX and \
                              Hugging Face text-embedding models";
    const TRANSFORMER: &str = "container transformers are not supported: use \
                               spec.transformer.wasm (a WebAssembly module)";
    let mut warnings = Vec::new();
    if isvc.spec.predictor.containers.is_some() {
        let kind = WarningKind::Unsupported { reason: CONTAINERS };
        warnings.push(cx.warning("spec.predictor.containers", kind));
    }
    if let Some(transformer) = &isvc.spec.transformer
        && transformer.containers.is_some()
    {
        let kind = WarningKind::Unsupported {
            reason: TRANSFORMER,
        };
        warnings.push(cx.warning("spec.transformer.containers", kind));
    }
    for name in isvc.metadata.annotations.keys() {
        if !annotations::is_honoured(name) {
            let path = format!("metadata.annotations.{name}");
            warnings.push(cx.warning(&path, WarningKind::UnknownAnnotation));
        }
    }
    warnings
}

/// `serde_ignored`'s path as people write it: `a.b[0].c`, without its `?` markers for
/// `Option`s and newtypes.
fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => {
            let parent = field_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path(parent),
    }
}

// === impl Context ===

impl Context<'_> {
    fn warning(&self, path: &str, kind: WarningKind) -> Warning {
        Warning {
            origin: self.origin.to_owned(),
            document: self.document,
            path: path.to_owned(),
            kind,
        }
    }

    /// `location` (within this document) as a position in the whole stream.
    fn position(&self, location: Location) -> Option<Position> {
        (location.line() > 0).then(|| Position {
            line: location.line() + self.line_offset,
            column: location.column(),
        })
    }

    fn yaml_error(&self, source: serde_saphyr::Error) -> LoadError {
        let location = source.location().filter(|l| l.line() > 0);
        let line = location.and_then(|l| self.line_text(l.line()));
        let at = location
            .and_then(|location| self.position(location))
            .unwrap_or(Position {
                line: self.line_offset + 1,
                column: 1,
            });
        LoadError::Yaml {
            origin: self.origin.to_owned(),
            at,
            line,
            source: Box::new(source),
        }
    }

    /// Line `line` (1-based, within the document), trimmed and shortened for a message;
    /// `None` when blank.
    fn line_text(&self, line: u64) -> Option<String> {
        const MAX_CHARS: usize = 80;
        let index = usize::try_from(line.checked_sub(1)?).ok()?;
        let text = self.text.lines().nth(index)?.trim();
        if text.is_empty() {
            return None;
        }
        let mut short: String = text.chars().take(MAX_CHARS).collect();
        if short.len() < text.len() {
            short.push_str("...");
        }
        Some(short)
    }
}
