//! The `palisade xdp` commands, and the step after `apply` that attaches per `[xdp]`.

use anyhow::{bail, Context, Result};
use palisade_core::policy::XdpSettings;
use palisade_xdp::{AttachInfo, Capacity, Xdp};

use super::record::{ModeName, Record, Wanted};
use super::sync::{sync_all, sync_kernel_bans, Summary};
use super::{in_namespace, pin_root, status};
use crate::cli::{XdpAttachArgs, XdpCommand, XdpDetachArgs, XdpModeArg};
use crate::commands::Out;
use crate::netns::Namespace;
use crate::state::{write_atomic, StateDir};
use crate::store::Store;

impl From<XdpModeArg> for ModeName {
    fn from(m: XdpModeArg) -> Self {
        match m {
            XdpModeArg::Auto => ModeName::Auto,
            XdpModeArg::Native => ModeName::Native,
            XdpModeArg::Generic => ModeName::Generic,
        }
    }
}

pub fn run(ns: &Namespace, store: &mut Store, cmd: XdpCommand, out: Out) -> Result<i32> {
    match cmd {
        XdpCommand::Attach(a) => attach_cmd(ns, store, a, out),
        XdpCommand::Detach(a) => detach_cmd(ns, a, out),
        XdpCommand::Status(a) => {
            status::print(&status::gather(ns)?, a.json)?;
            Ok(0)
        }
        XdpCommand::Sync(a) => {
            if a.attach {
                for w in read_record(ns)?.wanted() {
                    // Each failure is a warning: the others are still attached, and nftables
                    // blocks on every interface.
                    if let Err(e) = attach_one(ns, &w, Capacity::default()) {
                        super::warn(&e);
                    }
                }
            }
            let Some(mut x) = Xdp::open_at(&super::state_dir(ns)?)? else {
                if !out.quiet {
                    eprintln!("XDP is not attached here: nothing to sync");
                }
                return Ok(0);
            };
            if a.kernel_bans {
                let n = sync_kernel_bans(&mut x, store)?;
                if !out.quiet {
                    eprintln!("XDP: {n} entries written for bans the kernel made");
                }
            } else {
                report_sync(&sync_all(&mut x, store)?, out);
            }
            Ok(0)
        }
    }
}

fn attach_cmd(ns: &Namespace, store: &mut Store, a: XdpAttachArgs, out: Out) -> Result<i32> {
    let capacity = Capacity {
        drop_per_family: a.max_entries.unwrap_or(Capacity::default().drop_per_family),
        ..Capacity::default()
    };
    let wanted = Wanted {
        interface: a.interface.clone(),
        mode: a.mode.into(),
    };
    let info = attach_one(ns, &wanted, capacity)?;
    let mut record = read_record(ns)?;
    record.attached_by_hand(wanted);
    write_record(ns, &record)?;
    say_attached(&info, out);
    if !info.already_attached {
        // Fill the maps from the kernel sets (another interface may have filled them).
        if let Some(s) = sync_here(ns, store)? {
            report_sync(&s, out);
        }
    }
    Ok(0)
}

fn detach_cmd(ns: &Namespace, a: XdpDetachArgs, out: Out) -> Result<i32> {
    let root = pin_root();
    let mut record = read_record(ns)?;
    if a.all {
        let n = in_namespace(ns, || Xdp::detach_all(&root))??;
        record = Record::default();
        write_record(ns, &record)?;
        if !out.quiet {
            eprintln!("XDP detached from {n} interface(s); nftables keeps blocking");
        }
        return Ok(0);
    }
    let iface = a.interface.expect("clap requires IFACE or --all");
    let removed_state = in_namespace(ns, || -> Result<bool> {
        match Xdp::open(&root)? {
            Some(x) => Ok(x.detach(&iface)?),
            None => Err(palisade_xdp::XdpError::NotAttached {
                ifname: iface.clone(),
            }
            .into()),
        }
    })??;
    record.detached(&iface);
    write_record(ns, &record)?;
    if !out.quiet {
        let last = if removed_state {
            " (its last interface: the maps are removed)"
        } else {
            ""
        };
        eprintln!("XDP detached from {iface}{last}; nftables keeps blocking");
    }
    Ok(0)
}

