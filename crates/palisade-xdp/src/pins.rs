//! Where the XDP state lives between palisade processes, and how its files are named.
//!
//! `palisade xdp attach eth0` exits; later `palisade set add` (another process) must find the
//! maps, and `palisade xdp status` the attachments. So the maps and the BPF links are pinned on
//! the BPF filesystem, one directory per network namespace (each namespace has its own
//! interfaces and its own sets):
//!
//! ```text
//! <root>/netns-<cookie>/drop_v4, drop_v6, allow_v4, allow_v6, counters   the maps
//! <root>/netns-<cookie>/link-if<ifindex>                                one per interface
//! <root>/netns-<cookie>/set-<id> -> NAME                                 which set a counter id is
//! ```
//!
//! The root defaults to [`DEFAULT_PIN_ROOT`]; tests pass their own. Links are named by
//! interface index, which stays fixed while an interface is renamed; `status` turns it back
//! into a name.
//!
//! Counter ids are given to set names by symbolic links (bpffs holds links but no regular
//! files): `symlink(2)` is atomic and fails if the id is taken, so two processes never give one
//! id to two sets, and the names live and die with the maps whose counters they explain.

use std::path::{Component, Path, PathBuf};

use crate::error::{Result, XdpError};

/// Where bpffs is mounted on a standard system.
pub const BPFFS_MOUNT: &str = "/sys/fs/bpf";
/// palisade's default pin root.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf/palisade";

const LINK_PREFIX: &str = "link-if";
const SET_PREFIX: &str = "set-";

/// The directory name for a network namespace: by cookie, or by inode on kernels without
/// namespace cookies (see `sys::host::netns_key`).
pub fn netns_dir_name(cookie: u64, inode_fallback: Option<u64>) -> String {
    match inode_fallback {
        None => format!("netns-{cookie}"),
        Some(ino) => format!("netns-ino{ino}"),
    }
}

/// The pin of the link attaching the program to interface `ifindex`.
pub fn link_pin(dir: &Path, ifindex: u32) -> PathBuf {
    dir.join(format!("{LINK_PREFIX}{ifindex}"))
}

/// The interface index of a link pin's file name; `None` for other files.
pub fn ifindex_of_link_pin(file_name: &str) -> Option<u32> {
    let digits = file_name.strip_prefix(LINK_PREFIX)?;
    if digits.starts_with('+') || digits.starts_with('0') {
        return None;
    }
    digits.parse().ok().filter(|&i| i != 0)
}

/// The link naming the set that counter id `id` belongs to.
pub fn set_name_pin(dir: &Path, id: u8) -> PathBuf {
    dir.join(format!("{SET_PREFIX}{id}"))
}

/// The counter id of a set link's file name; `None` for other files.
pub fn set_id_of_pin(file_name: &str) -> Option<u8> {
    let digits = file_name.strip_prefix(SET_PREFIX)?;
    if digits.starts_with('+') || (digits.starts_with('0') && digits.len() > 1) {
        return None;
    }
    digits.parse().ok()
}

/// True when palisade may mount bpffs at [`BPFFS_MOUNT`] to pin under `root`: `root` lies
/// under that mount point (written plainly, no `..`), the nearest existing ancestor of `root`
/// is the mount point itself (the empty directory sysfs provides), and, as the caller checked,
/// it is not bpffs yet. Anything else is the admin's filesystem to arrange.
pub fn may_mount_standard_bpffs(root: &Path, nearest_existing: &Path) -> bool {
    let standard = Path::new(BPFFS_MOUNT);
    root.starts_with(standard)
        && nearest_existing == standard
        && root
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
}

/// Refuse what the kernel would not take as an interface name, before asking it.
pub fn check_ifname(name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("it is empty")
    } else if name.len() >= libc::IFNAMSIZ {
        Some("it is longer than 15 bytes")
    } else if name.contains(['/', '\0']) || name.chars().any(char::is_whitespace) {
        Some("it contains '/', a NUL or white space")
    } else if name == "." || name == ".." {
        Some("it is `.` or `..`")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(XdpError::BadInterfaceName {
            name: name.into(),
            problem,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_pins_round_trip_and_other_files_are_ignored() {
        let dir = Path::new("/sys/fs/bpf/palisade/netns-7");
        let pin = link_pin(dir, 12);
        assert_eq!(pin, dir.join("link-if12"));
        assert_eq!(ifindex_of_link_pin("link-if12"), Some(12));
        for other in [
            "drop_v4",
            "link-if",
            "link-if0",
            "link-if012",
            "link-if+1",
            "link-ifx",
        ] {
            assert_eq!(ifindex_of_link_pin(other), None, "{other}");
        }
        assert_eq!(netns_dir_name(4096, None), "netns-4096");
        assert_eq!(set_name_pin(dir, 0), dir.join("set-0"));
        assert_eq!(set_id_of_pin("set-0"), Some(0));
        assert_eq!(set_id_of_pin("set-255"), Some(255));
        for other in ["set-", "set-256", "set-01", "set-+1", "link-if3", "drop_v4"] {
            assert_eq!(set_id_of_pin(other), None, "{other}");
        }
        assert_eq!(netns_dir_name(0, Some(4026531840)), "netns-ino4026531840");
    }

    #[test]
    fn bpffs_is_mounted_only_at_its_standard_place() {
        let std_root = Path::new("/sys/fs/bpf/palisade");
        assert!(may_mount_standard_bpffs(std_root, Path::new("/sys/fs/bpf")));
        // No mount point (kernel without bpffs): nothing to mount on.
        assert!(!may_mount_standard_bpffs(std_root, Path::new("/sys/fs")));
        // Elsewhere: the admin's filesystem.
        assert!(!may_mount_standard_bpffs(
            Path::new("/tmp/x"),
            Path::new("/tmp")
        ));
        assert!(!may_mount_standard_bpffs(
            Path::new("/sys/fs/bpf/../../../tmp"),
            Path::new("/sys/fs/bpf")
        ));
    }

    #[test]
    fn interface_names_are_checked_before_the_kernel_sees_them() {
        assert!(check_ifname("eth0").is_ok());
        assert!(check_ifname("veth-a.100").is_ok());
        for bad in ["", "a/b", "a b", "0123456789abcdef", "..", "x\0"] {
            assert!(
                matches!(check_ifname(bad), Err(XdpError::BadInterfaceName { .. })),
                "{bad:?}"
            );
        }
    }
}
