//! `palisade fleet keygen`, `nkey`, `status` and `forget`: the subcommands around the daemon.

use anyhow::{bail, Context, Result};
use palisade_core::Contents;
use palisade_fleet::wire::valid_origin;
use palisade_fleet::{generate_key_file, public_key_of};

use super::holdings::comment_origin;
use super::status_file::StatusFile;
use super::{FleetPaths, FLEET_SET};
use crate::cli::{KeygenArgs, NkeyArgs};
use crate::netns::Namespace;
use crate::state::StateDir;
use crate::store::{Store, StoreError};

/// This machine's host name up to its first dot: the default name on the bus.
fn short_hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into a buffer we own.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?;
    name.split('.').next().map(str::to_string)
}

/// `palisade fleet keygen`: a new signing key (never overwriting one), or with `--public`
/// the public key of the existing one. The public key goes to stdout alone, for scripts; the
/// line to paste into the peers' `[fleet.peers]` to stderr.
pub fn keygen(a: &KeygenArgs) -> Result<i32> {
    let public = if a.public {
        public_key_of(&a.key_file)?
    } else {
        let host = match &a.host {
            Some(h) => h.clone(),
            None => short_hostname()
                .context("cannot read this machine's host name; give --host NAME")?,
        };
        if !valid_origin(&host) {
            bail!("`{host}`: a fleet host name is letters, digits, `-` and `_`, at most 64 characters; give --host NAME");
        }
        let public = generate_key_file(&a.key_file, &host)?;
        eprintln!(
            "wrote the signing key of host {host} to {} (mode 0600). Set key_file = \"{}\" and \
             host = \"{host}\" in [fleet], and add this line to [fleet.peers] on every other \
             host:\n  {host} = \"{public}\"",
            a.key_file.display(),
            a.key_file.display()
        );
        public
    };
    println!("{public}");
    Ok(0)
}

/// `palisade fleet nkey`: a NATS user NKey for this host (Debian ships no tool that makes
/// one), written like the signing key: mode 0600, never over an existing file. Its public
/// key (`U...`) goes to stdout, for the servers' `authorization { users: [...] }`.
pub fn nkey(a: &NkeyArgs) -> Result<i32> {
    let path = &a.nkey_file;
    let public = if a.public {
        let seed = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the NKey {}", path.display()))?;
        nkeys::KeyPair::from_seed(seed.trim())
            .map_err(|e| anyhow::anyhow!("{}: not an NKey seed: {e}", path.display()))?
            .public_key()
    } else {
        let pair = nkeys::KeyPair::new_user();
        let seed = pair
            .seed()
            .map_err(|e| anyhow::anyhow!("cannot encode the NKey: {e}"))?;
        write_secret(path, &format!("{seed}\n"))?;
        eprintln!(
            "wrote a NATS NKey to {} (mode 0600); set nkey_file = \"{}\" in [fleet] and give \
             the servers this host's public key (see FLEET.md, permissions)",
            path.display(),
            path.display()
        );
        pair.public_key()
    };
    println!("{public}");
    Ok(0)
}

/// Create `path` with `text`, readable by root only; an existing file is an error.
fn write_secret(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create {} (an existing key is never overwritten: remove it first, then \
                 update the servers' authorization)",
                path.display()
            )
        })?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `palisade fleet status`: what the running daemon last wrote; exit code 1 if it is not
/// running.
pub fn status(ns: &Namespace, json: bool) -> Result<i32> {
    let paths = FleetPaths::new(&StateDir::for_namespace(ns)?);
    let file = StatusFile::read(&paths.status)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&file.to_json())?);
    } else {
        print!("{}", file.render());
    }
    Ok(if file.running() { 0 } else { 1 })
}

/// The addresses of the `fleet` set whose element names `origin` as the peer that bans it
/// longest.
fn elements_of(store: &mut Store, origin: &str) -> Result<Vec<palisade_core::AddrRange>> {
    let held = match store.held(FLEET_SET) {
        Ok(h) => h,
        Err(StoreError::NoSuchSet(_)) => return Ok(Vec::new()),
        Err(StoreError::Kernel(e)) if e.errno() == Some(libc::ENOENT) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    Ok(held
        .into_timed()
        .into_iter()
        .filter(|t| t.comment.as_deref().and_then(comment_origin) == Some(origin))
        .map(|t| t.addr)
        .collect())
}

/// `palisade fleet forget HOST`: HOST's bans out of the kernel now, and the running daemon
/// told to drop everything HOST sent (it puts back the addresses another peer also bans).
pub fn forget(ns: &Namespace, host: &str) -> Result<i32> {
    if !valid_origin(host) {
        bail!("`{host}` is not a fleet host name (letters, digits, `-` and `_`)");
    }
    let state = StateDir::for_namespace(ns)?;
    let paths = FleetPaths::new(&state);
    // Recorded first: whatever happens next, the daemon keeps HOST's bans out from its next
    // start on (its catch-up would otherwise bring them back).
    super::forgotten::record(&paths.forgotten, host, super::now())?;
    let mut store =
        Store::new(ns.netlink()?, Some(state.sets())).with_observer(crate::xdp::observer(ns));
    let targets = elements_of(&mut store, host)?;
    if !targets.is_empty() {
        let def = store.get(FLEET_SET)?;
        store.del(
            &def,
            &Contents::from_ranges(targets.iter().map(|t| (*t, None))),
        )?;
    }
    println!(
        "removed {} bans from {host} out of set {FLEET_SET}",
        targets.len()
    );
    if StatusFile::read(&paths.status).is_ok_and(|s| s.running()) {
        paths.forget_queue().push(host).with_context(|| {
            format!("cannot tell the fleet daemon ({})", paths.forget.display())
        })?;
        println!("the fleet daemon drops the rest of what {host} sent, and keeps addresses other peers also ban");
    }
    println!(
        "bans {host} issued until now stay out, also after the fleet daemon restarts; its new          bans are applied: to stop trusting {host}, remove it from [fleet.peers] and restart          the daemon"
    );
    Ok(0)
}
