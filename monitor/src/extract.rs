//! Bodies to series: the request's numeric input features and the response's outputs, per row.
//!
//! Decoding goes through the predictor's codec (`infergate_predictor::protocol`). The monitor
//! has no model metadata, so it first reads the tensor names (and, for V2, datatypes and
//! shapes) from the body and checks the body against those. Naming, for a tensor whose first
//! dimension is the batch:
//!
//! - rank 0 or 1: one series named after the tensor (`label`);
//! - rank 2 and up: one series per element of a row, `name[j]` with `j` the flat index within the
//!   row (`input[2]`), for the first [`MAX_SERIES`] elements of a row.
//!
//! V1 tensors have no names when the model has one input (`{"instances": [[...]]}`): they are
//! called `input`; V1 `predictions` are called `predictions` unless each row is an object of
//! named outputs.

use std::borrow::Cow;
use std::collections::BTreeMap;

use infergate_predictor::model::{ModelMetadata, TensorSpec};
use infergate_predictor::protocol::{DataType, Limits, ProtocolError, Tensor, TensorData, v1, v2};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::config::{MAX_SERIES, ModelMonitoring};

use self::series::TensorNamesRef;
pub(crate) use self::series::{Batch, Class, Names, ValuesRef};
pub use self::series::{Series, Values};

/// The name of a V1 model's only input.
pub const V1_INPUT: &str = "input";
/// The name of V1 `predictions` that are not objects of named outputs.
pub const V1_PREDICTIONS: &str = "predictions";

/// Which wire protocol a body speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    V1,
    V2,
}

/// Why a body could not be read: a short, bounded label for the `reason` metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unparsable(pub &'static str);

/// A tensor's elements as numbers, integers or labels, row-major with `width` per row.
#[derive(Debug, PartialEq)]
enum Table {
    Numbers(Vec<f64>),
    Integers(Vec<i64>),
    Labels(Vec<String>),
}

// === impl Protocol ===

impl Protocol {
    /// The protocol of an inference path (`/v2/models/{m}/infer`, `/v1/models/{m}:predict`);
    /// `None` for any other path (metadata, health, …), which is not monitored.
    pub fn of_inference_path(path: &str) -> Option<Protocol> {
        if path.starts_with("/v2/models/") && path.ends_with("/infer") {
            Some(Protocol::V2)
        } else if path.starts_with("/v1/models/") && path.ends_with(":predict") {
            Some(Protocol::V1)
        } else {
            None
        }
    }

    /// The `protocol` label.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::V1 => "v1",
            Protocol::V2 => "v2",
        }
    }
}

/// The numeric input features of a request body (BYTES inputs are not features).
pub fn features(
    protocol: Protocol,
    body: &[u8],
    header_len: Option<usize>,
) -> Result<Vec<Series>, Unparsable> {
    let mut batch = Batch::default();
    features_into(
        protocol,
        body,
        header_len,
        &mut Names::default(),
        &mut batch,
    )?;
    Ok(batch.to_series(&ModelMonitoring::default()))
}

/// [`features`] into `batch` (cleared first), with the series names taken from `names`. A V2
/// JSON request of `FP32`/`FP64` inputs is read in one pass that parses only the recorded
/// elements ([`fast`]); other bodies go through the codec.
pub(crate) fn features_into(
    protocol: Protocol,
    body: &[u8],
    header_len: Option<usize>,
    names: &mut Names,
    batch: &mut Batch,
) -> Result<(), Unparsable> {
    batch.clear();
    if protocol == Protocol::V2
        && header_len.is_none()
        && fast::v2_features(body, names, batch).is_some()
    {
        return Ok(());
    }
    batch.clear();
    codec_features(protocol, body, header_len, names, batch)
}

/// [`features`] through the codec: every element converted.
fn codec_features(
    protocol: Protocol,
    body: &[u8],
    header_len: Option<usize>,
    names: &mut Names,
    batch: &mut Batch,
) -> Result<(), Unparsable> {
    let tensors = match protocol {
        Protocol::V1 => decode_v1_request(body),
        Protocol::V2 => decode_v2_request(body, header_len),
    }
    .map_err(|e| Unparsable(e.kind()))?;
    for tensor in &tensors {
        if let Some(table) = Table::of(tensor.data())
            && !matches!(table, Table::Labels(_))
        {
            let mut names = names.tensor(tensor.name());
            split(&mut names, tensor.shape(), &table, batch, As::Numbers);
        }
    }
    Ok(())
}

