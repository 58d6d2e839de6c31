//! The phases of every run: provision users and conversations, connect every socket (memory
//! is read before and after, once things settle), drive the send schedule for the duration,
//! stop sending and wait the grace period, close, then count what each recipient missed.

use super::{
    Plan,
    schedule::{self, Slot},
};
use crate::{
    client::{Endpoint, Sources},
    config::Config,
    metrics::Metrics,
    progress::Progress,
    provision::{self, Rest},
    report::{self, Report, Sample},
    session::{self, Cmd, SessionConv, Shared, Spec},
    spawn::Deployment,
    sysinfo, tracker,
};
use anyhow::Context;
use std::{sync::Arc, time::Instant};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

/// Runs `config` against `deployment`; `interrupt` cuts the run short (a report still comes).
pub async fn execute(
    config: &Config,
    deployment: &Deployment,
    interrupt: &CancellationToken,
) -> anyhow::Result<Report> {
    let metrics = Arc::new(Metrics::default());
    let progress = Progress::new(config.progress);
    let plan = Plan::new(config);
    let limit = sysinfo::raise_nofile_limit()?;
    // A spawned server inherits this limit too (it holds the other ends).
    sysinfo::check_room(plan.sockets, limit)?;
    let mut endpoints = Vec::new();
    for url in &deployment.urls {
        endpoints.push(Arc::new(Endpoint::resolve(url).await?));
    }
    let rest = Rest::new(endpoints.iter().map(|e| e.http.clone()).collect())?;
    let pids: Vec<(String, u32)> = (deployment.procs.iter())
        .map(|p| (p.name.clone(), p.pid))
        .collect();

    let users = {
        let _bar = progress.count("users", plan.sockets as u64, metrics.clone(), |m| {
            m.provisioned.get()
        });
        let work = provision::users(&rest, plan.sockets, config.provision_concurrency, &metrics);
        interruptible(interrupt, work).await?
    };
    let convs = interruptible(
        interrupt,
        provision::conversations(&rest, &users, &plan.convs, config.provision_concurrency),
    )
    .await?;

    let before = Sample::take(&pids);
    let shared = Shared {
        metrics: metrics.clone(),
        message_size: config.message_size,
        app_ping: config.app_ping,
        gate: Arc::new(Semaphore::new(config.connect_concurrency)),
        quiet: CancellationToken::new(),
        stop: CancellationToken::new(),
    };
    let offset = config.shard.index as u32 * config.source_addrs;
    let sources: Vec<Sources> = (endpoints.iter())
        .map(|e| Sources::new(&e.addr, config.source_addrs, offset))
        .collect();
    let memberships = plan.memberships();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut txs: Vec<mpsc::UnboundedSender<Cmd>> = Vec::with_capacity(plan.sockets);
    let mut tasks = Vec::with_capacity(plan.sockets);
    let connect_bar = progress.count("connect", plan.sockets as u64, metrics.clone(), |m| {
        m.connected.get() + m.connect_failures.get()
    });
    let connect_start = Instant::now();
    for (i, user) in users.into_iter().enumerate() {
        let e = i % endpoints.len();
        let spec = Spec {
            index: i,
            user_id: user.user_id,
            token: user.token,
            endpoint: endpoints[e].clone(),
            source: sources[e].for_socket(i / endpoints.len()),
            convs: (memberships[i].iter())
                .map(|&c| SessionConv {
                    global: c,
                    id: convs[c].id.clone(),
                    baseline: convs[c].baseline,
                })
                .collect(),
            churn: plan.churners[i].then_some(config.churn_every),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        txs.push(tx);
        let task = session::run(spec, shared.clone(), rx, ready_tx.clone());
        tasks.push(tokio::spawn(task));
    }
    drop(ready_tx);
    let mut connected = 0;
    for _ in 0..plan.sockets {
        tokio::select! {
            r = ready_rx.recv() => connected += usize::from(r.unwrap_or(false)),
            () = interrupt.cancelled() => break,
        }
    }
    let connect_secs = connect_start.elapsed().as_secs_f64();
    drop(connect_bar);

    pause(interrupt, config.settle).await;
    let at_connected = Sample::take(&pids);
    let slots: Vec<Slot> = (plan.senders.iter())
        .map(|&(socket, conv)| Slot {
            tx: txs[socket].clone(),
            conv: memberships[socket]
                .iter()
                .position(|&c| c == conv)
                .unwrap_or(0),
        })
        .collect();
    let run_start = Instant::now();
    {
        let _bar = progress.run(config.duration, metrics.clone());
        let (rate, d, max) = (plan.rate, config.duration, config.max_messages);
        schedule::run(&slots, rate, d, max, &metrics, interrupt).await;
    }
    let run_secs = run_start.elapsed().as_secs_f64();
    shared.quiet.cancel();
    pause(interrupt, config.grace).await;
    let at_end = Sample::take(&pids);
    let measured_secs = run_start.elapsed().as_secs_f64();

    shared.stop.cancel();
    drop((slots, txs));
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.context("a socket task panicked")?);
    }
    let delivery = tracker::count_losses(&outcomes, plan.convs.len());
    Ok(report::build(report::Inputs {
        config,
        plan: &plan,
        deployment,
        metrics: &metrics,
        delivery,
        connected,
        connect_secs,
        run_secs,
        measured_secs,
        unacked: outcomes.iter().map(|o| o.unacked).sum(),
        samples: [before, at_connected, at_end],
        interrupted: interrupt.is_cancelled(),
    }))
}

async fn pause(interrupt: &CancellationToken, d: std::time::Duration) {
    tokio::select! {
        () = tokio::time::sleep(d) => {}
        () = interrupt.cancelled() => {}
    }
}

async fn interruptible<T>(
    interrupt: &CancellationToken,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::select! {
        r = work => r,
        () = interrupt.cancelled() => anyhow::bail!("interrupted"),
    }
}
