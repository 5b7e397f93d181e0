//! `[fleet]` in palisade.toml, validated into a [`FleetConfig`].
//!
//! The table lives in the same file as the firewall policy (which only checks that it is a
//! table) and is read here from the same text, the way `palisade-watch` reads `[jails.*]`:
//! every error names the file, the line and the key (`palisade.toml:7: fleet.peers.web2:
//! ...`) and says what to write instead.
//!
//! ```toml
//! [fleet]
//! host = "web1"                          # this host's name on the bus
//! servers = ["nats://10.0.0.5:4222", "nats://10.0.0.6:4222"]
//! key_file = "/etc/palisade/fleet.key"   # `palisade fleet keygen` writes it
//! nkey_file = "/etc/palisade/nats.nk"    # or creds_file = "...": NATS authentication
//! tls_ca = "/etc/palisade/nats-ca.pem"   # verify the servers' TLS certificates
//! allow = ["192.0.2.10"]                 # never take a ban on these (loopback always)
//! retention = "7d"                       # how long the bus keeps bans
//! replicas = 3                           # JetStream copies, when palisade creates the stream
//! queue = 100000                         # bans held while the bus is unreachable
//!
//! [fleet.share]                          # what this host sends
//! bans = ["watch", "manual", "flood"]
//! lists = ["spamhaus-drop"]
//!
//! [fleet.accept]                         # what this host takes
//! bans = ["watch", "manual"]
//! lists = ["spamhaus-drop"]
//!
//! [fleet.peers]                          # who may speak for which host
//! web2 = "ed25519:..."
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use ed25519_dalek::VerifyingKey;
use palisade_core::policy::ConfigError;
use palisade_core::ConfigText;
use palisade_core::{parse_addr_range, AddrRange};
use serde::Deserialize;
use toml::Spanned;

use crate::keys::parse_public_key;
use crate::wire::{valid_origin, BanSource};

pub const DEFAULT_RETENTION: u64 = 7 * 86400;
pub const DEFAULT_QUEUE: usize = 100_000;

/// How palisade proves itself to the NATS servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NatsAuth {
    /// The servers allow anonymous clients (a private network, or TLS client certs).
    None,
    /// A file holding an NKey seed (`SU...`).
    NkeyFile(PathBuf),
    /// A `.creds` file (JWT and seed) as `nsc` writes it.
    CredsFile(PathBuf),
}

#[derive(Clone, Debug)]
pub struct FleetConfig {
    pub host: String,
    pub servers: Vec<String>,
    pub key_file: PathBuf,
    pub auth: NatsAuth,
    pub tls_ca: Option<PathBuf>,
    pub peers: BTreeMap<String, VerifyingKey>,
    pub share_bans: BTreeSet<BanSource>,
    pub share_lists: BTreeSet<String>,
    pub accept_bans: BTreeSet<BanSource>,
    pub accept_lists: BTreeSet<String>,
    pub allow: Vec<AddrRange>,
    /// Seconds the bus keeps a ban (the stream's max_age); longer bans are re-announced.
    pub retention: u64,
    pub replicas: usize,
    pub queue: usize,
}

#[derive(Deserialize)]
struct RawFile {
    fleet: Option<Spanned<RawFleet>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    host: Option<Spanned<String>>,
    servers: Option<Spanned<Vec<Spanned<String>>>>,
    key_file: Option<Spanned<String>>,
    nkey_file: Option<Spanned<String>>,
    creds_file: Option<Spanned<String>>,
    tls_ca: Option<Spanned<String>>,
    #[serde(default)]
    allow: Vec<Spanned<String>>,
    retention: Option<Spanned<toml::Value>>,
    replicas: Option<Spanned<i64>>,
    queue: Option<Spanned<i64>>,
    share: Option<Spanned<RawKinds>>,
    accept: Option<Spanned<RawKinds>>,
    #[serde(default)]
    peers: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKinds {
    bans: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    lists: Vec<Spanned<String>>,
}

type Span = std::ops::Range<usize>;

struct Reader<'a> {
    file: &'a str,
    text: &'a str,
}

impl Reader<'_> {
    fn error(&self, span: Span, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, self.text, span.start, key, message)
    }

    fn path(&self, v: &Spanned<String>, key: &str) -> Result<PathBuf, ConfigError> {
        if !v.get_ref().starts_with('/') {
            return Err(self.error(v.span(), key, "expected an absolute path"));
        }
        Ok(PathBuf::from(v.get_ref()))
    }
}