/// The outputs of a response body: class series for integer, boolean and string outputs and
/// for the argmax of `argmax-outputs`, number series for the rest.
pub fn outputs(
    protocol: Protocol,
    body: &[u8],
    header_len: Option<usize>,
    config: &ModelMonitoring,
) -> Result<Vec<Series>, Unparsable> {
    let mut batch = Batch::default();
    outputs_into(
        protocol,
        body,
        header_len,
        config,
        &mut Names::default(),
        &mut batch,
    )?;
    Ok(batch.to_series(config))
}

/// [`outputs`] into `batch` (cleared first), with the series names taken from `names`. A V2
/// JSON response is read in one pass when it can be ([`fast`]), else through the codec.
pub(crate) fn outputs_into(
    protocol: Protocol,
    body: &[u8],
    header_len: Option<usize>,
    config: &ModelMonitoring,
    names: &mut Names,
    batch: &mut Batch,
) -> Result<(), Unparsable> {
    batch.clear();
    let fast = match (protocol, header_len) {
        (Protocol::V2, None) => fast::v2_outputs(body),
        _ => None,
    };
    let tables = match (fast, protocol) {
        (Some(tables), _) => tables,
        (None, Protocol::V2) => codec_outputs(body, header_len)?,
        (None, Protocol::V1) => decode_v1_predictions(body)?,
    };
    for (name, shape, table) in &tables {
        let mut names = names.tensor(name);
        match table {
            Table::Numbers(values) => {
                if config.argmax_outputs.iter().any(|o| o == name) {
                    let width = row_width(shape);
                    let classes = values
                        .chunks(width.max(1))
                        .map(|row| Class::Index(argmax(row) as i64));
                    batch.push_classes(names.argmax(), classes);
                }
                split(&mut names, shape, table, batch, As::Numbers);
            }
            Table::Integers(_) | Table::Labels(_) => {
                split(&mut names, shape, table, batch, As::Classes);
            }
        }
    }
    Ok(())
}

/// A V2 response's outputs through the codec.
fn codec_outputs(
    body: &[u8],
    header_len: Option<usize>,
) -> Result<Vec<fast::Output<'static>>, Unparsable> {
    let response = v2::decode_response(body, header_len, &Limits::default())
        .map_err(|e| Unparsable(e.kind()))?;
    Ok(response
        .outputs
        .into_iter()
        .filter_map(|t| {
            let table = Table::of(t.data())?;
            let (name, shape, _) = t.into_parts();
            Some((Cow::Owned(name), shape, table))
        })
        .collect())
}

/// Elements per row of a tensor whose first dimension is the batch.
fn row_width(shape: &[usize]) -> usize {
    shape.iter().skip(1).product()
}

/// How [`split`] reads elements.
#[derive(Clone, Copy)]
enum As {
    Numbers,
    Classes,
}

/// Splits a tensor into per-row series (see the module documentation) of numbers or classes.
fn split(
    names: &mut TensorNamesRef<'_, '_>,
    shape: &[usize],
    table: &Table,
    batch: &mut Batch,
    read: As,
) {
    let push = |batch: &mut Batch, name, indices: &mut dyn Iterator<Item = usize>| match read {
        As::Numbers => batch.push_numbers(name, indices.map(|i| table.number(i))),
        As::Classes => batch.push_classes(name, indices.map(|i| table.class(i))),
    };
    let len = table.len();
    if len == 0 {
        return;
    }
    if shape.len() <= 1 {
        push(batch, names.whole(), &mut (0..len));
        return;
    }
    let width = row_width(shape);
    if width == 0 {
        return;
    }
    let rows = len / width;
    for j in 0..width.min(MAX_SERIES) {
        push(
            batch,
            names.element(j),
            &mut (0..rows).map(|r| r * width + j),
        );
    }
}

/// The index of the largest value (the first on ties; NaN never wins).
fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] || row[best].is_nan() {
            best = i;
        }
    }
    best
}

// === V2 ===

#[derive(Deserialize)]
struct V2Header {
    inputs: Vec<V2Tensor>,
    #[serde(default)]
    outputs: Vec<V2Output>,
}

#[derive(Deserialize)]
struct V2Tensor {
    name: String,
    datatype: String,
    shape: Vec<i64>,
}

#[derive(Deserialize)]
struct V2Output {
    name: String,
}

