//! Why a request could not be decoded. Every variant is the client's fault (HTTP 400).

use std::fmt;

use super::DataType;

/// A request the codec refused. Each message names the tensor or field and the problem, so the
/// client can fix the request from the message alone.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("request body is empty; expected a JSON object")]
    EmptyBody,
    /// Not JSON at all (syntax, truncation, `NaN`/`Infinity` literals, nesting past the limit).
    #[error("malformed JSON in request body: {0}")]
    MalformedJson(#[source] serde_json::Error),
    /// Valid JSON that is not the protocol's request object (missing field, wrong JSON type).
    #[error("invalid request body: {0}")]
    InvalidRequest(#[source] serde_json::Error),
    #[error(
        "{at}: unknown datatype `{datatype}`; expected one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES"
    )]
    UnknownDataType { at: TensorAt, datatype: String },
    #[error("unknown input `{name}`; model `{model}` has inputs {expected}")]
    UnknownInput {
        name: String,
        model: String,
        expected: NameList,
    },
    #[error("missing input `{name}`; model `{model}` needs inputs {expected}")]
    MissingInput {
        name: String,
        model: String,
        expected: NameList,
    },
    #[error("input `{name}` is given more than once")]
    DuplicateInput { name: String },
    #[error("request has {count} inputs, more than the limit of {max}")]
    TooManyInputs { count: usize, max: usize },
    #[error("{at}: shape {shape:?} has negative dimension {dim}")]
    NegativeDimension {
        at: TensorAt,
        shape: Vec<i64>,
        dim: i64,
    },
    #[error("{at}: shape {shape:?} has rank {rank} but the model expects rank {} (model shape {model_shape:?})", model_shape.len())]
    RankMismatch {
        at: TensorAt,
        shape: Vec<usize>,
        rank: usize,
        model_shape: Vec<i64>,
    },
    #[error(
        "{at}: shape {shape:?} has {actual} at dimension {index} but the model expects {expected} (model shape {model_shape:?})"
    )]
    DimensionMismatch {
        at: TensorAt,
        shape: Vec<usize>,
        index: usize,
        actual: usize,
        expected: i64,
        model_shape: Vec<i64>,
    },
    #[error("{at}: shape {shape:?} has an element count that overflows")]
    ElementCountOverflow { at: TensorAt, shape: Vec<usize> },
    #[error("{at}: {count} elements exceed the limit of {max}")]
    TooManyElements {
        at: TensorAt,
        count: usize,
        max: usize,
    },
    #[error("{at}: shape {shape:?} has {expected} elements but data has {actual}")]
    DataLength {
        at: TensorAt,
        shape: Vec<usize>,
        expected: usize,
        actual: usize,
    },
    #[error("{at}: element {index}: {problem}")]
    InvalidValue {
        at: TensorAt,
        index: usize,
        problem: ValueProblem,
    },
    #[error("{at}: `data` nests arrays {depth} deep, more than the limit of {max}")]
    TooDeep {
        at: TensorAt,
        depth: usize,
        max: usize,
    },
    #[error("{at}: `data` is not a JSON array of values (at byte {offset} of `data`)")]
    MalformedData { at: TensorAt, offset: usize },
    #[error("{at}: ragged data: {detail}")]
    Ragged { at: TensorAt, detail: String },
    #[error("{at}: cannot convert {from} to the model's {to}: {detail}")]
    Conversion {
        at: TensorAt,
        from: DataType,
        to: DataType,
        detail: ConversionDetail,
    },
    #[error("{at} has neither `data` nor `parameters.binary_data_size`")]
    MissingData { at: TensorAt },
    #[error("{at} has both `data` and `parameters.binary_data_size`; send one")]
    DataAndBinary { at: TensorAt },
    #[error("{scope}: parameter `{name}` must be {expected}, got {got}")]
    InvalidParameter {
        scope: String,
        name: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error(
        "Inference-Header-Content-Length is {header_len} but the body has only {body_len} bytes"
    )]
    HeaderLengthBeyondBody { header_len: usize, body_len: usize },
    #[error(
        "binary_data_size values sum to {declared} bytes but {available} bytes follow the JSON header"
    )]
    BinarySizeMismatch { declared: u64, available: usize },
    #[error(
        "{at}: binary_data_size {size} is not a multiple of the {element_size}-byte {datatype} element size"
    )]
    BinarySizeNotMultiple {
        at: TensorAt,
        size: usize,
        datatype: DataType,
        element_size: usize,
    },
    #[error(
        "{at}: BYTES element {index} needs {needed} bytes at offset {offset} but only {available} remain"
    )]
    BinaryBytesTruncated {
        at: TensorAt,
        index: usize,
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("unknown output `{name}`; model `{model}` has outputs {expected}")]
    UnknownOutput {
        name: String,
        model: String,
        expected: NameList,
    },
    #[error("output `{name}` is requested more than once")]
    DuplicateOutput { name: String },
    /// A KServe V1 body that is neither `{"instances": [...]}` nor `{"inputs": ...}`.
    #[error("invalid V1 request: {0}")]
    InvalidV1(String),
}

