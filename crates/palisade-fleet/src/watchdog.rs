//! The ban reader's watchdog: the I/O around [`crate::stall`].
//!
//! Why beside the reader and not inside it: the client library's ordered consumer can hang
//! without an error when a cluster server dies, so nothing the reader receives tells it
//! that it is stuck. The stream's head can: [`probe_heads`] asks for it every second, on
//! its own (a slow answer never holds up reading), and [`judge`] turns each probe into an
//! action: reopen the reader, make the client reconnect, or nothing.

use std::time::Duration;

use async_nats::connection::State as ConnState;
use async_nats::jetstream::Context;
use async_nats::Client;
use tokio::sync::watch;

use crate::bus;
use crate::engine::Shared;
use crate::stall::{StallWatch, STUCK_CONNECTION_PROBES};

/// How often the stream is asked for its head.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long a probe waits for its answer: shorter than the request timeout, so a dead
/// connection is counted in seconds, not tens of seconds.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The latest probe of the stream's head.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Probe {
    /// None yet.
    Pending,
    Head(u64),
    /// No answer (no leader, timed out, disconnected).
    Failed,
}

/// Ask the stream for its head every [`PROBE_EVERY`] until `stop`; the reader keeps only
/// the latest answer.
pub(crate) async fn probe_heads(
    js: Context,
    heads: watch::Sender<Probe>,
    mut stop: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(PROBE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let probe = async {
            every.tick().await;
            match tokio::time::timeout(PROBE_TIMEOUT, bus::ban_stream_head(&js)).await {
                Ok(Ok(head)) => Probe::Head(head),
                _ => Probe::Failed,
            }
        };
        tokio::select! {
            probe = probe => if heads.send(probe).is_err() { return },
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Judge the latest probe for a reader that would resume at stream sequence `resume_at`.
/// Returns true when the reader is stuck and must be reopened (counted, and said in the
/// status); makes the client reconnect when the connection is stuck.
pub(crate) async fn judge(
    stall: &mut StallWatch,
    probe: Probe,
    client: &Client,
    shared: &Shared,
    resume_at: u64,
) -> bool {
    match probe {
        Probe::Pending => false,
        Probe::Head(head) => {
            let Some(stuck) = stall.probed(head) else {
                return false;
            };
            let mut st = shared.status();
            st.reader_reopens += 1;
            st.last_error = Some(format!(
                "ban reader stalled: read up to stream sequence {} while the stream is at {}; reopened it from {resume_at}",
                stuck.read_up_to, stuck.head
            ));
            true
        }
        Probe::Failed => {
            let connected = client.connection_state() == ConnState::Connected;
            if !stall.probe_failed(connected) {
                return false;
            }
            {
                let mut st = shared.status();
                st.forced_reconnects += 1;
                st.last_error = Some(format!(
                    "NATS connection up but JetStream silent for {STUCK_CONNECTION_PROBES} probes in a row: reconnecting"
                ));
            }
            if let Err(e) = client.force_reconnect().await {
                shared.note_error(format!("forcing a NATS reconnect: {e}"));
            }
            false
        }
    }
}
