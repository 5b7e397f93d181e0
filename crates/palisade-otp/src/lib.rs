//! The pure core of palisade's one-time passwords, compatible with OTPW.
//!
//! Everything here is plain computation over bytes: the hash file format (`~/.otpw`), the
//! modified base64 alphabet, the hash, how a typed answer is split into prefix and one-time
//! passwords, which passwords a login is challenged with, the printed sheet and the failure
//! policy. No function here makes a system call; randomness and the clock come in as
//! arguments, so every rule is tested without a file system or a PAM stack. The PAM module
//! (`pam-palisade`) and the `palisade otp` command do the I/O around it.

pub mod alphabet;
pub mod challenge;
pub mod failures;
pub mod file;
pub mod hash;
pub mod lock_owner;
pub mod response;
pub mod sheet;

pub use challenge::{Challenge, MIN_UNUSED_FOR_TRIPLE, TRIPLE};
pub use failures::{FailurePolicy, FailureRecord, Verdict};
pub use file::{Entry, FormatError, HashFile, Header};
pub use hash::{constant_time_eq, otpw_hash, Hash, HASH_CHARS};
pub use lock_owner::{judge, Host, LinkId, Observed, OwnerRecord, Process, Stale};
pub use response::{split_response, Response};
pub use sheet::{generate, render_sheet, GenError, Generated, MAX_COUNT};

/// The hash file, relative to the user's home directory (OTPW's name, so old sheets keep working).
pub const HASH_FILE_NAME: &str = ".otpw";
/// The lock: a symbolic link whose target is the challenged password's number.
pub const LOCK_FILE_NAME: &str = ".otpw.lock";
/// palisade's own addition: which process holds the lock (see [`lock_owner`]).
pub const LOCK_OWNER_FILE_NAME: &str = ".otpw.lock.owner";
/// palisade's own addition: consecutive failed answers, for the delay and the lock-out.
pub const FAILURE_FILE_NAME: &str = ".otpw.failures";
/// A lock older than this (seconds) was left by a crashed login and is removed, whoever
/// holds it (OTPW's rule; palisade removes a lock at once when its owner is known to be gone).
pub const STALE_LOCK_SECS: u64 = 24 * 60 * 60;
