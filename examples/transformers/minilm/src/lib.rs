//! MiniLM transformer. `preprocess` normalises the input texts: trims them, lower-cases them
//! and caps each at `max_chars` characters (from the config), in V1 `instances` or V2 `BYTES`
//! inputs alike.

use infergate_transformer_guest::{Error, Input, Output, Protocol, export};
use serde::Deserialize;
use serde_json::{Map, Value};

export!(preprocess = preprocess);

/// `spec.transformer.wasm.config`, e.g. `{"max_chars": 256}`.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    /// The longest text kept, in characters; longer texts are cut. Unset: no cap.
    max_chars: Option<usize>,
}

pub fn preprocess(input: Input<'_>) -> Result<Output, Error> {
    let config: Config = input.config()?;
    let mut body: Map<String, Value> = input.json()?;
    let texts: Vec<&mut Value> = match input.protocol() {
        Protocol::V1 => body
            .get_mut("instances")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| Error::new("`instances` must be an array of texts"))?
            .iter_mut()
            .collect(),
        Protocol::V2 => body
            .get_mut("inputs")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| Error::new("`inputs` must be an array of tensors"))?
            .iter_mut()
            .filter(|tensor| tensor["datatype"] == "BYTES")
            .filter_map(|tensor| tensor.get_mut("data").and_then(Value::as_array_mut))
            .flat_map(|data| data.iter_mut())
            .collect(),
    };
    for (index, text) in texts.into_iter().enumerate() {
        let normal = text
            .as_str()
            .map(|text| normalise(text, config.max_chars))
            .ok_or_else(|| Error::new(format!("text {index} is not a string")))?;
        *text = Value::String(normal);
    }
    Output::json(&body)
}

/// Trimmed, lower-cased, at most `max_chars` characters.
fn normalise(text: &str, max_chars: Option<usize>) -> String {
    let lower = text.trim().to_lowercase();
    match max_chars.and_then(|max| lower.char_indices().nth(max)) {
        Some((cut, _)) => lower[..cut].trim_end().to_owned(),
        None => lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        assert_eq!(normalise("  A Man Is Eating.\n", None), "a man is eating.");
        assert_eq!(normalise("ÄBC DEF", Some(4)), "äbc");
        assert_eq!(normalise("abc", Some(3)), "abc");
    }
}
