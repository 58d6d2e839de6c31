//! Progress on stderr while a run goes (indicatif): one bar per phase, with the live rates
//! in its message. Hidden when asked, and by indicatif itself when stderr is not a terminal.

use crate::metrics::Metrics;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

pub struct Progress {
    enabled: bool,
}

/// A bar that is refreshed until dropped.
pub struct Phase {
    bar: ProgressBar,
    stop: CancellationToken,
}

impl Drop for Phase {
    fn drop(&mut self) {
        self.stop.cancel();
        self.bar.finish_and_clear();
    }
}

impl Progress {
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }

    fn bar(&self, len: u64, template: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    }

    /// A phase counting `len` things; `count` reads how many are done.
    pub fn count(
        &self,
        label: &'static str,
        len: u64,
        metrics: Arc<Metrics>,
        count: fn(&Metrics) -> u64,
    ) -> Phase {
        let bar = self.bar(len, "{prefix:>10} [{bar:30}] {pos}/{len} {per_sec} {msg}");
        bar.set_prefix(label);
        let stop = CancellationToken::new();
        let (b, s) = (bar.clone(), stop.clone());
        tokio::spawn(async move {
            while !s.is_cancelled() {
                b.set_position(count(&metrics));
                let failed = metrics.connect_failures.get();
                if failed > 0 {
                    b.set_message(format!("{failed} failed"));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Phase { bar, stop }
    }

    /// The timed scenario: elapsed over `duration`, with live rates and loss indicators.
    pub fn run(&self, duration: Duration, metrics: Arc<Metrics>) -> Phase {
        let ms = duration.as_millis() as u64;
        let bar = self.bar(
            ms.max(1),
            "{prefix:>10} [{bar:30}] {elapsed}/{duration} {msg}",
        );
        bar.set_prefix("running");
        let stop = CancellationToken::new();
        let (b, s) = (bar.clone(), stop.clone());
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let (mut acked, mut pushes) = (metrics.acked.get(), metrics.pushes.get());
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            while !s.is_cancelled() {
                tick.tick().await;
                b.set_position((started.elapsed().as_millis() as u64).min(ms));
                let (a, p) = (metrics.acked.get(), metrics.pushes.get());
                let p99 = metrics.latency.snapshot().value_at_quantile(0.99);
                b.set_message(format!(
                    "{} acked/s {} pushes/s p99 {:.1} ms | up {} dup {} ooo {} resync {}",
                    (a - acked) * 2,
                    (p - pushes) * 2,
                    p99 as f64 / 1000.0,
                    metrics.connected.get(),
                    metrics.duplicates.get(),
                    metrics.out_of_order.get(),
                    metrics.resyncs.get(),
                ));
                (acked, pushes) = (a, p);
            }
        });
        Phase { bar, stop }
    }
}
