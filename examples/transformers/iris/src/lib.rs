//! Iris transformer. `preprocess`: KServe V1 named features (or V1 rows) become the V2 request
//! for the model's `[n, 4]` FP32 input; V2 requests pass through. `postprocess`: the model's
//! class ids (its `label` output) become the names listed in the config.

use infergate_transformer_guest::{Error, Input, Output, Protocol, export};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

export!(preprocess = preprocess, postprocess = postprocess);

/// `spec.transformer.wasm.config`, e.g. `{"classes": ["setosa", "versicolor", "virginica"]}`.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    /// Class names by id.
    classes: Vec<String>,
    /// The model's input tensor.
    input: String,
    /// The model's output holding class ids.
    label: String,
}

impl Default for Config {
    fn default() -> Self {
        Self { classes: Vec::new(), input: "input".into(), label: "label".into() }
    }
}

/// One flower, by feature name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Features {
    sepal_length: f64,
    sepal_width: f64,
    petal_length: f64,
    petal_width: f64,
}

#[derive(Deserialize)]
struct V1Request {
    instances: Vec<Value>,
}

#[derive(Serialize)]
struct V2Request<'a> {
    inputs: [Tensor<'a>; 1],
}

#[derive(Serialize)]
struct Tensor<'a> {
    name: &'a str,
    shape: [usize; 2],
    datatype: &'static str,
    data: Vec<f64>,
}

pub fn preprocess(input: Input<'_>) -> Result<Output, Error> {
    if input.protocol() == Protocol::V2 {
        return Ok(Output::unchanged());
    }
    let config: Config = input.config()?;
    let request: V1Request = input.json()?;
    let mut data = Vec::with_capacity(request.instances.len() * 4);
    for (row, instance) in request.instances.into_iter().enumerate() {
        let features = match instance {
            Value::Array(_) => <[f64; 4]>::deserialize(instance),
            _ => Features::deserialize(instance)
                .map(|f| [f.sepal_length, f.sepal_width, f.petal_length, f.petal_width]),
        };
        let features = features.map_err(|error| Error::new(format!("instances[{row}]: {error}")))?;
        data.extend_from_slice(&features);
    }
    let tensor = Tensor { name: &config.input, shape: [data.len() / 4, 4], datatype: "FP32", data };
    Ok(Output::json(&V2Request { inputs: [tensor] })?.with_protocol(Protocol::V2))
}

pub fn postprocess(input: Input<'_>) -> Result<Output, Error> {
    let config: Config = input.config()?;
    if config.classes.is_empty() {
        return Err(Error::new("config.classes lists no class names"));
    }
    let mut body: Map<String, Value> = input.json()?;
    let name = |id: &Value| -> Result<Value, Error> {
        id.as_u64()
            .and_then(|id| config.classes.get(usize::try_from(id).ok()?))
            .map(|name| Value::String(name.clone()))
            .ok_or_else(|| Error::new(format!("class id {id} has no name in config.classes")))
    };
    match input.protocol() {
        Protocol::V2 => {
            let outputs = body.get_mut("outputs").and_then(Value::as_array_mut);
            let label = outputs
                .and_then(|outputs| outputs.iter_mut().find(|out| out["name"] == config.label.as_str()))
                .ok_or_else(|| Error::new(format!("the response has no `{}` output", config.label)))?;
            let ids = label["data"].as_array().ok_or_else(|| Error::new("the label output has no data"))?;
            let names = ids.iter().map(name).collect::<Result<Vec<_>, _>>()?;
            if input.client_protocol() == Protocol::V1 {
                return Ok(Output::json(&serde_json::json!({ "predictions": names }))?.with_protocol(Protocol::V1));
            }
            label["datatype"] = "BYTES".into();
            label["data"] = names.into();
        }
        Protocol::V1 => {
            let predictions = body.get_mut("predictions").and_then(Value::as_array_mut);
            let predictions = predictions.ok_or_else(|| Error::new("the response has no `predictions` array"))?;
            for prediction in predictions {
                match prediction.get_mut(&config.label) {
                    Some(id) => *id = name(id)?,
                    None => *prediction = name(prediction)?,
                }
            }
        }
    }
    Output::json(&body)
}
