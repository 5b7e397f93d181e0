//! Which network namespace a command works in, and the netlink socket into it.
//!
//! By default palisade works in its own namespace; `--netns NAME` names one made by
//! `ip netns add` (`/run/netns/NAME`). Whether that is the root namespace decides where its
//! state lives (see [`crate::state`]): the root namespace is init's (`/proc/1/ns/net`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use palisade_nft::Netlink;

/// The network namespace a command works in.
#[derive(Clone, Debug, Default)]
pub struct Namespace {
    /// `--netns NAME`; `None`: the namespace palisade runs in.
    pub name: Option<String>,
}

impl Namespace {
    pub fn new(name: Option<String>) -> Self {
        Self { name }
    }

    /// The namespace file: `/run/netns/NAME`, or this process's own.
    pub fn file(&self) -> PathBuf {
        match &self.name {
            Some(name) => Path::new("/run/netns").join(name),
            None => "/proc/self/ns/net".into(),
        }
    }

    /// The file of a namespace given with `--netns`, if one was.
    pub fn named_file(&self) -> Option<PathBuf> {
        self.name.as_ref().map(|_| self.file())
    }

    fn inode(&self) -> std::io::Result<u64> {
        std::fs::metadata(self.file()).map(|m| m.ino())
    }

    /// `None` for the root namespace (init's), else this namespace's inode: what state is
    /// kept under.
    pub fn key(&self) -> std::io::Result<Option<u64>> {
        let me = self.inode().map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("network namespace {}: {e}", self.file().display()),
            )
        })?;
        // Without access to init's namespace (a restricted container), treat ours as
        // not the root one: never write the host's boot state by mistake.
        let root = std::fs::metadata("/proc/1/ns/net").map(|m| m.ino()).ok();
        Ok((root != Some(me)).then_some(me))
    }

    /// A netlink socket into this namespace.
    pub fn netlink(&self) -> Result<Netlink> {
        match &self.name {
            Some(name) => Netlink::open_in_netns(&self.file())
                .with_context(|| format!("cannot enter network namespace `{name}`")),
            None => Netlink::open()
                .context("cannot talk to nftables (palisade needs root or CAP_NET_ADMIN)"),
        }
    }
}