/// Read `[fleet]` from the config text. `Ok(None)` when there is no such table (the host is
/// not in a fleet).
pub fn parse_fleet_config(file: &str, text: &str) -> Result<Option<FleetConfig>, ConfigError> {
    let r = Reader { file, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, &e))?;
    let Some(fleet) = raw.fleet else {
        return Ok(None);
    };
    let at = fleet.span();
    let f = fleet.into_inner();

    let host = f.host.ok_or_else(|| {
        r.error(
            at.clone(),
            "fleet.host",
            "missing: this host's name on the bus, e.g. host = \"web1\"",
        )
    })?;
    if !valid_origin(host.get_ref()) {
        return Err(r.error(
            host.span(),
            "fleet.host",
            "a host name is letters, digits, `-` and `_`, at most 64 characters",
        ));
    }
    let servers = read_servers(&r, f.servers, &at)?;
    let key_file = f.key_file.ok_or_else(|| {
        r.error(
            at.clone(),
            "fleet.key_file",
            "missing: the file with this host's signing key (create it with `palisade fleet keygen`)",
        )
    })?;
    let key_file = r.path(&key_file, "fleet.key_file")?;
    let auth = match (f.nkey_file, f.creds_file) {
        (Some(n), Some(_)) => {
            return Err(r.error(
                n.span(),
                "fleet.nkey_file",
                "give nkey_file or creds_file, not both",
            ))
        }
        (Some(n), None) => NatsAuth::NkeyFile(r.path(&n, "fleet.nkey_file")?),
        (None, Some(c)) => NatsAuth::CredsFile(r.path(&c, "fleet.creds_file")?),
        (None, None) => NatsAuth::None,
    };
    let tls_ca = f.tls_ca.map(|c| r.path(&c, "fleet.tls_ca")).transpose()?;

    let mut allow = Vec::new();
    for (i, a) in f.allow.iter().enumerate() {
        allow.push(
            parse_addr_range(a.get_ref(), false)
                .map_err(|p| r.error(a.span(), &format!("fleet.allow[{i}]"), p.to_string()))?,
        );
    }
    let retention = match &f.retention {
        None => DEFAULT_RETENTION,
        Some(v) => read_seconds(&r, v, "fleet.retention")?,
    };
    if retention < 3600 {
        let span = f.retention.as_ref().map_or(at.clone(), |v| v.span());
        return Err(r.error(span, "fleet.retention", "must be at least 1h"));
    }
    let replicas = read_count(&r, f.replicas.as_ref(), "fleet.replicas", 1, 1..=5)?;
    let queue = read_count(
        &r,
        f.queue.as_ref(),
        "fleet.queue",
        DEFAULT_QUEUE,
        1..=10_000_000,
    )?;

    let (share_bans, share_lists) = read_kinds(&r, f.share, "fleet.share")?;
    let (accept_bans, accept_lists) = read_kinds(&r, f.accept, "fleet.accept")?;

    let mut peers = BTreeMap::new();
    for (name, key) in &f.peers {
        let k = format!("fleet.peers.{name}");
        if !valid_origin(name) {
            return Err(r.error(
                key.span(),
                &k,
                "a host name is letters, digits, `-` and `_`, at most 64 characters",
            ));
        }
        let vk =
            parse_public_key(key.get_ref()).map_err(|e| r.error(key.span(), &k, e.to_string()))?;
        peers.insert(name.clone(), vk);
    }
    Ok(Some(FleetConfig {
        host: host.into_inner(),
        servers,
        key_file,
        auth,
        tls_ca,
        peers,
        share_bans,
        share_lists,
        accept_bans,
        accept_lists,
        allow,
        retention,
        replicas,
        queue,
    }))
}

fn read_servers(
    r: &Reader<'_>,
    servers: Option<Spanned<Vec<Spanned<String>>>>,
    at: &Span,
) -> Result<Vec<String>, ConfigError> {
    let Some(servers) = servers else {
        return Err(r.error(
            at.clone(),
            "fleet.servers",
            "missing: the NATS servers, e.g. servers = [\"nats://10.0.0.5:4222\"]",
        ));
    };
    if servers.get_ref().is_empty() {
        return Err(r.error(servers.span(), "fleet.servers", "needs at least one server"));
    }
    let mut out = Vec::new();
    for (i, s) in servers.get_ref().iter().enumerate() {
        s.get_ref().parse::<async_nats::ServerAddr>().map_err(|e| {
            r.error(
                s.span(),
                &format!("fleet.servers[{i}]"),
                format!(
                    "`{}`: {e} (expected nats://HOST:PORT or tls://HOST:PORT)",
                    s.get_ref()
                ),
            )
        })?;
        out.push(s.get_ref().clone());
    }
    Ok(out)
}

/// `bans` defaults to every kind; `lists` to none.
fn read_kinds(
    r: &Reader<'_>,
    kinds: Option<Spanned<RawKinds>>,
    key: &str,
) -> Result<(BTreeSet<BanSource>, BTreeSet<String>), ConfigError> {
    let Some(kinds) = kinds.map(Spanned::into_inner) else {
        return Ok((BanSource::ALL.into(), BTreeSet::new()));
    };
    let bans = match kinds.bans {
        None => BanSource::ALL.into(),
        Some(list) => {
            let mut out = BTreeSet::new();
            for (i, b) in list.iter().enumerate() {
                out.insert(BanSource::from_name(b.get_ref()).ok_or_else(|| {
                    r.error(
                        b.span(),
                        &format!("{key}.bans[{i}]"),
                        format!(
                            "`{}` is not a kind of ban: use watch, manual or flood",
                            b.get_ref()
                        ),
                    )
                })?);
            }
            out
        }
    };
    let mut lists = BTreeSet::new();
    for (i, l) in kinds.lists.iter().enumerate() {
        if !valid_origin(l.get_ref()) {
            return Err(r.error(
                l.span(),
                &format!("{key}.lists[{i}]"),
                "a list name is letters, digits, `-` and `_`, at most 64 characters",
            ));
        }
        lists.insert(l.get_ref().clone());
    }
    Ok((bans, lists))
}

fn read_seconds(r: &Reader<'_>, v: &Spanned<toml::Value>, key: &str) -> Result<u64, ConfigError> {
    ConfigText::new(r.file, r.text).seconds(v, key)
}

fn read_count(
    r: &Reader<'_>,
    v: Option<&Spanned<i64>>,
    key: &str,
    default: usize,
    range: std::ops::RangeInclusive<usize>,
) -> Result<usize, ConfigError> {
    let Some(v) = v else {
        return Ok(default);
    };
    usize::try_from(*v.get_ref())
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            r.error(
                v.span(),
                key,
                format!(
                    "expected a number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        })
}

#[cfg(test)]
mod tests;
