//! A REST client for the public API, as an outside client would write it.

use anyhow::{Context, ensure};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Api {
    pub base: String,
    client: reqwest::Client,
}

/// What `/v1/register`, `/v1/login` and `/v1/refresh` answer.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub user_id: String,
    pub access_token: String,
    pub refresh_token: String,
}

impl Api {
    /// `base` like `http://127.0.0.1:PORT`.
    pub fn new(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            client: reqwest::Client::new(),
        }
    }

    /// Calls `method path` with an optional bearer token and JSON body; returns the status and
    /// the JSON answer (`Value::Null` for an empty body).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("calling {path}"))?;
        let status = res.status();
        let text = res.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("{path} answered non-JSON: {text}"))?
        };
        Ok((status, value))
    }

    /// Raw body (for malformed-JSON tests).
    pub async fn post_raw(
        &self,
        path: &str,
        body: &'static str,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = res.status();
        Ok((status, res.json().await?))
    }

    pub async fn register(
        &self,
        email: &str,
        password: &str,
        nickname: &str,
    ) -> anyhow::Result<Tokens> {
        let body = json!({ "email": email, "password": password, "nickname": nickname });
        let (status, v) = self
            .call(Method::POST, "/v1/register", None, Some(body))
            .await?;
        ensure!(
            status == StatusCode::CREATED,
            "register answered {status}: {v}"
        );
        tokens(&v)
    }

    /// Registers a user with a random email and nickname.
    pub async fn new_user(&self) -> anyhow::Result<Tokens> {
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..12];
        self.register(
            &format!("{tag}@example.org"),
            "correct horse battery",
            &format!("u_{tag}"),
        )
        .await
    }

    /// Opens (or finds) the direct chat of `token`'s user with `other`; returns its id.
    pub async fn direct(&self, token: &str, other: &str) -> anyhow::Result<String> {
        let body = json!({ "participant_id": other });
        let (status, v) = self
            .call(Method::POST, "/v1/chats/direct", Some(token), Some(body))
            .await?;
        ensure!(status.is_success(), "direct answered {status}: {v}");
        Ok(v["conversation_id"]
            .as_str()
            .context("no conversation_id")?
            .to_owned())
    }

    pub async fn send(
        &self,
        token: &str,
        conversation: &str,
        content: &str,
    ) -> anyhow::Result<Value> {
        let body = json!({ "content": content });
        let path = format!("/v1/chats/{conversation}/message");
        let (status, v) = self
            .call(Method::POST, &path, Some(token), Some(body))
            .await?;
        ensure!(status == StatusCode::CREATED, "send answered {status}: {v}");
        Ok(v)
    }
}

pub fn tokens(v: &Value) -> anyhow::Result<Tokens> {
    let field = |name: &str| -> anyhow::Result<String> {
        Ok(v[name]
            .as_str()
            .with_context(|| format!("no {name} in {v}"))?
            .to_owned())
    };
    Ok(Tokens {
        user_id: field("user_id")?,
        access_token: field("access_token")?,
        refresh_token: field("refresh_token")?,
    })
}