/// The request's own names, datatypes and shapes as model metadata, then the codec's decoder.
fn decode_v2_request(body: &[u8], header_len: Option<usize>) -> Result<Vec<Tensor>, ProtocolError> {
    let json = match header_len {
        Some(n) if n <= body.len() => &body[..n],
        _ => body,
    };
    let Ok(header) = serde_json::from_slice::<V2Header>(json) else {
        // The codec says precisely what is wrong.
        let empty = metadata(Vec::new(), Vec::new());
        return v2::decode_request(body, header_len, &empty, &Limits::default()).map(|r| r.inputs);
    };
    let inputs = header
        .inputs
        .into_iter()
        .map(|t| {
            let datatype =
                t.datatype
                    .parse::<DataType>()
                    .map_err(|_| ProtocolError::UnknownDataType {
                        at: infergate_predictor::protocol::TensorAt {
                            role: infergate_predictor::protocol::Role::Input,
                            name: t.name.clone(),
                        },
                        datatype: t.datatype.clone(),
                    })?;
            Ok(TensorSpec {
                name: t.name,
                datatype,
                shape: t.shape,
            })
        })
        .collect::<Result<Vec<_>, ProtocolError>>()?;
    let outputs = header
        .outputs
        .into_iter()
        .map(|o| TensorSpec {
            name: o.name,
            datatype: DataType::F32,
            shape: Vec::new(),
        })
        .collect();
    let meta = metadata(inputs, outputs);
    v2::decode_request(body, header_len, &meta, &Limits::default()).map(|r| r.inputs)
}

fn metadata(inputs: Vec<TensorSpec>, outputs: Vec<TensorSpec>) -> ModelMetadata {
    ModelMetadata {
        name: "monitored".to_owned(),
        platform: String::new(),
        inputs,
        outputs,
    }
}

// === V1 ===

#[derive(Deserialize)]
struct V1Body<'a> {
    #[serde(default, borrow)]
    instances: Option<&'a RawValue>,
    #[serde(default, borrow)]
    inputs: Option<&'a RawValue>,
}

/// The input names a V1 body uses (keys of its first instance, or of its `inputs` object), as
/// FP64 model inputs of the rank the JSON nesting shows, then the codec's decoder.
fn decode_v1_request(body: &[u8]) -> Result<Vec<Tensor>, ProtocolError> {
    // (name, rank) per input; empty when the body is not of a shape we can read (the codec then
    // names the problem).
    let inputs: Vec<(String, usize)> = match serde_json::from_slice::<V1Body<'_>>(body) {
        Ok(V1Body {
            instances: Some(raw),
            inputs: None,
        }) => match serde_json::from_str::<Vec<BTreeMap<String, &RawValue>>>(raw.get()) {
            Ok(rows) => rows
                .first()
                .map(|row| {
                    row.iter()
                        .map(|(name, v)| (name.clone(), 1 + depth(v.get())))
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => vec![(V1_INPUT.to_owned(), depth(raw.get()))],
        },
        Ok(V1Body {
            instances: None,
            inputs: Some(raw),
        }) => match serde_json::from_str::<BTreeMap<String, &RawValue>>(raw.get()) {
            Ok(columns) => columns
                .into_iter()
                .map(|(name, v)| (name, depth(v.get())))
                .collect(),
            Err(_) => vec![(V1_INPUT.to_owned(), depth(raw.get()))],
        },
        _ => Vec::new(),
    };
    let inputs = match inputs.is_empty() {
        true => vec![(V1_INPUT.to_owned(), 1)],
        false => inputs,
    };
    let inputs = inputs
        .into_iter()
        .map(|(name, rank)| TensorSpec {
            name,
            datatype: DataType::F64,
            shape: vec![-1; rank],
        })
        .collect();
    let meta = metadata(inputs, Vec::new());
    let request = v1::decode_request(body, &meta, &Limits::default())?;
    Ok(request.inputs)
}

/// How many `[` open a JSON value: the rank of a non-ragged nested array.
fn depth(raw: &str) -> usize {
    raw.bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .take_while(|&b| b == b'[')
        .count()
}

#[derive(Deserialize)]
struct V1Predictions {
    predictions: Vec<Value>,
}

/// `{"predictions": [row, ...]}`: rows of scalars, arrays, or objects of named outputs.
fn decode_v1_predictions(body: &[u8]) -> Result<Vec<fast::Output<'static>>, Unparsable> {
    let parsed: V1Predictions = serde_json::from_slice(body).map_err(|e| {
        Unparsable(match e.classify() {
            serde_json::error::Category::Data => "invalid_response",
            _ => "malformed_json",
        })
    })?;
    let rows = parsed.predictions;
    if rows.iter().all(Value::is_object) && !rows.is_empty() {
        let mut columns: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
        for row in &rows {
            for (name, value) in row.as_object().into_iter().flatten() {
                columns.entry(name).or_default().push(value);
            }
        }
        columns
            .into_iter()
            .map(|(name, column)| {
                if column.len() != rows.len() {
                    return Err(Unparsable("ragged"));
                }
                let (shape, table) = column_table(&column)?;
                Ok((Cow::Owned(name.to_owned()), shape, table))
            })
            .collect()
    } else {
        let column: Vec<&Value> = rows.iter().collect();
        let (shape, table) = column_table(&column)?;
        Ok(vec![(Cow::Borrowed(V1_PREDICTIONS), shape, table)])
    }
}

