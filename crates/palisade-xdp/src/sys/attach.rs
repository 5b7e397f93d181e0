//! Attach, detach and status: loading the program with aya, pinning its link, and reading
//! back from the kernel what runs where.

use std::io;
use std::path::Path;

use aya::programs::links::FdLink;
use aya::programs::{ProgramError, XdpMode};
use aya::{EbpfError, EbpfLoader};

use super::{bpf_link, host, link_of, maps, netlink, not_attached};
use super::{ActiveMode, AttachInfo, Capacity, IfaceStatus, Mode};
use crate::error::{Result, XdpError};
use crate::layout;
use crate::pins;
use crate::rtnl::XdpPrograms;

/// The compiled program (see build.rs), aligned as aya's ELF parser wants.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/palisade_xdp.o"));

/// The mode in which program `prog_id` runs, per the kernel's report.
fn mode_of(programs: &XdpPrograms, prog_id: u32) -> Option<ActiveMode> {
    [
        (programs.driver, ActiveMode::Native),
        (programs.generic, ActiveMode::Generic),
        (programs.offload, ActiveMode::Offload),
    ]
    .into_iter()
    .find_map(|(id, mode)| (id == Some(prog_id)).then_some(mode))
}

fn fits(wanted: Mode, active: ActiveMode) -> bool {
    match wanted {
        Mode::Auto => true,
        Mode::Native => active == ActiveMode::Native,
        Mode::Generic => active == ActiveMode::Generic,
    }
}

/// The errno inside an aya program error, if it carries one.
fn program_errno(e: &ProgramError) -> Option<i32> {
    match e {
        ProgramError::SyscallError(s) => s.io_error.raw_os_error(),
        ProgramError::LoadError { io_error, .. } | ProgramError::IOError(io_error) => {
            io_error.raw_os_error()
        }
        ProgramError::XdpError(aya::programs::xdp::XdpError::NetlinkError(n)) => n.raw_os_error(),
        _ => None,
    }
}

fn program_error(what: &str, e: ProgramError) -> XdpError {
    // EACCES and EINVAL from BPF_PROG_LOAD are the verifier's refusals; its log says why.
    if let ProgramError::LoadError {
        io_error,
        verifier_log,
    } = &e
    {
        if let Some(errno @ (libc::EACCES | libc::EINVAL)) = io_error.raw_os_error() {
            return XdpError::Rejected {
                source: io::Error::from_raw_os_error(errno),
                log: verifier_log.to_string(),
            };
        }
    }
    let source = match program_errno(&e) {
        Some(errno) => io::Error::from_raw_os_error(errno),
        None => io::Error::other(e.to_string()),
    };
    XdpError::kernel(what, "BPF program load or attach", source)
}

fn ebpf_error(e: EbpfError) -> XdpError {
    match e {
        EbpfError::MapError(m) => maps::map_error("creating palisade's XDP maps", m),
        EbpfError::ProgramError(p) => program_error("loading palisade's XDP program", p),
        other => XdpError::kernel(
            "loading palisade's XDP object",
            "BPF object load",
            io::Error::other(other.to_string()),
        ),
    }
}

pub fn attach(pin_root: &Path, ifname: &str, mode: Mode, capacity: Capacity) -> Result<AttachInfo> {
    let ifindex = host::ifindex(ifname)?;
    host::prepare_root(pin_root)?;
    let dir = pin_root.join(host::netns_key()?);
    std::fs::create_dir_all(&dir).map_err(|e| XdpError::PinDir {
        path: dir.clone(),
        problem: format!("cannot create it: {e}"),
    })?;
    let _lock = host::lock_dir(&dir)?;
    let request = Request {
        dir: &dir,
        ifname,
        ifindex,
        mode,
        capacity,
    };
    let result = attach_locked(&request);
    if result.is_err() {
        // Leave nothing half-made behind: maps created for this attach go if no link uses them.
        let _ = remove_if_unused(&dir);
    }
    result
}

/// One attach, as asked for: where the state lives, which interface, how.
struct Request<'a> {
    dir: &'a Path,
    ifname: &'a str,
    ifindex: u32,
    mode: Mode,
    capacity: Capacity,
}

