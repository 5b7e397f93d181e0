//! The network side of publishing: seal waiting records into envelopes and put them on the
//! bus, keeping order and losing nothing across outages.
//!
//! While the client is not connected nothing is sent (records wait in the outbox). Once
//! connected, up to [`IN_FLIGHT`] envelopes are sent back to back and their
//! acknowledgements awaited. An envelope whose acknowledgement does not come is kept, byte
//! for byte, and sent again first when the connection is back, with the same message id,
//! so JetStream's duplicate window stores it once even if the first copy did arrive.
//! A lone ban goes out at once; under load, records gather while acknowledgements are
//! awaited and the next envelopes come out full.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::Context;
use async_nats::Client;
use bytes::Bytes;
use ed25519_dalek::SigningKey;
use tokio::sync::watch;

use crate::config::FleetConfig;
use crate::engine::Shared;
use crate::gate::ban_subject;
use crate::wire::{seal, Envelope};

/// Envelopes sent before waiting for their acknowledgements.
pub const IN_FLIGHT: usize = 32;

/// Times the server may refuse an envelope outright (not a timeout or a lost connection)
/// before it is given up, so one envelope it will never take cannot hold up the rest.
pub const MAX_REFUSALS: u32 = 3;

/// An envelope ready to send (or to send again).
struct Sealed {
    bytes: Bytes,
    id: String,
    records: u64,
    refusals: u32,
}

pub(crate) async fn run(
    js: Context,
    client: Client,
    config: Arc<FleetConfig>,
    key: SigningKey,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let subject = ban_subject(&config.host);
    let mut unacked: VecDeque<Sealed> = VecDeque::new();
    loop {
        if *stop.borrow() {
            return;
        }
        if unacked.is_empty() && !shared.outbox.has_records() {
            tokio::select! {
                _ = shared.outbox.wake.notified() => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        if client.connection_state() != State::Connected {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stop.changed() => {}
            }
            continue;
        }
        let mut batch: Vec<Sealed> = unacked.drain(..).collect();
        while batch.len() < IN_FLIGHT {
            let records = shared.outbox.take_envelope(&config.host);
            if records.is_empty() {
                break;
            }
            let envelope = Envelope {
                origin: config.host.clone(),
                seq: shared.seq.next(),
                records,
            };
            batch.push(Sealed {
                bytes: Bytes::from(seal(&envelope, &key)),
                id: format!("{}-{}", envelope.origin, envelope.seq),
                records: envelope.records.len() as u64,
                refusals: 0,
            });
        }
        let mut acks: Vec<Option<PublishAckFuture>> = Vec::with_capacity(batch.len());
        for s in &batch {
            let msg = PublishMessage::build()
                .payload(s.bytes.clone())
                .message_id(&s.id);
            match js.send_publish(subject.clone(), msg).await {
                Ok(ack) => acks.push(Some(ack)),
                Err(e) => {
                    shared.note_error(format!("publishing bans: {e}"));
                    acks.push(None);
                }
            }
        }
        for (mut sealed, ack) in batch.into_iter().zip(acks) {
            let result = match ack {
                Some(ack) => ack.await.map_err(|e| {
                    if e.kind() == PublishErrorKind::Other {
                        sealed.refusals += 1;
                    }
                    e.to_string()
                }),
                None => Err("not sent".to_string()),
            };
            match result {
                Ok(_) => {
                    shared.outbox.mark_sent(sealed.records);
                    let mut st = shared.status();
                    st.records_out += sealed.records;
                    st.envelopes_out += 1;
                }
                Err(e) if sealed.refusals >= MAX_REFUSALS => {
                    shared.outbox.mark_sent(sealed.records);
                    let mut st = shared.status();
                    st.queue_refused += sealed.records;
                    st.last_error = Some(format!(
                        "the bus refused {} bans {MAX_REFUSALS} times, giving them up: {e}",
                        sealed.records
                    ));
                }
                Err(e) => {
                    shared.note_error(format!("publishing bans (will retry): {e}"));
                    unacked.push_back(sealed);
                }
            }
        }
        if !unacked.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
