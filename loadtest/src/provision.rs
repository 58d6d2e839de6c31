//! Creating the users and conversations a run needs, over the public REST API: guests
//! (`POST /v1/guest`, no password hashing, so thousands a second), direct chats and groups.
//! Calls run in parallel (bounded) and spread over the comet nodes like the sockets do.

use crate::{metrics::Metrics, scenario::ConvPlan};
use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt, stream};
use serde_json::{Value, json};
use std::{sync::Arc, time::Duration};

/// A guest account.
#[derive(Clone, Debug)]
pub struct User {
    pub user_id: String,
    pub token: String,
}

/// A conversation as created.
#[derive(Clone, Debug)]
pub struct Conv {
    pub id: Arc<str>,
    /// Its last `seq` right after creation (a group starts with system messages).
    pub baseline: i64,
}

/// REST calls to a deployment's comet nodes.
#[derive(Clone)]
pub struct Rest {
    http: reqwest::Client,
    bases: Arc<Vec<String>>,
}

impl Rest {
    pub fn new(bases: Vec<String>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            bases: Arc::new(bases),
        })
    }

    /// POSTs `body` to `path` on node `i` (mod the node count); retries transient failures.
    async fn post(
        &self,
        i: usize,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.bases[i % self.bases.len()]);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self.http.post(&url).json(&body);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    if status.is_success() {
                        return serde_json::from_str(&text)
                            .with_context(|| format!("POST {path}: answer is not JSON: {text}"));
                    }
                    let transient = status.as_u16() == 429 || status.is_server_error();
                    (transient, format!("POST {path}: HTTP {status}: {text}"))
                }
                Err(e) => (true, format!("POST {url}: {e}")),
            };
            if !outcome.0 || attempt >= 4 {
                bail!(outcome.1);
            }
            tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
        }
    }

    async fn guest(&self, i: usize) -> anyhow::Result<User> {
        let t = self.post(i, "/v1/guest", None, json!({})).await?;
        Ok(User {
            user_id: field(&t, "user_id")?,
            token: field(&t, "access_token")?,
        })
    }
}

fn field(v: &Value, name: &str) -> anyhow::Result<String> {
    v[name]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("answer has no {name}: {v}"))
}

fn conv(v: &Value) -> anyhow::Result<Conv> {
    Ok(Conv {
        id: field(v, "conversation_id")?.into(),
        baseline: v["last_seq"].as_i64().unwrap_or(0),
    })
}

/// `n` guest users, in order (user i is created through node i).
pub async fn users(
    rest: &Rest,
    n: usize,
    concurrency: usize,
    metrics: &Metrics,
) -> anyhow::Result<Vec<User>> {
    stream::iter(0..n)
        .map(|i| async move {
            let user = rest.guest(i).await;
            metrics.provisioned.inc();
            user
        })
        .buffered(concurrency)
        .try_collect()
        .await
}

/// Creates every planned conversation; members are indices into `users`.
pub async fn conversations(
    rest: &Rest,
    users: &[User],
    plans: &[ConvPlan],
    concurrency: usize,
) -> anyhow::Result<Vec<Conv>> {
    stream::iter(plans.iter().enumerate())
        .map(|(i, plan)| async move {
            let owner = plan.members[0];
            let token = Some(users[owner].token.as_str());
            if plan.group {
                let member_ids: Vec<&str> = (plan.members[1..].iter())
                    .map(|&m| users[m].user_id.as_str())
                    .collect();
                let body = json!({
                    "name": format!("loadtest {i}"),
                    "member_ids": member_ids,
                    "max_members": plan.members.len() + 10,
                });
                let v = rest.post(owner, "/v1/groups", token, body).await?;
                conv(&v)
            } else {
                let body = json!({ "participant_id": users[plan.members[1]].user_id });
                let v = rest.post(owner, "/v1/chats/direct", token, body).await?;
                conv(&v)
            }
        })
        .buffered(concurrency)
        .try_collect()
        .await
}
