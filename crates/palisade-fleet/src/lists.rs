//! Shared blocklists: publishing this host's lists and fetching the peers' current versions.
//!
//! The object store's watcher reports the current version of every list at start and each
//! new one after; a list this host accepts is fetched whole, checked like a ban envelope
//! (trusted origin, signature, newer version), trimmed of the allowlist and handed to the
//! sink. A version whose contents digest equals the one already held is skipped: the sink
//! only hears of real changes. Publishing skips unchanged contents the same way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::object_store::{ObjectInfo, ObjectStore};
use async_nats::jetstream::Context;
use ed25519_dalek::SigningKey;
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};

use crate::accept::Acceptance;
use crate::bus;
use crate::config::FleetConfig;
use crate::engine::{Shared, SinkCall};
use crate::list::{
    contents_digest, decode_list, seal_list, verify_list, ListContents, MAX_LIST_BYTES,
};
use crate::sink::SharedList;
use crate::status::{DropReason, ListStatus};

pub(crate) struct Lists {
    pub js: Context,
    pub config: Arc<FleetConfig>,
    pub key: SigningKey,
    pub shared: Arc<Shared>,
    pub acceptance: Acceptance,
    pub sink: mpsc::Sender<SinkCall>,
    pub stop: watch::Receiver<bool>,
}

/// The version and contents digest of each list this host holds or published.
type Held = HashMap<String, (u64, [u8; 32])>;

pub(crate) async fn run(mut l: Lists) {
    let mut held = Held::new();
    loop {
        if *l.stop.borrow() {
            return;
        }
        let store = match bus::list_bucket(&l.js, &l.config).await {
            Ok(s) => s,
            Err(e) => {
                l.shared.note_error(e);
                l.pause().await;
                continue;
            }
        };
        let mut watch = match store.watch_with_history().await {
            Ok(w) => w,
            Err(e) => {
                l.shared.note_error(format!("watching shared lists: {e}"));
                l.pause().await;
                continue;
            }
        };
        l.publish_waiting(&store, &mut held).await;
        loop {
            let retry = l.shared.outbox.waiting_lists().is_empty();
            tokio::select! {
                info = watch.next() => match info {
                    Some(Ok(info)) => l.fetch(&store, info, &mut held).await,
                    Some(Err(e)) => {
                        l.shared.note_error(format!("watching shared lists: {e}"));
                        break;
                    }
                    None => break,
                },
                _ = l.shared.outbox.wake_lists.notified() => l.publish_waiting(&store, &mut held).await,
                _ = tokio::time::sleep(Duration::from_secs(1)), if !retry => {
                    l.publish_waiting(&store, &mut held).await
                }
                _ = l.stop.changed() => return,
            }
        }
    }
}

impl Lists {
    async fn pause(&mut self) {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = self.stop.changed() => {}
        }
    }

    async fn publish_waiting(&mut self, store: &ObjectStore, held: &mut Held) {
        for (name, generation, list) in self.shared.outbox.waiting_lists() {
            let digest = contents_digest(&list.v4, &list.v6);
            if held.get(&name).is_some_and(|(_, d)| *d == digest) {
                self.shared.outbox.list_stored(&name, generation);
                continue;
            }
            let contents = ListContents {
                origin: self.config.host.clone(),
                name: name.clone(),
                version: self.shared.seq.next(),
                v4: list.v4,
                v6: list.v6,
            };
            let bytes = seal_list(&contents, &self.key);
            match store.put(name.as_str(), &mut bytes.as_slice()).await {
                Ok(_) => {
                    held.insert(name.clone(), (contents.version, digest));
                    self.shared.outbox.list_stored(&name, generation);
                    self.shared.status().lists_out += 1;
                }
                Err(e) => self
                    .shared
                    .note_error(format!("publishing list \"{name}\" (will retry): {e}")),
            }
        }
    }

    async fn fetch(&mut self, store: &ObjectStore, info: ObjectInfo, held: &mut Held) {
        let name = info.name.clone();
        let own_name = self.config.share_lists.contains(&name);
        if info.deleted || !(self.acceptance.takes_list(&name) || own_name) {
            return;
        }
        match self.read_verified(store, &info).await {
            Ok(Some((contents, digest))) => self.deliver(contents, digest, held).await,
            Ok(None) => {}
            Err(reason) => self.shared.status().count_drop(reason, 1),
        }
    }

    /// Fetch and check one list; `None` when fetching failed (noted, retried on the next
    /// version).
    async fn read_verified(
        &mut self,
        store: &ObjectStore,
        info: &ObjectInfo,
    ) -> Result<Option<(ListContents, [u8; 32])>, DropReason> {
        if info.size > MAX_LIST_BYTES {
            return Err(DropReason::Oversized);
        }
        let mut bytes = Vec::with_capacity(info.size);
        let read = match store.get(&info.name).await {
            Ok(object) => object
                .take(MAX_LIST_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = read {
            self.shared
                .note_error(format!("fetching list \"{}\": {e}", info.name));
            return Ok(None);
        }
        let decoded = decode_list(&bytes).map_err(|e| match e {
            crate::wire::WireError::TooLarge(_) => DropReason::Oversized,
            _ => DropReason::Malformed,
        })?;
        if decoded.list.name != info.name {
            return Err(DropReason::Malformed);
        }
        let origin = decoded.list.origin.as_str();
        let key = if origin == self.config.host {
            self.key.verifying_key()
        } else {
            *self.config.peers.get(origin).ok_or(DropReason::Untrusted)?
        };
        if !verify_list(&decoded, &key) {
            return Err(DropReason::BadSignature);
        }
        Ok(Some((decoded.list, decoded.digest)))
    }

    async fn deliver(&mut self, list: ListContents, digest: [u8; 32], held: &mut Held) {
        if let Some((version, held_digest)) = held.get(&list.name) {
            if *held_digest == digest {
                return; // unchanged
            }
            if *version >= list.version {
                self.shared.status().count_drop(DropReason::Replayed, 1);
                return;
            }
        }
        held.insert(list.name.clone(), (list.version, digest));
        if list.origin == self.config.host || !self.acceptance.takes_list(&list.name) {
            return;
        }
        let (v4, v6) = self.acceptance.trim_list(&list.v4, &list.v6);
        self.shared.status().lists.insert(
            list.name.clone(),
            ListStatus {
                origin: list.origin.clone(),
                version: list.version,
                digest: digest.iter().map(|b| format!("{b:02x}")).collect(),
                ranges: v4.len() + v6.len(),
            },
        );
        let _ = self
            .sink
            .send(SinkCall::List(SharedList {
                name: list.name,
                origin: list.origin,
                version: list.version,
                digest,
                v4,
                v6,
            }))
            .await;
    }
}