fn attach_locked(req: &Request) -> Result<AttachInfo> {
    let Request {
        dir,
        ifname,
        ifindex,
        mode,
        ..
    } = *req;
    let link_path = pins::link_pin(dir, ifindex);
    let gone = || XdpError::NoSuchInterface {
        name: ifname.into(),
    };
    let (_, programs) = netlink::query(ifindex)?.ok_or_else(gone)?;

    if link_path.exists() {
        let ours = bpf_link::open_pinned(&link_path).and_then(|fd| bpf_link::xdp_link_info(&fd));
        if let Some(active) = ours
            .ok()
            .and_then(|info| mode_of(&programs, info.prog_id).map(|active| (active, info.prog_id)))
        {
            let (active, program_id) = active;
            if !fits(mode, active) {
                return Err(XdpError::ModeConflict {
                    ifname: ifname.into(),
                    current: active,
                    wanted: if mode == Mode::Native {
                        ActiveMode::Native
                    } else {
                        ActiveMode::Generic
                    },
                });
            }
            return Ok(AttachInfo {
                ifname: ifname.into(),
                ifindex,
                mode: active,
                program_id,
                native_refused: None,
                already_attached: true,
                capacity: maps::Maps::open(dir)?.capacity,
            });
        }
        // A link for an interface that was removed and whose index was reused: stale.
        host::unpin(&link_path)?;
    }
    if let Some(prog_id) = programs.driver.or(programs.generic).or(programs.offload) {
        return Err(XdpError::ForeignProgram {
            ifname: ifname.into(),
            prog_id,
        });
    }
    load_and_attach(req)
}

fn load_and_attach(req: &Request) -> Result<AttachInfo> {
    let Request {
        dir,
        ifname,
        ifindex,
        mode,
        capacity,
    } = *req;
    let mut loader = EbpfLoader::new();
    loader
        .default_map_pin_directory(dir)
        .map_max_entries(layout::DROP_V4, capacity.drop_per_family)
        .map_max_entries(layout::DROP_V6, capacity.drop_per_family)
        .map_max_entries(layout::ALLOW_V4, capacity.allow_per_family)
        .map_max_entries(layout::ALLOW_V6, capacity.allow_per_family);
    // Pinned maps from an earlier attach are reused as they are; check they fit this build
    // before a program is verified against them.
    if dir.join(layout::DROP_V4).exists() {
        maps::Maps::open(dir)?;
    }
    let mut ebpf = loader.load(OBJECT).map_err(ebpf_error)?;
    let program: &mut aya::programs::Xdp = ebpf
        .program_mut(layout::PROGRAM)
        .ok_or_else(|| XdpError::Kernel {
            what: "loading palisade's XDP object".into(),
            source: io::Error::other(format!("it has no program `{}`", layout::PROGRAM)),
        })?
        .try_into()
        .map_err(|e| program_error("loading palisade's XDP program", e))?;
    program
        .load()
        .map_err(|e| program_error("loading palisade's XDP program", e))?;

    // A driver without native XDP answers EOPNOTSUPP; one that cannot run this program
    // natively (multi-buffer frames on a large MTU, say) answers EINVAL.
    let refusal = |e: &ProgramError| {
        let errno = program_errno(e)?;
        (errno == libc::EOPNOTSUPP || errno == libc::EINVAL)
            .then(|| io::Error::from_raw_os_error(errno))
    };
    let attach_err = |e: ProgramError| program_error(&format!("attaching XDP to `{ifname}`"), e);
    let (link_id, native_refused) = match mode {
        Mode::Generic => (program.attach_to_if_index(ifindex, XdpMode::Skb), None),
        Mode::Native => match program.attach_to_if_index(ifindex, XdpMode::Driver) {
            Err(e) => match refusal(&e) {
                Some(source) => {
                    return Err(XdpError::NativeUnsupported {
                        ifname: ifname.into(),
                        source,
                    })
                }
                None => (Err(e), None),
            },
            ok => (ok, None),
        },
        // Generic mode works on every device; whatever made native fail is reported.
        Mode::Auto => match program.attach_to_if_index(ifindex, XdpMode::Driver) {
            Err(e) => (
                program.attach_to_if_index(ifindex, XdpMode::Skb),
                Some(format!(
                    "native mode failed on `{ifname}`: {}",
                    attach_err(e)
                )),
            ),
            ok => (ok, None),
        },
    };
    let link = program
        .take_link(link_id.map_err(attach_err)?)
        .map_err(attach_err)?;
    let fd_link = FdLink::try_from(link).map_err(|_| XdpError::Kernel {
        what: format!("attaching XDP to `{ifname}`"),
        source: io::Error::other(
            "the kernel attached the program without a BPF link (netlink), which cannot be \
             pinned to outlive this process; palisade needs Linux 5.9 or later",
        ),
    })?;
    let link_path = pins::link_pin(dir, ifindex);
    fd_link.pin(&link_path).map_err(|e| XdpError::PinDir {
        path: link_path.clone(),
        problem: format!("cannot pin the XDP link: {e}"),
    })?;

    let info = bpf_link::open_pinned(&link_path)
        .and_then(|fd| bpf_link::xdp_link_info(&fd))
        .map_err(|e| XdpError::Kernel {
            what: format!("reading back the XDP link of `{ifname}`"),
            source: e,
        })?;
    let (_, programs) = netlink::query(ifindex)?.ok_or_else(|| XdpError::NoSuchInterface {
        name: ifname.into(),
    })?;
    let active = mode_of(&programs, info.prog_id).ok_or_else(|| XdpError::Kernel {
        what: format!("attaching XDP to `{ifname}`"),
        source: io::Error::other("the kernel does not report the program on the interface"),
    })?;
    Ok(AttachInfo {
        ifname: ifname.into(),
        ifindex,
        mode: active,
        program_id: info.prog_id,
        native_refused,
        already_attached: false,
        capacity: maps::Maps::open(dir)?.capacity,
    })
}

