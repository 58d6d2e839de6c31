//! `natter-loadtest`: parses the flags, runs, prints the report (table, or JSON with
//! `--json`), and exits 0 (passed), 1 (failed: losses, duplicates, reordering, errors) or
//! 2 (could not run). Ctrl-C stops the traffic early but still tears a spawned stack down.

use clap::Parser;
use natter_loadtest::cli::Args;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let json = args.json;
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("natter-loadtest: {e:#}");
            return ExitCode::from(2);
        }
    };
    let interrupt = CancellationToken::new();
    let on_signal = interrupt.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("natter-loadtest: interrupted, finishing up (Ctrl-C again to abort)");
            on_signal.cancel();
            let _ = tokio::signal::ctrl_c().await;
            std::process::exit(130);
        }
    });
    let report = match natter_loadtest::run_until(config, interrupt).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("natter-loadtest: {e:#}");
            return ExitCode::from(2);
        }
    };
    if json {
        eprint!("{}", report.table());
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("natter-loadtest: cannot encode the report: {e}"),
        }
    } else {
        print!("{}", report.table());
    }
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