/// One output's rows: all scalars, or all arrays of the same flattened length.
fn column_table(rows: &[&Value]) -> Result<(Vec<usize>, Table), Unparsable> {
    let mut flat: Vec<&Value> = Vec::new();
    let mut width: Option<usize> = None;
    for row in rows {
        let before = flat.len();
        flatten(row, &mut flat)?;
        let w = flat.len() - before;
        if *width.get_or_insert(w) != w {
            return Err(Unparsable("ragged"));
        }
    }
    let scalar_rows = rows.iter().all(|r| !r.is_array());
    let shape = match (scalar_rows, width) {
        (true, _) => vec![rows.len()],
        (false, w) => vec![rows.len(), w.unwrap_or(0)],
    };
    let table = if flat.iter().all(|v| v.is_i64() || v.is_u64()) {
        Table::Integers(flat.iter().filter_map(|v| v.as_i64()).collect())
    } else if flat.iter().all(|v| v.is_number()) {
        Table::Numbers(flat.iter().filter_map(|v| v.as_f64()).collect())
    } else if flat.iter().all(|v| v.is_string() || v.is_boolean()) {
        Table::Labels(
            flat.iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        )
    } else {
        return Err(Unparsable("mixed_types"));
    };
    if table.len() != flat.len() {
        // Integers past i64.
        return Err(Unparsable("invalid_value"));
    }
    Ok((shape, table))
}

fn flatten<'v>(value: &'v Value, out: &mut Vec<&'v Value>) -> Result<(), Unparsable> {
    match value {
        Value::Array(items) => items.iter().try_for_each(|item| flatten(item, out)),
        Value::Object(_) | Value::Null => Err(Unparsable("invalid_response")),
        scalar => {
            out.push(scalar);
            Ok(())
        }
    }
}

// === impl Table ===

impl Table {
    fn of(data: &TensorData) -> Option<Table> {
        fn numbers<T: Copy + Into<f64>>(v: &[T]) -> Table {
            Table::Numbers(v.iter().map(|&x| x.into()).collect())
        }
        fn integers<T: Copy + TryInto<i64>>(v: &[T]) -> Table {
            Table::Integers(
                v.iter()
                    .map(|&x| x.try_into().unwrap_or(i64::MAX))
                    .collect(),
            )
        }
        Some(match data {
            TensorData::F16(v) => Table::Numbers(v.iter().map(|x| x.to_f64()).collect()),
            TensorData::F32(v) => numbers(v),
            TensorData::F64(v) => numbers(v),
            TensorData::Bool(v) => Table::Integers(v.iter().map(|&b| i64::from(b)).collect()),
            TensorData::U8(v) => integers(v),
            TensorData::U16(v) => integers(v),
            TensorData::U32(v) => integers(v),
            TensorData::U64(v) => integers(v),
            TensorData::I8(v) => integers(v),
            TensorData::I16(v) => integers(v),
            TensorData::I32(v) => integers(v),
            TensorData::I64(v) => integers(v),
            TensorData::Bytes(v) => Table::Labels(
                v.iter()
                    .map(|b| {
                        // Labels are short; a long byte string is not a class.
                        let b = &b[..b.len().min(64)];
                        String::from_utf8_lossy(b).into_owned()
                    })
                    .collect(),
            ),
        })
    }

    fn len(&self) -> usize {
        match self {
            Table::Numbers(v) => v.len(),
            Table::Integers(v) => v.len(),
            Table::Labels(v) => v.len(),
        }
    }

    fn number(&self, i: usize) -> f64 {
        match self {
            Table::Numbers(v) => v[i],
            Table::Integers(v) => v[i] as f64,
            Table::Labels(_) => f64::NAN,
        }
    }

    fn class(&self, i: usize) -> Class {
        match self {
            Table::Integers(v) => Class::Index(v[i]),
            Table::Labels(v) => Class::Label(v[i].clone()),
            Table::Numbers(v) => Class::Label(v[i].to_string()),
        }
    }
}

mod fast;
mod json;
mod series;
#[cfg(test)]
mod tests;
