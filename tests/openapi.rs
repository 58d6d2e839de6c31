//! `GET /v1/openapi.json`: the document is valid OpenAPI 3, every operation it lists is routed
//! and answers one of its documented statuses, and real answers match the documented schemas.
//!
//! The checker (openapi-spec-validator and its jsonschema) runs in a Python venv built once under
//! `target/python-openapi` (pip from PyPI); a machine without Python or PyPI fails these tests
//! with the reason, they never skip.

mod common;

use common::{Backend, Stack};
use natter_testkit::Socket;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::{path::PathBuf, process::Command};
use tokio::sync::OnceCell;

on_both_backends!(
    the_document_is_valid_openapi_3_and_needs_no_token,
    every_documented_operation_is_routed_and_answers_a_documented_status,
    real_answers_match_the_documented_schemas,
);

static PYTHON: OnceCell<PathBuf> = OnceCell::const_new();

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The venv's python, with the validator installed, made once per test run.
async fn python() -> &'static PathBuf {
    PYTHON
        .get_or_init(|| async {
            tokio::task::spawn_blocking(|| {
                let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/python-openapi");
                let py = venv.join("bin/python");
                if !py.exists() {
                    let system = std::env::var("NATTER_TEST_PYTHON").unwrap_or("python3".into());
                    run(Command::new(system).args(["-m", "venv"]).arg(&venv));
                }
                run(Command::new(&py).args([
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "openapi-spec-validator==0.7.2",
                    "jsonschema==4.26.0",
                ]));
                py
            })
            .await
            .unwrap()
        })
        .await
}

/// Runs the checker on `doc` and `samples` (see tests/python/openapi_check.py).
async fn check(doc: &Value, samples: &[Value]) {
    let py = python().await.clone();
    let dir = tempfile::tempdir().unwrap();
    let doc_file = dir.path().join("openapi.json");
    let samples_file = dir.path().join("samples.json");
    std::fs::write(&doc_file, doc.to_string()).unwrap();
    std::fs::write(&samples_file, json!(samples).to_string()).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/openapi_check.py");
    tokio::task::spawn_blocking(move || {
        run(Command::new(py)
            .arg(script)
            .arg(&doc_file)
            .arg(&samples_file))
    })
    .await
    .unwrap();
}

async fn document(stack: &Stack) -> Value {
    let (status, doc) = stack
        .api(0)
        .call(Method::GET, "/v1/openapi.json", None, None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc
}

async fn the_document_is_valid_openapi_3_and_needs_no_token(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let doc = document(&stack).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    check(&doc, &[]).await;
    // Every route the handlers register is in it (the router's own list, by method).
    let paths = doc["paths"].as_object().unwrap();
    let operations: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert!(operations >= 47, "only {operations} operations documented");
}

/// Each documented operation, called with dummy path ids, `{}` as its body when it takes one and a
/// fresh user's token: not the router's fallback, and a status the document lists for it.
async fn every_documented_operation_is_routed_and_answers_a_documented_status(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let doc = document(&stack).await;
    let client = reqwest::Client::new();
    let dummy = uuid::Uuid::new_v4().to_string();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            if path == "/v1/ws" {
                // Its documented answer is the upgrade itself.
                Socket::connect(&stack.ws(0)).await.unwrap();
                continue;
            }
            let url = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { &dummy } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let token = api.new_user().await.unwrap().access_token;
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut req = client
                .request(method.clone(), format!("{}{url}", api.base))
                .bearer_auth(token);
            if op.get("requestBody").is_some() {
                req = req.json(&json!({}));
            }
            let res = req.send().await.unwrap();
            let status = res.status();
            let body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap_or_default();
            let what = format!("{method} {url} answered {status} {body}");
            assert_ne!(body["error"]["message"], "no such route", "{what}");
            assert_ne!(
                body["error"]["message"], "this route does not take that method",
                "{what}"
            );
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{what}");
            let documented = op["responses"].as_object().unwrap();
            assert!(
                documented.contains_key(status.as_str()),
                "{what}, not one of {:?}",
                documented.keys().collect::<Vec<_>>()
            );
        }
    }
}

/// A sample for the checker: the call's documented path, its method, status and body.
fn sample(path: &str, method: &str, status: StatusCode, body: Value) -> Value {
    json!({ "path": path, "method": method, "status": status.as_u16(), "body": body })
}

async fn real_answers_match_the_documented_schemas(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let doc = document(&stack).await;
    let mut samples = Vec::new();
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let email = format!("{tag}@example.org");
    let reg = json!({ "email": email, "password": "correct horse battery", "nickname": format!("o_{tag}") });
    let (st, v) = api
        .call(Method::POST, "/v1/register", None, Some(reg))
        .await
        .unwrap();
    samples.push(sample("/v1/register", "post", st, v));
    let login = json!({ "email": email, "password": "correct horse battery" });
    let (st, v) = api
        .call(Method::POST, "/v1/login", None, Some(login))
        .await
        .unwrap();
    let me = v["access_token"].as_str().unwrap().to_owned();
    samples.push(sample("/v1/login", "post", st, v));
    let (st, v) = api
        .call(Method::POST, "/v1/login", None, Some(json!({})))
        .await
        .unwrap();
    samples.push(sample("/v1/login", "post", st, v));

    let other = api.new_user().await.unwrap();
    let chat = api.direct(&me, &other.user_id).await.unwrap();
    let body = json!({ "content": "hi", "client_msg_id": "c1", "metadata": {"k": "v"} });
    let (st, v) = api
        .call(Method::POST, &format!("/v1/chats/{chat}/message"), Some(&me), Some(body))
        .await
        .unwrap();
    samples.push(sample("/v1/chats/{conversation_id}/message", "post", st, v));
    let (st, v) = api
        .call(Method::GET, &format!("/v1/chats/{chat}/messages"), Some(&me), None)
        .await
        .unwrap();
    samples.push(sample("/v1/chats/{conversation_id}/messages", "get", st, v));
    let (st, v) = api
        .call(Method::GET, "/v1/chats", Some(&me), None)
        .await
        .unwrap();
    samples.push(sample("/v1/chats", "get", st, v));

    let group = json!({ "name": "crew", "member_ids": [other.user_id] });
    let (st, v) = api
        .call(Method::POST, "/v1/groups", Some(&me), Some(group))
        .await
        .unwrap();
    samples.push(sample("/v1/groups", "post", st, v));
    let (st, v) = api
        .call(Method::POST, &format!("/v1/friends/{}/request", other.user_id), Some(&me), None)
        .await
        .unwrap();
    samples.push(sample("/v1/friends/{user_id}/request", "post", st, v));
    let (st, v) = api
        .call(Method::GET, "/v1/profile", Some(&me), None)
        .await
        .unwrap();
    samples.push(sample("/v1/profile", "get", st, v));
    for s in &samples {
        assert!(s["status"].as_u64().unwrap() < 500, "{s}");
    }
    check(&doc, &samples).await;
}
