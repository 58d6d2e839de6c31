//! `GET /v1/openapi.json`: the document is valid OpenAPI 3, every operation it lists is routed
//! and answers one of its documented statuses, and real answers match the documented schemas.
//!
//! The checker (openapi-spec-validator and its jsonschema) runs in a Python venv built once under
//! `target/python-openapi` (pip from PyPI); a machine without Python or PyPI fails these tests
//! with the reason, they never skip.

mod common;

use common::{Backend, Stack};
use natter_testkit::{Api, Socket};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::{path::PathBuf, process::Command};
use tokio::sync::OnceCell;

on_both_backends!(
    the_document_is_valid_openapi_3_and_needs_no_token,
    every_documented_operation_is_routed_and_answers_a_documented_status,
    real_answers_match_the_documented_schemas,
    every_route_in_the_api_docs_is_in_the_document,
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
    // The 44 REST handlers, /healthz, /v1/ws and this document itself.
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

/// Answers recorded for the checker: each call's documented path, method, status and body.
struct Samples<'a> {
    api: &'a Api,
    taken: Vec<Value>,
}

impl Samples<'_> {
    /// Calls `method path` (`documented` is its path as the document writes it) and records it.
    async fn call(
        &mut self,
        method: Method,
        documented: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let (status, v) = self
            .api
            .call(method.clone(), path, token, body)
            .await
            .unwrap();
        assert!(
            status.as_u16() < 500,
            "{method} {path} answered {status} {v}"
        );
        self.taken.push(json!({
            "path": documented, "method": method.as_str().to_lowercase(),
            "status": status.as_u16(), "body": v.clone(),
        }));
        v
    }
}

async fn real_answers_match_the_documented_schemas(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let api = stack.api(0);
    let doc = document(&stack).await;
    let mut s = Samples {
        api: &api,
        taken: Vec::new(),
    };
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let (email, password) = (format!("{tag}@example.org"), "correct horse battery");
    let reg = json!({ "email": email, "password": password, "nickname": format!("o_{tag}") });
    s.call(
        Method::POST,
        "/v1/register",
        "/v1/register",
        None,
        Some(reg),
    )
    .await;
    let login = json!({ "email": email, "password": password });
    let tokens = s
        .call(Method::POST, "/v1/login", "/v1/login", None, Some(login))
        .await;
    let token = tokens["access_token"].as_str().unwrap();
    let me = Some(token);
    // An error answer, checked against the error schema.
    s.call(
        Method::POST,
        "/v1/login",
        "/v1/login",
        None,
        Some(json!({})),
    )
    .await;

    let other = api.new_user().await.unwrap();
    let chat = api.direct(token, &other.user_id).await.unwrap();
    let body = json!({ "content": "hi", "client_msg_id": "c1", "metadata": {"k": "v"} });
    let send = "/v1/chats/{conversation_id}/message";
    let path = format!("/v1/chats/{chat}/message");
    s.call(Method::POST, send, &path, me, Some(body)).await;
    let history = "/v1/chats/{conversation_id}/messages";
    let path = format!("/v1/chats/{chat}/messages");
    s.call(Method::GET, history, &path, me, None).await;
    s.call(Method::GET, "/v1/chats", "/v1/chats", me, None)
        .await;
    let group = json!({ "name": "crew", "member_ids": [other.user_id] });
    s.call(Method::POST, "/v1/groups", "/v1/groups", me, Some(group))
        .await;
    let befriend = "/v1/friends/{user_id}/request";
    let path = format!("/v1/friends/{}/request", other.user_id);
    s.call(Method::POST, befriend, &path, me, None).await;
    s.call(Method::GET, "/v1/profile", "/v1/profile", me, None)
        .await;
    check(&doc, &s.taken).await;
}

/// `METHOD /path` with its path parameters' names dropped, so `{id}` and `{user_id}` compare equal.
fn route_key(method: &str, path: &str) -> String {
    let path: Vec<_> = path
        .split('/')
        .map(|seg| if seg.starts_with('{') { "{}" } else { seg })
        .collect();
    format!("{} {}", method.to_uppercase(), path.join("/"))
}

/// The reverse of the routing check: every route the REST tables of docs/API.md and docs/api/*.md
/// list is documented, so a route added without an annotation fails here.
async fn every_route_in_the_api_docs_is_in_the_document(backend: Backend) {
    let stack = Stack::start(backend, 1).await;
    let doc = document(&stack).await;
    let mut documented = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert(route_key(method, path));
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut files = vec![root.join("API.md")];
    for entry in std::fs::read_dir(root.join("api")).unwrap() {
        files.push(entry.unwrap().path());
    }
    let mut listed = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for row in text.lines().filter(|l| l.starts_with('|')) {
            for (i, _) in row.match_indices('`') {
                let route = row[i + 1..].split(['`', '?']).next().unwrap();
                let Some((method, path)) = route.split_once(' ') else {
                    continue;
                };
                if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method)
                    || !path.starts_with('/')
                {
                    continue;
                }
                listed += 1;
                let key = route_key(method, path);
                assert!(
                    documented.contains(&key),
                    "{key} ({file:?}) is not documented"
                );
            }
        }
    }
    assert!(listed >= 40, "only {listed} routes found in the docs");
}