/// Detach the program from the interface whose link is pinned at `path`, then remove the pin.
fn detach_link(path: &std::path::PathBuf) -> Result<()> {
    match bpf_link::open_pinned(path) {
        Ok(fd) => match bpf_link::detach(&fd) {
            // ENOLINK: already defunct (its interface went away).
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOLINK) => {}
            Err(e) => {
                return Err(XdpError::Kernel {
                    what: format!("detaching the XDP link pinned at {}", path.display()),
                    source: e,
                })
            }
        },
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => {
            return Err(XdpError::Kernel {
                what: format!("opening the XDP link pinned at {}", path.display()),
                source: e,
            })
        }
    }
    host::unpin(path)
}

/// Remove the maps and the directory when no link is left. Returns true if it did.
fn remove_if_unused(dir: &Path) -> Result<bool> {
    let files = host::list_dir(dir)?;
    if files.iter().any(|f| pins::ifindex_of_link_pin(f).is_some()) {
        return Ok(false);
    }
    for name in layout::MAP_NAMES {
        host::unpin(&dir.join(name))?;
    }
    for id in files.iter().filter_map(|f| pins::set_id_of_pin(f)) {
        host::unpin(&pins::set_name_pin(dir, id))?;
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(XdpError::PinDir {
            path: dir.to_path_buf(),
            problem: format!("cannot remove it: {e}"),
        }),
    }
}

pub fn detach(dir: &Path, ifname: &str) -> Result<bool> {
    let _lock = host::lock_dir(dir)?;
    let (_, path) = link_of(dir, ifname)?;
    if !path.exists() {
        return Err(not_attached(ifname));
    }
    detach_link(&path)?;
    // Links whose interface is gone hold nothing; they must not keep the state alive.
    for entry in status_locked(dir)? {
        if entry.name.is_none() {
            detach_link(&pins::link_pin(dir, entry.ifindex))?;
        }
    }
    remove_if_unused(dir)
}

/// Detach every link in `dir` (those whose interface is gone too) and remove the state.
/// Opens no map, so it also clears state another palisade version left. Returns how many
/// links there were.
pub fn detach_all(dir: &Path) -> Result<usize> {
    if !dir.exists() {
        return Ok(0);
    }
    let _lock = host::lock_dir(dir)?;
    let links: Vec<u32> = host::list_dir(dir)?
        .iter()
        .filter_map(|f| pins::ifindex_of_link_pin(f))
        .collect();
    for &ifindex in &links {
        detach_link(&pins::link_pin(dir, ifindex))?;
    }
    remove_if_unused(dir)?;
    Ok(links.len())
}

pub fn status(dir: &Path) -> Result<Vec<IfaceStatus>> {
    let _lock = host::lock_dir(dir)?;
    status_locked(dir)
}

fn status_locked(dir: &Path) -> Result<Vec<IfaceStatus>> {
    let mut out = Vec::new();
    let mut indexes: Vec<u32> = host::list_dir(dir)?
        .iter()
        .filter_map(|f| pins::ifindex_of_link_pin(f))
        .collect();
    indexes.sort_unstable();
    for ifindex in indexes {
        let info = bpf_link::open_pinned(&pins::link_pin(dir, ifindex))
            .and_then(|fd| bpf_link::xdp_link_info(&fd))
            .ok();
        let kernel = netlink::query(ifindex)?;
        let mode = match (&kernel, info) {
            (Some((_, programs)), Some(info)) if info.ifindex == Some(ifindex) => {
                mode_of(programs, info.prog_id)
            }
            _ => None,
        };
        out.push(IfaceStatus {
            ifindex,
            name: kernel.map(|(name, _)| name),
            mode,
            program_id: info.map(|i| i.prog_id),
        });
    }
    Ok(out)
}
