//! [`Fleet`]: the engine as a synchronous caller sees it.
//!
//! `Fleet::start` returns at once. Behind it run two threads: the network thread, with a
//! single-threaded tokio runtime (the client is async; one thread is plenty for it and
//! keeps the daemon's footprint small on 2-core machines), and the sink thread, which
//! calls the caller's [`FleetSink`] so a slow kernel transaction never stalls the network.
//! The handle publishes ([`Fleet::publisher`]), reports ([`Fleet::status`]), forgets an
//! origin, and stops both threads when dropped.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::sync::{mpsc, watch};

use crate::accept::Acceptance;
use crate::bus;
use crate::clock::SeqClock;
use crate::config::FleetConfig;
use crate::follow::{self, Command};
use crate::gate::Gate;
use crate::keyfile::{load_key_file, KeyFileError};
use crate::lists;
use crate::outbox::{Outbox, Publisher};
use crate::publish;
use crate::sink::{BanBatch, FleetSink, SharedList, VerifiedLift};
use crate::status::Status;

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("fleet signing key: {0}")]
    Key(#[from] KeyFileError),
    #[error("NATS credentials {path}: {message}")]
    Auth { path: PathBuf, message: String },
    #[error("NATS: {0}")]
    Connect(String),
    #[error("cannot start the fleet thread: {0}")]
    Thread(std::io::Error),
}

/// State shared by the handle and the threads.
pub(crate) struct Shared {
    status: Mutex<Status>,
    pub outbox: Arc<Outbox>,
    pub seq: SeqClock,
}

impl Shared {
    pub fn status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn note_error(&self, message: String) {
        self.status().last_error = Some(message);
    }
}

/// What the sink thread is asked to do, in order.
pub(crate) enum SinkCall {
    Apply(BanBatch),
    Lift(Vec<VerifiedLift>),
    Forget(String),
    List(SharedList),
}

/// A running fleet engine.
pub struct Fleet {
    shared: Arc<Shared>,
    publisher: Publisher,
    commands: mpsc::UnboundedSender<Command>,
    stop: watch::Sender<bool>,
    network: Option<JoinHandle<()>>,
    sink: Option<JoinHandle<()>>,
}

impl Fleet {
    /// Start with the signing key from `config.key_file`.
    pub fn start(config: FleetConfig, sink: impl FleetSink) -> Result<Fleet, FleetError> {
        let key = load_key_file(&config.key_file)?;
        Self::start_with_key(config, key, sink)
    }

    /// Start with a key in hand (tests, benchmarks).
    pub fn start_with_key(
        config: FleetConfig,
        key: SigningKey,
        sink: impl FleetSink,
    ) -> Result<Fleet, FleetError> {
        let outbox = Arc::new(Outbox::new(config.queue));
        let shared = Arc::new(Shared {
            status: Mutex::new(Status::new(&config.host)),
            outbox: outbox.clone(),
            seq: SeqClock::default(),
        });
        let publisher = Publisher {
            outbox,
            share_bans: config.share_bans.clone(),
            share_lists: config.share_lists.clone(),
        };
        let (sink_tx, sink_rx) = mpsc::channel(8);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);

