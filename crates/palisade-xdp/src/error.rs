//! Errors, written for the admin reading them: what failed, where, and what to do.

use std::io;
use std::path::PathBuf;

use crate::sys::ActiveMode;

pub type Result<T, E = XdpError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    #[error("interface `{name}` does not exist in this network namespace (see `ip link`)")]
    NoSuchInterface { name: String },

    #[error("`{name}` is not a valid interface name: {problem}")]
    BadInterfaceName { name: String, problem: &'static str },

    #[error(
        "the driver of `{ifname}` refuses native XDP ({source}); attach in generic mode, or in \
         auto mode, which falls back to generic"
    )]
    NativeUnsupported { ifname: String, source: io::Error },

    #[error(
        "`{ifname}` already runs an XDP program that is not palisade's (program id {prog_id}); \
         palisade will not replace it. Remove it first (`ip link set dev {ifname} xdp off`) if \
         it is no longer wanted"
    )]
    ForeignProgram { ifname: String, prog_id: u32 },

    #[error(
        "palisade's XDP program is already attached to `{ifname}` in {current} mode; detach it \
         first to attach in {wanted} mode"
    )]
    ModeConflict {
        ifname: String,
        current: ActiveMode,
        wanted: ActiveMode,
    },

    #[error("palisade's XDP program is not attached to `{ifname}` in this network namespace")]
    NotAttached { ifname: String },

    #[error(
        "BPF is not available here: {op} failed: {source}. XDP needs a kernel with BPF \
         (CONFIG_BPF_SYSCALL, CONFIG_XDP) and root (CAP_BPF and CAP_NET_ADMIN); nftables keeps \
         dropping listed sources without it"
    )]
    BpfUnavailable { op: &'static str, source: io::Error },

    #[error("pin directory {}: {problem}", path.display())]
    PinDir { path: PathBuf, problem: String },

    #[error(
        "the XDP {map} map is full ({capacity} entries) while writing set `{set}`; attach again \
         with a larger capacity (detach first: capacity is fixed when the maps are created). \
         nftables still drops what did not fit"
    )]
    MapFull {
        map: &'static str,
        set: String,
        capacity: u32,
    },

    #[error(
        "XDP can tell 256 drop sets apart and all are taken, so set `{set}` is not dropped in \
         XDP (nftables still drops it); destroy sets that are no longer used, or run \
         `palisade xdp sync` to give back the ids of sets that are gone"
    )]
    TooManySets { set: String },

    #[error(
        "the pinned XDP state in {} was made by another palisade version ({problem}); detach \
         from every interface (`palisade xdp detach --all`, `Xdp::detach_all`) to remove it, \
         then attach again",
        path.display()
    )]
    IncompatibleState { path: PathBuf, problem: String },

    #[error(
        "the kernel's verifier rejected palisade's XDP program: {source}\nverifier log:\n{log}"
    )]
    Rejected { source: io::Error, log: String },

    #[error("{what}: {source}")]
    Kernel { what: String, source: io::Error },
}

impl XdpError {
    /// A failed system call, classified: no BPF at all, or not allowed, become
    /// [`XdpError::BpfUnavailable`]; anything else keeps its context.
    pub(crate) fn kernel(what: impl Into<String>, op: &'static str, source: io::Error) -> Self {
        match source.raw_os_error() {
            Some(libc::ENOSYS) | Some(libc::EPERM) => XdpError::BpfUnavailable { op, source },
            _ => XdpError::Kernel {
                what: what.into(),
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_forbidden_bpf_is_told_apart_from_other_failures() {
        for errno in [libc::ENOSYS, libc::EPERM] {
            let e = XdpError::kernel("x", "BPF_MAP_CREATE", io::Error::from_raw_os_error(errno));
            assert!(matches!(e, XdpError::BpfUnavailable { .. }), "{e}");
            assert!(e.to_string().contains("CAP_BPF"), "{e}");
        }
        let e = XdpError::kernel("writing", "op", io::Error::from_raw_os_error(libc::EBADF));
        assert!(matches!(e, XdpError::Kernel { .. }), "{e}");
        assert!(e.to_string().starts_with("writing: "), "{e}");
    }
}
