//! Reading the ban stream: catch-up after start, then live delivery in batches.
//!
//! One ordered consumer reads the whole stream from its first message. Until it has read
//! everything there was (the server's `pending` count reaches 0), records only go into the
//! [`Ledger`]; then what is active is handed to the sink as one catch-up batch, and the
//! reader goes live. The client library recreates the consumer from the last message read
//! when the connection comes back, so after an outage only what was missed is read; that
//! backlog is also gathered into one batch (no batch limits until the reader is caught up).
//! Live, bans go through the [`Coalescer`].
//!
//! Every message passes the [`Gate`] first; every record the ledger, then the host's
//! [`Acceptance`] (kinds and allowlist). Nothing reaches the sink otherwise.
//!
//! A [`watchdog`] runs beside the reader because the library's consumer can hang without an
//! error when a cluster server dies (see [`crate::stall`]): every second it asks the stream
//! for its head; when the head stays ahead of what the reader read, with nothing read in
//! between, the reader drops its consumer and opens a new one from the next sequence it
//! needs. Nothing is lost (the new consumer starts right after the last message read) and
//! nothing is applied twice (a message read again is refused by the gate as a replay, and
//! the ledger ignores a record it holds). Probes that go unanswered on a connection that
//! says it is up make the client reconnect.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::connection::State as ConnState;
use async_nats::jetstream::consumer::{push, Consumer, DeliverPolicy};
use async_nats::jetstream::{Context, Message};
use async_nats::Client;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use crate::accept::Acceptance;
use crate::bus;
use crate::clock::{now_micros, now_secs};
use crate::coalesce::{set_remaining, Coalescer};
use crate::config::FleetConfig;
use crate::engine::{Shared, SinkCall};
use crate::gate::{Admission, Gate, BAN_SUBJECT_PREFIX, REPLAY_WINDOW_MICROS};
use crate::ledger::{Change, Ledger};
use crate::sink::{BanBatch, VerifiedBan, VerifiedLift};
use crate::stall::{self, StallWatch};
use crate::status::DropReason;
use crate::watchdog::{self, Probe};
use crate::wire::Envelope;

/// How often expired entries are pruned and own long bans re-announced.
const HOUSEKEEPING: Duration = Duration::from_secs(30);
/// After a reconnect, how long the reader keeps gathering a backlog while no message comes.
const RESUME_QUIET: Duration = Duration::from_secs(1);
/// How long a quick try to open the reader may take (see [`crate::stall::QUICK_OPENS`]):
/// a consumer is made in milliseconds when its server is alive.
const QUICK_OPEN: Duration = Duration::from_secs(1);
/// The pause between two tries to open the reader.
const OPEN_RETRY: Duration = Duration::from_millis(250);

pub(crate) enum Command {
    Forget(String),
}

pub(crate) struct Follower {
    pub js: Context,
    pub client: Client,
    pub config: Arc<FleetConfig>,
    pub shared: Arc<Shared>,
    pub gate: Gate,
    pub acceptance: Acceptance,
    pub sink: mpsc::Sender<SinkCall>,
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub reconnects: watch::Receiver<u64>,
    pub stop: watch::Receiver<bool>,
}

struct Reader {
    ledger: Ledger,
    coalescer: Coalescer,
    origins: HashMap<String, Arc<str>>,
    catching_up: bool,
    /// Set by a reconnect: gather the backlog until caught up.
    resuming: bool,
    /// More messages wait on the server (from the last message's `pending`).
    behind: bool,
    last_stream_seq: u64,
    last_message: Instant,
    started: Instant,
    stall: StallWatch,
    /// Tries to open the reader that failed in a row.
    failed_opens: u32,
}

impl Reader {
    fn origin(&mut self, name: &str) -> Arc<str> {
        self.origins
            .entry(name.to_string())
            .or_insert_with(|| Arc::from(name))
            .clone()
    }
}

pub(crate) async fn run(f: Follower) {
    let (heads_tx, heads) = watch::channel(Probe::Pending);
    let probes = watchdog::probe_heads(f.js.clone(), heads_tx, f.stop.clone());
    tokio::join!(probes, read(f, heads));
}

