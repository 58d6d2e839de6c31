//! `natter-loadtest`: Natter's load-test harness, as a library (so tests can run it in
//! process: `natter_loadtest::run(config)`) and a binary (`natter-loadtest --help`).
//!
//! It speaks only the public client contract (PROTOCOL.md): guest accounts and conversations
//! over REST, then one authenticated WebSocket per user. It measures what a user would feel
//! (send → push latency on the recipient, from the scheduled send time) and checks what the
//! server promises (every acknowledged message reaches every other member's socket once, in
//! `seq` order, by push or, after a `resync` or reconnect, by `sync`).
//!
//! Layout: `config` (what a run is), `cli` (flags → config), `spawn` (start the stack),
//! `provision` (REST set-up), `client` (one socket's handshake), `session` (one socket's life),
//! `tracker` (per-recipient seq checks), `scenario` (layout, schedule, phases), `metrics`,
//! `sysinfo` (/proc), `yardstick` (the machine's speed), `progress`, `report`.

pub mod cli;
mod client;
pub mod config;
mod metrics;
mod progress;
mod provision;
mod report;
mod scenario;
mod session;
mod spawn;
mod sysinfo;
mod tracker;
mod yardstick;

pub use config::{Config, Scenario, ServerSettings, Shape, Shard, SpawnKind, Target};
pub use report::{Percentiles, ProcReport, Report};
pub use tracker::Delivery;
pub use yardstick::Yardstick;

use tokio_util::sync::CancellationToken;

/// Runs `config` to the end and returns its report (judge it with `report.passed`).
pub async fn run(config: Config) -> anyhow::Result<Report> {
    run_until(config, CancellationToken::new()).await
}

/// Like [`run`]; cancelling `interrupt` ends the run early (a report still comes when the
/// traffic had started) and always tears down a spawned stack.
pub async fn run_until(config: Config, interrupt: CancellationToken) -> anyhow::Result<Report> {
    config.validate()?;
    // Before anything starts: the box is as quiet as it will be.
    let yardstick = tokio::task::spawn_blocking(yardstick::measure).await?;
    // Before spawning: a spawned server inherits the raised limit.
    sysinfo::raise_nofile_limit()?;
    let deployment = match &config.target {
        Target::Urls(urls) => spawn::Deployment::external(urls.clone(), &config.server_pids),
        Target::Spawn(kind) => spawn::Deployment::spawn(*kind, &config.server).await?,
    };
    let result = scenario::execute(&config, &deployment, &interrupt).await;
    let stopped = deployment.stop().await;
    let mut report = result?;
    stopped?;
    report.yardstick = Some(yardstick);
    Ok(report)
}
