//! Helpers shared by the friends and blocks end-to-end tests: REST calls as a given user and the
//! error assertions of the protocol.

#![allow(dead_code)]

use natter_testkit::{Api, Tokens};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// `method path` as `who`; the status and the JSON answer.
pub async fn call(api: &Api, who: &Tokens, method: Method, path: &str) -> (StatusCode, Value) {
    api.call(method, path, Some(&who.access_token), None)
        .await
        .unwrap()
}

pub async fn post(api: &Api, who: &Tokens, path: &str, body: Value) -> (StatusCode, Value) {
    api.call(Method::POST, path, Some(&who.access_token), Some(body))
        .await
        .unwrap()
}

pub fn assert_error(got: &(StatusCode, Value), status: u16, code: &str) {
    assert_eq!(got.0.as_u16(), status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert!(!got.1["error"]["message"].as_str().unwrap().is_empty());
}

/// `from` asks `to`, `to` accepts.
pub async fn befriend(api: &Api, from: &Tokens, to: &Tokens) {
    let path = format!("/v1/friends/{}/request", to.user_id);
    let (status, r) = call(api, from, Method::POST, &path).await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let path = format!(
        "/v1/friends/requests/{}/accept",
        r["request_id"].as_str().unwrap()
    );
    let (status, r) = call(api, to, Method::POST, &path).await;
    assert_eq!(status, StatusCode::OK, "{r}");
}

pub async fn friends(api: &Api, who: &Tokens) -> Value {
    let (status, v) = call(api, who, Method::GET, "/v1/friends").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["friend_user_ids"].clone()
}