/// Which tensor an error is about: `input `x`` or `output `y``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorAt {
    pub role: Role,
    pub name: String,
}

/// Whether a tensor is a request input or a response output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Input,
    Output,
}

/// Why one element of `data` does not fit the datatype.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueProblem {
    /// A number outside the datatype's range, e.g. 300 in UINT8.
    OutOfRange { value: String, datatype: DataType },
    /// A fractional number for an integer datatype, e.g. 1.5 in INT32.
    NotIntegral { value: String, datatype: DataType },
    /// A JSON value of the wrong kind, e.g. a string (`BYTES`) where FP32 is expected.
    WrongKind {
        found: &'static str,
        expected: DataType,
    },
    /// A binary BOOL element that is neither 0 nor 1.
    BoolByte(u8),
}

/// Why a datatype conversion failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConversionDetail {
    /// BOOL and BYTES never convert to or from anything else.
    Incompatible,
    /// The first element that does not convert exactly.
    Lossy { index: usize, value: String },
}

/// Tensor names, displayed as ``[`a`, `b`]``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameList(pub Vec<String>);

// === impl ProtocolError ===

impl ProtocolError {
    /// A short, stable label for metrics and logs, e.g. `malformed_json`.
    pub fn kind(&self) -> &'static str {
        match self {
            ProtocolError::EmptyBody => "empty_body",
            ProtocolError::MalformedJson(_) => "malformed_json",
            ProtocolError::InvalidRequest(_) | ProtocolError::InvalidV1(_) => "invalid_request",
            ProtocolError::UnknownDataType { .. } => "unknown_datatype",
            ProtocolError::UnknownInput { .. } => "unknown_input",
            ProtocolError::MissingInput { .. } => "missing_input",
            ProtocolError::DuplicateInput { .. } => "duplicate_input",
            ProtocolError::TooManyInputs { .. } => "too_many_inputs",
            ProtocolError::NegativeDimension { .. }
            | ProtocolError::RankMismatch { .. }
            | ProtocolError::DimensionMismatch { .. } => "shape_mismatch",
            ProtocolError::ElementCountOverflow { .. } | ProtocolError::TooManyElements { .. } => {
                "too_many_elements"
            }
            ProtocolError::DataLength { .. } => "data_length",
            ProtocolError::InvalidValue { .. } => "invalid_value",
            ProtocolError::TooDeep { .. }
            | ProtocolError::MalformedData { .. }
            | ProtocolError::Ragged { .. } => "malformed_data",
            ProtocolError::Conversion { .. } => "datatype_conversion",
            ProtocolError::MissingData { .. } | ProtocolError::DataAndBinary { .. } => {
                "missing_data"
            }
            ProtocolError::InvalidParameter { .. } => "invalid_parameter",
            ProtocolError::HeaderLengthBeyondBody { .. }
            | ProtocolError::BinarySizeMismatch { .. }
            | ProtocolError::BinarySizeNotMultiple { .. }
            | ProtocolError::BinaryBytesTruncated { .. } => "binary_data",
            ProtocolError::UnknownOutput { .. } => "unknown_output",
            ProtocolError::DuplicateOutput { .. } => "duplicate_output",
        }
    }

    /// Classifies a serde_json failure on the whole body.
    pub(crate) fn from_json(err: serde_json::Error) -> Self {
        match err.classify() {
            serde_json::error::Category::Data => ProtocolError::InvalidRequest(err),
            _ => ProtocolError::MalformedJson(err),
        }
    }
}

// === impl TensorAt ===

impl TensorAt {
    pub(crate) fn input(name: &str) -> Self {
        TensorAt {
            role: Role::Input,
            name: name.to_owned(),
        }
    }

    pub(crate) fn output(name: &str) -> Self {
        TensorAt {
            role: Role::Output,
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for TensorAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = match self.role {
            Role::Input => "input",
            Role::Output => "output",
        };
        write!(f, "{role} `{}`", self.name)
    }
}

// === impl ValueProblem ===

impl fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueProblem::OutOfRange { value, datatype } => {
                write!(f, "{value} is out of range for {datatype}")
            }
            ValueProblem::NotIntegral { value, datatype } => {
                write!(f, "{value} is not an integer, which {datatype} needs")
            }
            ValueProblem::WrongKind { found, expected } => {
                write!(f, "{found} where {expected} expected")
            }
            ValueProblem::BoolByte(b) => write!(f, "BOOL byte {b} is neither 0 nor 1"),
        }
    }
}

// === impl ConversionDetail ===

impl fmt::Display for ConversionDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConversionDetail::Incompatible => {
                f.write_str("BOOL and BYTES never convert to or from another datatype")
            }
            ConversionDetail::Lossy { index, value } => {
                write!(f, "element {index} ({value}) does not convert exactly")
            }
        }
    }
}

// === impl NameList ===

impl NameList {
    pub(crate) fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        NameList(names.into_iter().map(str::to_owned).collect())
    }
}

impl fmt::Display for NameList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{name}`")?;
        }
        f.write_str("]")
    }
}
