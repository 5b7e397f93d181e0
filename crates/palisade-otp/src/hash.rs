//! The stored hash: RIPEMD-160 over the prefix password followed by the one-time password,
//! cut to its first 72 bits and written as 12 characters of the modified base64.

use crate::alphabet;
use ripemd::{Digest, Ripemd160};

/// Characters of a stored hash (72 bits).
pub const HASH_CHARS: usize = 12;

/// A hash as it appears in the file.
pub type Hash = [u8; HASH_CHARS];

/// The hash OTPW stores for `prefix` followed by the normalized one-time password `otp`.
pub fn otpw_hash(prefix: &[u8], otp: &[u8]) -> Hash {
    let mut hasher = Ripemd160::new();
    hasher.update(prefix);
    hasher.update(otp);
    let digest = hasher.finalize();
    let mut out = [0u8; HASH_CHARS];
    out.copy_from_slice(&alphabet::encode(&digest, HASH_CHARS));
    out
}

/// Compare two byte strings in time that depends only on their lengths, so an attacker
/// timing the answers learns nothing about how much of a stored hash they matched (the
/// original OTPW uses `strcmp`). Written here rather than taken from a crate because it is
/// four lines; `black_box` keeps the optimizer from turning the fold into an early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_otpw_documentation() {
        assert_eq!(&otpw_hash(b"geHeim", b"RLIrsDWh"), b"iTN39VsxuAxe");
    }

    /// Vectors made with Debian's `otpw-gen` 1.5 (prefix `geHeim`): a password from the
    /// printed sheet and the line `otpw-gen` wrote for its number in `~/.otpw`.
    #[test]
    fn matches_otpw_gen() {
        const OTPW_GEN_VECTORS: [(&str, &str); 9] = [
            ("NwPtGHH6", "snDPEESgZChE"),
            ("zYMLYEF:", "QOOyuUOP8DKm"),
            ("KV+fYTWd", "qEJMquH%oSeY"),
            ("iMFwRTjQ", "GwR6%CkhtH9t"),
            ("5DkJcYdN", "YIKum9QZO/SL"),
            ("Sr8%fb+p", "iTfOVVZXq%Pk"),
            ("WrNbyTCa", "xk2a3RHRRTPM"),
            ("UDhdkxkY", "w7RUY5px%fQc"),
            ("6KMQeTky", "bhdCy4GQ/jb6"),
        ];
        for (otp, hash) in OTPW_GEN_VECTORS {
            assert_eq!(
                &otpw_hash(b"geHeim", otp.as_bytes()),
                hash.as_bytes(),
                "{otp}"
            );
        }
    }

    #[test]
    fn prefix_and_password_are_one_byte_string() {
        assert_eq!(
            otpw_hash(b"geHeimRL", b"IrsDWh"),
            otpw_hash(b"geHeim", b"RLIrsDWh")
        );
        assert_ne!(
            otpw_hash(b"geHeim", b"RLIrsDWI"),
            otpw_hash(b"geHeim", b"RLIrsDWh")
        );
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"iTN39VsxuAxe", b"iTN39VsxuAxe"));
        assert!(!constant_time_eq(b"iTN39VsxuAxe", b"iTN39VsxuAxf"));
        assert!(!constant_time_eq(b"jTN39VsxuAxe", b"iTN39VsxuAxe"));
        assert!(!constant_time_eq(b"iTN39", b"iTN39VsxuAxe"));
        assert!(constant_time_eq(b"", b""));
    }
}
