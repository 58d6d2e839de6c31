//! WebSocket frames: one JSON object per text frame. Requests are parsed once into [`Request`];
//! replies and errors are encoded here so every method answers in the same shape.

use crate::error::ApiError;
use axum::extract::ws::Utf8Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

/// `{"id": <int>, "method": "...", "params": {...}}`.
#[derive(Debug, Deserialize)]
pub struct Request {
    pub id: i64,
    pub method: String,
    #[serde(default)]
    pub params: Value,
}

/// A frame that could not be read as a request: the reply to send (with whatever id it had).
pub fn parse(text: &str) -> Result<Request, Utf8Bytes> {
    serde_json::from_str::<Request>(text).map_err(|err| {
        let id = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("id").filter(|id| id.is_i64()).cloned())
            .unwrap_or(Value::Null);
        let message = if id.is_null() && err.is_data() {
            "a request needs an integer id, a method and params".to_owned()
        } else {
            format!("malformed request: {err}")
        };
        encode(&json!({ "id": id, "error": ApiError::invalid(message).to_json() }))
    })
}

/// The params of a method, or INVALID_ARGUMENT saying what is wrong with them.
pub fn params<T: serde::de::DeserializeOwned>(params: Value) -> Result<T, ApiError> {
    let params = if params.is_null() { json!({}) } else { params };
    serde_json::from_value(params).map_err(|e| ApiError::invalid(format!("invalid params: {e}")))
}

pub fn result(id: i64, result: Value) -> Utf8Bytes {
    encode(&json!({ "id": id, "result": result }))
}

pub fn error(id: i64, err: &ApiError) -> Utf8Bytes {
    encode(&json!({ "id": id, "error": err.to_json() }))
}

fn encode(v: &Value) -> Utf8Bytes {
    Utf8Bytes::from(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_parses_and_a_bad_one_gets_an_error_reply() {
        let req = parse(r#"{"id":3,"method":"ping","params":{}}"#).unwrap();
        assert_eq!((req.id, req.method.as_str()), (3, "ping"));
        let reply = parse("{not json").unwrap_err();
        let v: Value = serde_json::from_str(reply.as_str()).unwrap();
        assert_eq!(v["id"], Value::Null);
        assert_eq!(v["error"]["code"], "INVALID_ARGUMENT");
        let reply = parse(r#"{"id":4,"params":{}}"#).unwrap_err();
        let v: Value = serde_json::from_str(reply.as_str()).unwrap();
        assert_eq!(v["id"], 4);
    }
}