async fn read(mut f: Follower, mut heads: watch::Receiver<Probe>) {
    let mut r = Reader {
        ledger: Ledger::new(),
        coalescer: Coalescer::new(),
        origins: HashMap::new(),
        catching_up: true,
        resuming: false,
        behind: false,
        last_stream_seq: 0,
        last_message: Instant::now(),
        started: Instant::now(),
        stall: StallWatch::default(),
        failed_opens: 0,
    };
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
    loop {
        if *f.stop.borrow() {
            return;
        }
        let Some(mut messages) = f.open(&mut r).await else {
            tokio::select! {
                _ = tokio::time::sleep(OPEN_RETRY) => {}
                _ = f.stop.changed() => {}
            }
            continue;
        };
        if r.catching_up && !r.behind {
            // An empty stream: the catch-up is complete, and empty.
            f.deliver_catch_up(&mut r).await;
        }
        loop {
            let wake = r
                .coalescer
                .deadline()
                .map(|d| r.started + d)
                .unwrap_or_else(|| Instant::now() + RESUME_QUIET);
            tokio::select! {
                m = messages.next() => match m {
                    Some(Ok(msg)) => f.handle(&mut r, msg).await,
                    Some(Err(e)) => {
                        f.shared.note_error(format!("reading bans: {e}"));
                        break;
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
                Some(Command::Forget(origin)) = f.commands.recv() => {
                    r.ledger.forget(&origin);
                    r.coalescer.forget(&origin);
                    let _ = f.sink.send(SinkCall::Forget(origin)).await;
                }
                _ = f.reconnects.changed() => r.resuming = true,
                Ok(()) = heads.changed() => {
                    let probe = *heads.borrow_and_update();
                    let resume_at = r.last_stream_seq + 1;
                    if watchdog::judge(&mut r.stall, probe, &f.client, &f.shared, resume_at).await {
                        // Drop the stuck consumer; the next one starts where this one stopped.
                        r.resuming = true;
                        break;
                    }
                }
                _ = housekeeping.tick() => f.housekeeping(&mut r),
                _ = f.stop.changed() => return,
            }
            f.flush_if_due(&mut r).await;
        }
    }
}

impl Follower {
    /// Create the ordered consumer: from the start of the stream the first time, after the
    /// last message read when the library gave up on its own consumer or the watchdog on it.
    async fn open(&mut self, r: &mut Reader) -> Option<push::Ordered> {
        let (tries, wait) = stall::open_plan(r.failed_opens, QUICK_OPEN, bus::REQUEST_TIMEOUT);
        let racing = (0..tries).map(|_| Box::pin(self.create_consumer(r.last_stream_seq)));
        let created = tokio::time::timeout(wait, futures_util::future::select_ok(racing))
            .await
            .map(|won| won.map(|(created, _losers)| created))
            .unwrap_or_else(|_| {
                Err(format!(
                    "reading bans: creating the reader's consumer got no answer within {wait:?} (retrying)"
                ))
            });
        let (head, consumer) = match created {
            Ok(c) => {
                r.failed_opens = 0;
                c
            }
            Err(e) => {
                r.failed_opens += 1;
                self.shared.note_error(e);
                return None;
            }
        };
        let pending = consumer.cached_info().num_pending;
        r.behind = pending > 0;
        r.stall.reopened();
        if pending == 0 {
            // Nothing up to the head seen just before is owed (what is left is outside the
            // reader's filter): the watchdog must not wait for it.
            r.stall.settled_up_to(head);
        }
        match consumer.messages().await {
            Ok(m) => Some(m),
            Err(e) => {
                self.shared.note_error(format!("reading bans: {e}"));
                None
            }
        }
    }

    /// The stream's head just before, and a new consumer of it from after `read_up_to`.
    async fn create_consumer(
        &self,
        read_up_to: u64,
    ) -> Result<(u64, Consumer<push::OrderedConfig>), String> {
        let stream = bus::ban_stream(&self.js, &self.config).await?;
        let deliver_policy = match read_up_to {
            0 => DeliverPolicy::All,
            seq => DeliverPolicy::ByStartSequence {
                start_sequence: seq + 1,
            },
        };
        let consumer = stream
            .create_consumer(push::OrderedConfig {
                deliver_subject: self.client.new_inbox(),
                description: Some(bus::reader_description(&self.config.host)),
                filter_subject: format!("{BAN_SUBJECT_PREFIX}>"),
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| format!("reading bans: {e}"))?;
        Ok((stream.cached_info().state.last_sequence, consumer))
    }

    async fn handle(&mut self, r: &mut Reader, msg: Message) {
        let now_us = now_micros();
        let now = now_us / 1_000_000;
        r.last_message = Instant::now();
        match msg.info() {
            Ok(info) => {
                r.behind = info.pending > 0;
                r.last_stream_seq = info.stream_sequence;
                r.stall.settled_up_to(info.stream_sequence);
            }
            Err(_) => r.behind = false,
        }
        match self.gate.admit(msg.subject.as_str(), &msg.payload, now_us) {
            Admission::Dropped(reason) => self.shared.status().count_drop(reason, 1),
            Admission::Own(env) => {
                self.shared.seq.raise_floor(env.seq);
                let origin = r.origin(&env.origin);
                for (i, rec) in env.records.into_iter().enumerate() {
                    r.ledger.record(&origin, (env.seq, i as u16), rec, now);
                }
            }
            Admission::Peer(env) => self.peer_envelope(r, env, now_us),
        }
        if !r.behind {
            r.resuming = false;
        }
        if r.catching_up && !r.behind {
            self.deliver_catch_up(r).await;
        }
    }

    fn peer_envelope(&mut self, r: &mut Reader, env: Envelope, now_us: u64) {
        let now = now_us / 1_000_000;
        let origin = r.origin(&env.origin);
        let live = !r.catching_up;
        {
            let mut st = self.shared.status();
            st.records_in += env.records.len() as u64;
            let peer = st.peers.entry(env.origin.clone()).or_default();
            peer.envelopes += 1;
            peer.records += env.records.len() as u64;
            peer.last_event_at = peer.last_event_at.max(env.seq / 1_000_000);
            if live {
                st.lag_ms = Some(now_us.saturating_sub(env.seq) / 1000);
            }
        }
        let mono = r.started.elapsed();
        let mut drops: Vec<DropReason> = Vec::new();
        for (i, rec) in env.records.into_iter().enumerate() {
            let target = rec.target();
            match r.ledger.record(&origin, (env.seq, i as u16), rec, now) {
                // While catching up, what is active at the end is delivered from the ledger.
                Change::Banned(_) | Change::Lifted(_) if !live => {}
                Change::Banned(held) => match self.acceptance.refuse(held.source, target) {
                    Some(reason) => drops.push(reason),
                    None => r.coalescer.push_ban(
                        VerifiedBan {
                            origin: env.origin.clone(),
                            target,
                            source: held.source,
                            expires: held.expires,
                            remaining: None,
                            reason: held.reason,
                            issued_at: held.seq / 1_000_000,
                        },
                        mono,
                    ),
                },
                Change::Lifted(source) => {
                    if self.acceptance.refuse(source, target).is_none() {
                        r.coalescer.push_lift(
                            VerifiedLift {
                                origin: env.origin.clone(),
                                target,
                                source,
                            },
                            mono,
                        );
                    }
                }
                Change::Nothing => {}
                Change::Dropped(reason) => drops.push(reason),
            }
        }
        if !drops.is_empty() {
            let mut st = self.shared.status();
            for d in drops {
                st.count_drop(d, 1);
            }
        }
    }

    /// Hand the sink every active peer ban, as one batch.
    async fn deliver_catch_up(&mut self, r: &mut Reader) {
        let now = now_secs();
        let mut bans = Vec::new();
        let mut drops: Vec<DropReason> = Vec::new();
        for (origin, target, held) in r.ledger.active(now) {
            if **origin == *self.config.host {
                continue;
            }
            if let Some(reason) = self.acceptance.refuse(held.source, target) {
                drops.push(reason);
                continue;
            }
            let mut ban = VerifiedBan {
                origin: origin.to_string(),
                target,
                source: held.source,
                expires: held.expires,
                remaining: None,
                reason: held.reason.clone(),
                issued_at: held.seq / 1_000_000,
            };
            if set_remaining(&mut ban, now) {
                bans.push(ban);
            }
        }
        {
            let mut st = self.shared.status();
            for d in drops {
                st.count_drop(d, 1);
            }
            st.caught_up = true;
        }
        r.catching_up = false;
        r.resuming = false;
        let _ = self
            .sink
            .send(SinkCall::Apply(BanBatch {
                bans,
                catch_up: true,
            }))
            .await;
    }

    async fn flush_if_due(&mut self, r: &mut Reader) {
        if r.catching_up {
            return;
        }
        let quiet = r.last_message.elapsed() >= RESUME_QUIET;
        let unlimited = r.resuming && !quiet;
        let behind = r.behind && !quiet;
        if !r.coalescer.due(r.started.elapsed(), behind, unlimited) {
            return;
        }
        let flush = r.coalescer.take(now_secs());
        if flush.expired > 0 {
            self.shared
                .status()
                .count_drop(DropReason::Expired, flush.expired);
        }
        if !flush.lifts.is_empty() {
            let _ = self.sink.send(SinkCall::Lift(flush.lifts)).await;
        }
        if !flush.bans.is_empty() {
            let _ = self
                .sink
                .send(SinkCall::Apply(BanBatch {
                    bans: flush.bans,
                    catch_up: false,
                }))
                .await;
        }
    }

    fn housekeeping(&mut self, r: &mut Reader) {
        let now_us = now_micros();
        let now = now_us / 1_000_000;
        r.ledger
            .prune(now, now_us.saturating_sub(REPLAY_WINDOW_MICROS));
        // Re-announce own long bans, once the whole history has been read (else the newest
        // copy may not have been seen yet) and while the bus is reachable (else the same
        // records would pile up in the queue every round).
        if r.catching_up
            || self.client.connection_state() != ConnState::Connected
            || self.shared.outbox.has_records()
        {
            return;
        }
        let due = r
            .ledger
            .due_for_refresh(&self.config.host, now, self.config.retention);
        self.shared.outbox.push_many(due);
    }
}
