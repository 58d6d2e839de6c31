//! `natter-loadtest`: the load-test harness. For now it opens N authenticated sockets against a
//! running deployment and reports how many succeeded; the full scenarios come with their issue.

use anyhow::Context;
use clap::Parser;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{connect_async, tungstenite::Message};

/// Opens authenticated WebSocket sessions against a Natter deployment.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Base HTTP URL of a comet node.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// How many sockets to open (each with its own guest account).
    #[arg(long, default_value_t = 10)]
    sockets: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::new();
    let ws_url = format!("{}/v1/ws", args.url.replacen("http", "ws", 1));
    let mut open = Vec::new();
    for _ in 0..args.sockets {
        let tokens: Value = http
            .post(format!("{}/v1/guest", args.url))
            .send()
            .await
            .context("POST /v1/guest")?
            .json()
            .await?;
        let token = tokens["access_token"].as_str().context("no access_token")?;
        let (mut ws, _) = connect_async(&ws_url).await.context("connect")?;
        let auth = json!({ "id": 1, "method": "auth", "params": { "token": token } });
        ws.send(Message::text(auth.to_string())).await?;
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.as_str().contains("\"result\"") => open.push(ws),
            other => anyhow::bail!("auth failed: {other:?}"),
        }
    }
    println!("{} of {} sockets authenticated", open.len(), args.sockets);
    Ok(())
}