        let sink_shared = shared.clone();
        let sink = std::thread::Builder::new()
            .name("palisade-fleet-sink".into())
            .spawn(move || run_sink(sink, sink_rx, &sink_shared))
            .map_err(FleetError::Thread)?;
        let net_shared = shared.clone();
        let network = std::thread::Builder::new()
            .name("palisade-fleet".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => return net_shared.note_error(format!("tokio runtime: {e}")),
                };
                runtime.block_on(run_network(
                    config,
                    key,
                    net_shared,
                    sink_tx,
                    commands_rx,
                    stop_rx,
                ));
            })
            .map_err(FleetError::Thread)?;
        Ok(Fleet {
            shared,
            publisher,
            commands,
            stop,
            network: Some(network),
            sink: Some(sink),
        })
    }

    /// A handle to share bans and lists, for any thread.
    pub fn publisher(&self) -> Publisher {
        self.publisher.clone()
    }

    pub fn status(&self) -> Status {
        let mut st = self.shared.status().clone();
        (st.queued, st.queue_dropped) = self.shared.outbox.counts();
        st
    }

    /// Drop everything `origin` sent: the sink's `forget` is called (after any batch
    /// already on its way), and bans from it still waiting in a batch are discarded.
    pub fn forget(&self, origin: &str) {
        let _ = self.commands.send(Command::Forget(origin.to_string()));
    }

    /// Stop, giving queued bans up to `grace` to reach the bus.
    pub fn stop(mut self, grace: Duration) {
        let deadline = std::time::Instant::now() + grace;
        while self.shared.outbox.has_work() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.network.take() {
            let _ = t.join();
        }
        if let Some(t) = self.sink.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn run_network(
    config: FleetConfig,
    key: SigningKey,
    shared: Arc<Shared>,
    sink: mpsc::Sender<SinkCall>,
    commands: mpsc::UnboundedReceiver<Command>,
    stop: watch::Receiver<bool>,
) {
    let (reconnects_tx, reconnects) = watch::channel(0u64);
    let client = match bus::connect(&config, shared.clone(), reconnects_tx).await {
        Ok(c) => c,
        Err(e) => return shared.note_error(e.to_string()),
    };
    let js = bus::jetstream(client.clone());
    let peers = config.peers.clone().into_iter().collect();
    let gate = Gate::new(&config.host, key.verifying_key(), peers);
    let acceptance = Acceptance::new(
        config.accept_bans.clone(),
        config.accept_lists.clone(),
        &config.allow,
    );
    let config = Arc::new(config);
    tokio::join!(
        note_server(
            client.clone(),
            shared.clone(),
            reconnects.clone(),
            stop.clone()
        ),
        publish::run(
            js.clone(),
            client.clone(),
            config.clone(),
            key.clone(),
            shared.clone(),
            stop.clone(),
        ),
        follow::run(follow::Follower {
            js: js.clone(),
            client: client.clone(),
            config: config.clone(),
            shared: shared.clone(),
            gate,
            acceptance: acceptance.clone(),
            sink: sink.clone(),
            commands,
            reconnects,
            stop: stop.clone(),
        }),
        lists::run(lists::Lists {
            js,
            config,
            key,
            shared,
            acceptance,
            sink,
            stop,
        }),
    );
    let _ = client.flush().await;
}

/// Keep the status's server name current: it changes when the client fails over.
async fn note_server(
    client: async_nats::Client,
    shared: Arc<Shared>,
    mut reconnects: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            r = reconnects.changed() => if r.is_err() { return },
            _ = stop.changed() => return,
        }
        let info = client.server_info();
        shared.status().server = Some(format!(
            "{} ({}:{})",
            info.server_name, info.host, info.port
        ));
    }
}

fn run_sink(mut sink: impl FleetSink, mut calls: mpsc::Receiver<SinkCall>, shared: &Shared) {
    while let Some(call) = calls.blocking_recv() {
        let (result, what) = match call {
            SinkCall::Apply(batch) => {
                let n = batch.bans.len() as u64;
                let r = sink.apply(batch);
                if r.is_ok() {
                    shared.status().bans_delivered += n;
                }
                (r, "applying bans")
            }
            SinkCall::Lift(lifts) => {
                let n = lifts.len() as u64;
                let r = sink.lift(lifts);
                if r.is_ok() {
                    shared.status().lifts_delivered += n;
                }
                (r, "lifting bans")
            }
            SinkCall::Forget(origin) => (sink.forget(&origin), "forgetting an origin"),
            SinkCall::List(list) => (sink.load_list(list), "loading a shared list"),
        };
        if let Err(e) = result {
            let mut st = shared.status();
            st.sink_errors += 1;
            st.last_error = Some(format!("{what}: {e}"));
        }
    }
}
