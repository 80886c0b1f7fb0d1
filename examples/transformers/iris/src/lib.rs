//! Iris transformer. `preprocess`: KServe V1 named features (or V1 rows) become the V2 request
//! for the model's `[n, 4]` FP32 input; V2 requests pass through. `postprocess`: the model's
//! class ids (its `label` output) become the names listed in the config.

use std::fmt;

use infergate_transformer_guest::{Error, Input, Output, Protocol, export};
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
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
        Self {
            classes: Vec::new(),
            input: "input".into(),
            label: "label".into(),
        }
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

/// One flower's four features, named (`{"sepal_length": ...}`) or as a row (`[5.1, ...]`).
struct Instance([f64; 4]);

#[derive(Deserialize)]
struct V1Request {
    instances: Vec<Instance>,
}

/// Just enough of a V2 response to find the class ids (the other outputs stay unparsed).
#[derive(Deserialize)]
struct V2Response<'a> {
    #[serde(borrow)]
    outputs: Vec<RawTensor<'a>>,
}

#[derive(Deserialize)]
struct RawTensor<'a> {
    name: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
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
    let data: Vec<f64> = request
        .instances
        .iter()
        .flat_map(|instance| instance.0)
        .collect();
    let tensor = Tensor {
        name: &config.input,
        shape: [data.len() / 4, 4],
        datatype: "FP32",
        data,
    };
    Ok(Output::json(&V2Request { inputs: [tensor] })?.with_protocol(Protocol::V2))
}

pub fn postprocess(input: Input<'_>) -> Result<Output, Error> {
    let config: Config = input.config()?;
    if config.classes.is_empty() {
        return Err(Error::new("config.classes lists no class names"));
    }
    let name = |id: &Value| -> Result<Value, Error> {
        id.as_u64()
            .and_then(|id| config.classes.get(usize::try_from(id).ok()?))
            .map(|name| Value::String(name.clone()))
            .ok_or_else(|| Error::new(format!("class id {id} has no name in config.classes")))
    };
    // The common case, a V1 client: read only the class ids.
    if (input.protocol(), input.client_protocol()) == (Protocol::V2, Protocol::V1) {
        let response: V2Response<'_> = input.json()?;
        let label = response.outputs.iter().find(|out| out.name == config.label);
        let label = label
            .ok_or_else(|| Error::new(format!("the response has no `{}` output", config.label)))?;
        let ids: Vec<Value> = serde_json::from_str(label.data.get())?;
        let names = ids.iter().map(name).collect::<Result<Vec<_>, _>>()?;
        return Ok(
            Output::json(&serde_json::json!({ "predictions": names }))?.with_protocol(Protocol::V1)
        );
    }
    let mut body: Map<String, Value> = input.json()?;
    match input.protocol() {
        Protocol::V2 => {
            let outputs = body.get_mut("outputs").and_then(Value::as_array_mut);
            let label = outputs
                .and_then(|outputs| {
                    outputs
                        .iter_mut()
                        .find(|out| out["name"] == config.label.as_str())
                })
                .ok_or_else(|| {
                    Error::new(format!("the response has no `{}` output", config.label))
                })?;
            let ids = label["data"]
                .as_array()
                .ok_or_else(|| Error::new("the label output has no data"))?;
            let names = ids.iter().map(name).collect::<Result<Vec<_>, _>>()?;
            label["datatype"] = "BYTES".into();
            label["data"] = names.into();
        }
        Protocol::V1 => {
            let predictions = body.get_mut("predictions").and_then(Value::as_array_mut);
            let predictions =
                predictions.ok_or_else(|| Error::new("the response has no `predictions` array"))?;
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

impl<'de> Deserialize<'de> for Instance {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = Instance;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an instance: {\"sepal_length\", \"sepal_width\", \"petal_length\", \"petal_width\"} or a row of 4 numbers")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Instance, A::Error> {
                <[f64; 4]>::deserialize(SeqAccessDeserializer::new(seq)).map(Instance)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Instance, A::Error> {
                let f = Features::deserialize(MapAccessDeserializer::new(map))?;
                Ok(Instance([
                    f.sepal_length,
                    f.sepal_width,
                    f.petal_length,
                    f.petal_width,
                ]))
            }
        }
        deserializer.deserialize_any(Either)
    }
}