/// Attach as `w` says. Loopback is refused: nftables lets it through whatever the sets hold,
/// and XDP must never drop what nftables passes.
fn attach_one(ns: &Namespace, w: &Wanted, capacity: Capacity) -> Result<AttachInfo> {
    if w.interface == "lo" {
        bail!(
            "palisade does not attach XDP to loopback: loopback traffic always passes palisade's \
             blocks, and XDP may only drop what nftables drops"
        );
    }
    let root = pin_root();
    let mode = w.mode.into();
    in_namespace(ns, || Xdp::attach(&root, &w.interface, mode, capacity))?
        .with_context(|| format!("cannot attach XDP to `{}`", w.interface))
}

fn say_attached(info: &AttachInfo, out: Out) {
    if let Some(why) = &info.native_refused {
        eprintln!("palisade: note: {why}; attached in generic mode instead");
    }
    if out.quiet {
        return;
    }
    let already = if info.already_attached {
        " (already attached)"
    } else {
        ""
    };
    eprintln!(
        "XDP attached to {} in {} mode{already}",
        info.ifname, info.mode
    );
}

/// A full sync of the maps of `ns`, if XDP is attached there.
fn sync_here(ns: &Namespace, store: &mut Store) -> Result<Option<Summary>> {
    let dir = super::state_dir(ns)?;
    match Xdp::open_at(&dir)? {
        Some(mut x) => Ok(Some(sync_all(&mut x, store)?)),
        None => Ok(None),
    }
}

fn report_sync(s: &Summary, out: Out) {
    if out.quiet {
        return;
    }
    let r = &s.report;
    eprintln!(
        "XDP maps in step with {} drop set(s): {} IPv4 and {} IPv6 entries; {} written, {} \
         deleted ({} expired), allowlist +{} -{}",
        s.sets,
        r.entries.0,
        r.entries.1,
        r.written,
        r.deleted,
        r.expired,
        r.allow_written,
        r.allow_deleted
    );
}

fn record_path(ns: &Namespace) -> Result<std::path::PathBuf> {
    Ok(StateDir::for_namespace(ns)?.xdp())
}

fn read_record(ns: &Namespace) -> Result<Record> {
    let path = record_path(ns)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => Record::parse(&path.display().to_string(), &text).map_err(anyhow::Error::msg),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_record(ns: &Namespace, r: &Record) -> Result<()> {
    Ok(write_atomic(&record_path(ns)?, r.to_text().as_bytes())?)
}

/// After an apply committed: attach where the config's `[xdp]` says, detach where only an
/// earlier apply had attached, and fill fresh maps. Never fails the apply: nftables blocks
/// already, so each failure is a warning.
pub fn after_apply(ns: &Namespace, store: &mut Store, settings: &XdpSettings, out: Out) {
    if let Err(e) = apply_xdp(ns, store, settings, out) {
        super::warn(&e);
    }
}

fn apply_xdp(ns: &Namespace, store: &mut Store, settings: &XdpSettings, out: Out) -> Result<()> {
    let config: Vec<Wanted> = settings
        .interfaces
        .iter()
        .map(|i| Wanted {
            interface: i.clone(),
            mode: settings.mode.into(),
        })
        .collect();
    let record = read_record(ns)?;
    let (detach, next) = record.apply(&config);
    let root = pin_root();
    for iface in &detach {
        let detached = in_namespace(ns, || -> Result<()> {
            if let Some(x) = Xdp::open(&root)? {
                x.detach(iface)?;
            }
            Ok(())
        })?;
        match detached {
            Ok(()) if !out.quiet => eprintln!("XDP detached from {iface} (no longer in [xdp])"),
            Ok(()) => {}
            Err(e) => super::warn(&e.context(format!("detaching XDP from `{iface}`"))),
        }
    }
    let mut fresh = false;
    for w in &config {
        match attach_one(ns, w, Capacity::default()) {
            Ok(info) => {
                fresh |= !info.already_attached;
                say_attached(&info, out);
            }
            Err(e) => super::warn(&e),
        }
    }
    write_record(ns, &next)?;
    if fresh {
        if let Some(s) = sync_here(ns, store)? {
            report_sync(&s, out);
        }
    } else if let Some(mut x) = Xdp::open_at(&super::state_dir(ns)?)? {
        // The sets followed the apply as it committed; its pins may have changed without any.
        super::sync::sync_allowlist(&mut x, store)?;
    }
    Ok(())
}
