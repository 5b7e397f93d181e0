//! The connection to NATS and the JetStream objects palisade keeps there.
//!
//! Why a stream of signed envelopes (and not a key-value bucket with one key per banned
//! address): the bucket would need one signature per ban, and checking 100,000 signatures
//! costs a receiver about five seconds here, over the two-second budget for a burst and for
//! a catch-up; envelopes carry up to 2,000 bans under one signature. The price is that a
//! catch-up reads the stream's history rather than only the latest value per address; the
//! ledger folds it (lifts cancel bans, newer bans replace older) and hands over only what
//! is active at the end, as one batch. The stream's `max_age` is the retention: nothing
//! older than the longest ban is kept, so history stays bounded, and this host re-announces
//! its own bans that outlive it (permanent ones, and timed ones longer than the retention).
//! `max_msg_size` makes the server itself refuse anything over the envelope limit.
//!
//! Shared lists go in an object store: a list is a large, whole document with a current
//! version, which is exactly what the object store keeps (chunked, with a digest), and a
//! host that was away simply reads the current version.
//!
//! The client is built without async-nats's `server_2_10`+ features (see Cargo.toml), so
//! every request fits the nats-server 2.9 that Debian 12 ships.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, object_store, stream, Context};
use async_nats::{Client, ConnectOptions, Event};

use crate::clock::now_secs;
use crate::config::{FleetConfig, NatsAuth};
use crate::engine::{FleetError, Shared};
use crate::gate::BAN_SUBJECT_PREFIX;
use crate::status::Connection;
use crate::wire::MAX_ENVELOPE_BYTES;

pub const BAN_STREAM: &str = "PALISADE_BANS";
pub const LIST_BUCKET: &str = "palisade-lists";
/// Bytes allowed for message headers on top of the envelope limit.
pub const HEADER_ROOM: usize = 1024;
pub const PING_INTERVAL: Duration = Duration::from_secs(3);
/// How long a request to JetStream (and a publish acknowledgement) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Connect (in the background: this returns at once, even when no server answers yet).
/// Connection changes update the status and bump `reconnects`.
pub(crate) async fn connect(
    cfg: &FleetConfig,
    shared: Arc<Shared>,
    reconnects: tokio::sync::watch::Sender<u64>,
) -> Result<Client, FleetError> {
    let events_shared = shared.clone();
    let mut opts = ConnectOptions::new()
        .name(format!("palisade-fleet {}", cfg.host))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(3))
        // A dead link (no RST, just silence) is noticed after about three missed pings:
        // ~10 s, after which bans queue instead of waiting on acknowledgements.
        .ping_interval(PING_INTERVAL)
        .request_timeout(Some(REQUEST_TIMEOUT))
        .event_callback(move |event| {
            let shared = events_shared.clone();
            let reconnects = reconnects.clone();
            async move {
                let mut st = shared.status();
                match event {
                    Event::Connected => {
                        st.connection = Connection::Connected;
                        st.connection_changed_at = now_secs();
                        drop(st);
                        reconnects.send_modify(|n| *n += 1);
                    }
                    Event::Disconnected => {
                        st.connection = Connection::Disconnected;
                        st.connection_changed_at = now_secs();
                    }
                    Event::ServerError(e) => st.last_error = Some(format!("NATS server: {e}")),
                    Event::ClientError(e) => st.last_error = Some(format!("NATS client: {e}")),
                    _ => {}
                }
            }
        });
    match &cfg.auth {
        NatsAuth::None => {}
        NatsAuth::NkeyFile(path) => {
            let seed = std::fs::read_to_string(path).map_err(|e| FleetError::Auth {
                path: path.clone(),
                message: e.to_string(),
            })?;
            opts = opts.nkey(seed.trim().to_string());
        }
        NatsAuth::CredsFile(path) => {
            opts = opts
                .credentials_file(path)
                .await
                .map_err(|e| FleetError::Auth {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
        }
    }
    if let Some(ca) = &cfg.tls_ca {
        opts = opts.add_root_certificates(ca.clone()).require_tls(true);
    }
    let servers: Vec<async_nats::ServerAddr> =
        cfg.servers.iter().filter_map(|s| s.parse().ok()).collect();
    opts.connect(servers)
        .await
        .map_err(|e| FleetError::Connect(e.to_string()))
}

pub(crate) fn jetstream(client: Client) -> Context {
    jetstream::ContextBuilder::new()
        .timeout(REQUEST_TIMEOUT)
        .max_ack_inflight(1024)
        .backpressure_on_inflight(true)
        .build(client)
}

/// The ban stream's settings when palisade creates it. An existing stream is used as it
/// is (an admin may have tuned it).
pub fn ban_stream_config(retention: u64, replicas: usize) -> stream::Config {
    stream::Config {
        name: BAN_STREAM.to_string(),
        description: Some("palisade fleet: signed ban envelopes".to_string()),
        subjects: vec![format!("{BAN_SUBJECT_PREFIX}>")],
        max_age: Duration::from_secs(retention),
        // The server counts headers too (the message id): room for them above the payload.
        max_message_size: (MAX_ENVELOPE_BYTES + HEADER_ROOM) as i32,
        storage: stream::StorageType::File,
        num_replicas: replicas,
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    }
}

/// The description of `host`'s reader consumer on the ban stream: the consumer's name is
/// the server's choice, so this is how an admin (`nats consumer ls PALISADE_BANS`) or a test
/// tells which host a reader belongs to.
pub fn reader_description(host: &str) -> String {
    format!("palisade fleet: ban reader of host {host}")
}

pub(crate) async fn ban_stream(js: &Context, cfg: &FleetConfig) -> Result<stream::Stream, String> {
    js.get_or_create_stream(ban_stream_config(cfg.retention, cfg.replicas))
        .await
        .map_err(|e| format!("JetStream stream {BAN_STREAM}: {e}"))
}

/// The ban stream's last sequence (its head), as its leader reports it: what the reader's
/// watchdog compares with what the reader has read.
pub(crate) async fn ban_stream_head(js: &Context) -> Result<u64, String> {
    js.get_stream(BAN_STREAM)
        .await
        .map(|s| s.cached_info().state.last_sequence)
        .map_err(|e| format!("JetStream stream {BAN_STREAM}: {e}"))
}

pub(crate) async fn list_bucket(
    js: &Context,
    cfg: &FleetConfig,
) -> Result<object_store::ObjectStore, String> {
    if let Ok(store) = js.get_object_store(LIST_BUCKET).await {
        return Ok(store);
    }
    js.create_object_store(object_store::Config {
        bucket: LIST_BUCKET.to_string(),
        description: Some("palisade fleet: shared blocklists".to_string()),
        num_replicas: cfg.replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| format!("JetStream object store {LIST_BUCKET}: {e}"))
}
