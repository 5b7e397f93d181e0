//! What the fleet engine reports: plain data the CLI prints (`palisade fleet status`,
//! human or `--json`) and the metrics exporter turns into counters.
//!
//! Every refused message is counted under the reason it was refused, so an admin can tell
//! "a peer's key is missing from my trust list" (untrusted) from "someone is forging"
//! (bad_signature) from "clocks disagree" (clock_skew) without reading logs.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Why a message or record was not delivered to the sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Over the size limit.
    Oversized,
    /// Not a valid envelope (or filed under another host's subject).
    Malformed,
    /// The origin is not in the trust list.
    Untrusted,
    /// Signed by a key other than the one trusted for its origin, or altered.
    BadSignature,
    /// Stamped too far in the future: the origin's clock is ahead.
    ClockSkew,
    /// Seen before, or older than the replay window.
    Replayed,
    /// The ban was already over when it arrived.
    Expired,
    /// A newer record from the same origin for the same address was applied first.
    Superseded,
    /// A kind of ban (or a list) this host does not accept.
    NotAccepted,
    /// The ban covers an address of this host's allowlist.
    Allowlisted,
}

impl DropReason {
    pub const ALL: [DropReason; 10] = [
        DropReason::Oversized,
        DropReason::Malformed,
        DropReason::Untrusted,
        DropReason::BadSignature,
        DropReason::ClockSkew,
        DropReason::Replayed,
        DropReason::Expired,
        DropReason::Superseded,
        DropReason::NotAccepted,
        DropReason::Allowlisted,
    ];

    /// The label used in status output and metrics.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Oversized => "oversized",
            DropReason::Malformed => "malformed",
            DropReason::Untrusted => "untrusted",
            DropReason::BadSignature => "bad_signature",
            DropReason::ClockSkew => "clock_skew",
            DropReason::Replayed => "replayed",
            DropReason::Expired => "expired",
            DropReason::Superseded => "superseded",
            DropReason::NotAccepted => "not_accepted",
            DropReason::Allowlisted => "allowlisted",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The link to the NATS servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// Never connected yet (the bus may be down: bans queue meanwhile).
    Connecting,
    Connected,
    /// Lost; the client reconnects by itself.
    Disconnected,
}

/// What this host has heard from one peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PeerStatus {
    /// Unix seconds at which the peer sealed its newest envelope seen here.
    pub last_event_at: u64,
    pub envelopes: u64,
    pub records: u64,
}

/// The version of a shared list this host holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListStatus {
    pub origin: String,
    pub version: u64,
    /// SHA-256 of the list's contents, hex.
    pub digest: String,
    pub ranges: usize,
}

/// A snapshot of the engine's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    pub host: String,
    pub connection: Connection,
    /// The server connected to, when connected.
    pub server: Option<String>,
    /// Unix seconds of the last connection change.
    pub connection_changed_at: u64,
    /// Whether the catch-up after start has been delivered.
    pub caught_up: bool,
    pub peers: BTreeMap<String, PeerStatus>,
    /// Milliseconds from a peer sealing its newest envelope to this host reading it.
    pub lag_ms: Option<u64>,
    /// Records (bans and lifts) this host published, and the envelopes carrying them.
    pub records_out: u64,
    pub envelopes_out: u64,
    /// Records waiting to be published (the bus is down or busy).
    pub queued: usize,
    /// Records thrown away because the queue was full while the bus was down.
    pub queue_dropped: u64,
    /// Records the bus refused to store, again and again, and that were given up.
    pub queue_refused: u64,
    /// Records received from peers (before filtering).
    pub records_in: u64,
    pub bans_delivered: u64,
    pub lifts_delivered: u64,
    pub dropped: BTreeMap<DropReason, u64>,
    pub lists: BTreeMap<String, ListStatus>,
    pub lists_out: u64,
    /// Times the sink returned an error.
    pub sink_errors: u64,
    /// Times the reader's watchdog found it stalled (the stream ahead, nothing read) and
    /// reopened it from the next message it needed.
    pub reader_reopens: u64,
    /// Times the watchdog dropped a connection that said it was up but answered nothing.
    pub forced_reconnects: u64,
    pub last_error: Option<String>,
}

impl Status {
    pub fn new(host: &str) -> Self {
        Status {
            host: host.to_string(),
            connection: Connection::Connecting,
            server: None,
            connection_changed_at: 0,
            caught_up: false,
            peers: BTreeMap::new(),
            lag_ms: None,
            records_out: 0,
            envelopes_out: 0,
            queued: 0,
            queue_dropped: 0,
            queue_refused: 0,
            records_in: 0,
            bans_delivered: 0,
            lifts_delivered: 0,
            dropped: BTreeMap::new(),
            lists: BTreeMap::new(),
            lists_out: 0,
            sink_errors: 0,
            reader_reopens: 0,
            forced_reconnects: 0,
            last_error: None,
        }
    }

    pub fn count_drop(&mut self, reason: DropReason, n: u64) {
        *self.dropped.entry(reason).or_default() += n;
    }

    /// How many were dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).copied().unwrap_or(0)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let conn = match self.connection {
            Connection::Connecting => "connecting".to_string(),
            Connection::Connected => {
                format!("connected to {}", self.server.as_deref().unwrap_or("?"))
            }
            Connection::Disconnected => "disconnected (reconnecting)".to_string(),
        };
        writeln!(f, "host {}: {conn}", self.host)?;
        writeln!(
            f,
            "caught up: {}   lag: {}",
            if self.caught_up { "yes" } else { "no" },
            self.lag_ms.map_or("-".to_string(), |ms| format!("{ms} ms"))
        )?;
        writeln!(
            f,
            "out: {} records in {} envelopes, {} queued, {} dropped (queue full), {} refused by the bus",
            self.records_out, self.envelopes_out, self.queued, self.queue_dropped, self.queue_refused
        )?;
        writeln!(
            f,
            "in: {} records, {} bans and {} lifts delivered, {} sink errors",
            self.records_in, self.bans_delivered, self.lifts_delivered, self.sink_errors
        )?;
        if !self.dropped.is_empty() {
            let parts: Vec<String> = self
                .dropped
                .iter()
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            writeln!(f, "dropped: {}", parts.join(", "))?;
        }
        if self.reader_reopens + self.forced_reconnects > 0 {
            writeln!(
                f,
                "watchdog: {} stalled reader reopens, {} forced reconnects",
                self.reader_reopens, self.forced_reconnects
            )?;
        }
        for (name, p) in &self.peers {
            writeln!(
                f,
                "peer {name}: last event at {} (unix), {} records in {} envelopes",
                p.last_event_at, p.records, p.envelopes
            )?;
        }
        for (name, l) in &self.lists {
            writeln!(
                f,
                "list {name}: version {} from {}, {} ranges, sha256 {}",
                l.version, l.origin, l.ranges, l.digest
            )?;
        }
        if let Some(e) = &self.last_error {
            writeln!(f, "last error: {e}")?;
        }
        Ok(())
    }
}
