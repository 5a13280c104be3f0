//! SIGINT/SIGTERM for the commands that run cycles (`sync`, `run`, `backfill`): the first
//! signal raises the engine's stop, the second exits at once.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::sync::StopSignal;
use crate::telemetry;

/// Raises `stop` on the first SIGINT/SIGTERM (and wakes `stopped`); exits 130 on the second.
pub fn on_signals(stop: StopSignal, stopped: Arc<Notify>) {
    tokio::spawn(async move {
        let mut count = 0;
        loop {
            wait_for_signal().await;
            count += 1;
            if count > 1 {
                telemetry::say(
                    "second signal: exiting now; the page in flight is read again by the next run",
                );
                std::process::exit(130);
            }
            telemetry::say(
                "stopping: ending the current wait or page; what is committed stays, the rest is read again by the next run (signal again to exit at once)",
            );
            stop.request();
            stopped.notify_waiters();
            stopped.notify_one();
        }
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
