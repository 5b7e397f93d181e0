//! Ed25519 keys in the forms admins handle: a public key they paste into the trust list, and
//! a small key file that holds a host's secret.
//!
//! The trust list binds a host *name* to a key (`[fleet.peers] web2 = "ed25519:..."`), so a
//! trusted key can only speak for its own host: web2 cannot sign bans that claim to come
//! from web3. Everything here is text in, text out; reading and writing the file (with its
//! 0600 mode) is in `keyfile.rs`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// Prefix of a public key in text form, so a key pasted into the wrong place is recognised.
pub const PUBLIC_PREFIX: &str = "ed25519:";
const SECRET_FIELD: &str = "secret:";
const PUBLIC_FIELD: &str = "public:";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a public key looks like `ed25519:` followed by 44 base64 characters (print one with `palisade fleet keygen --public`)")]
    PublicFormat,
    #[error("the bytes are not a valid Ed25519 public key")]
    PublicInvalid,
    #[error("line {0}: expected `secret: BASE64` or `public: ed25519:BASE64`")]
    FileLine(usize),
    #[error("no `secret:` line")]
    FileNoSecret,
    #[error("the secret is not 32 bytes of base64")]
    FileSecret,
    #[error("the `public:` line does not belong to the `secret:` line (the file was edited or mixed up)")]
    FileMismatch,
}

/// `ed25519:BASE64`, as printed for the trust list.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_PREFIX}{}", STANDARD.encode(key.as_bytes()))
}

/// Parse `ed25519:BASE64`.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let b64 = text
        .trim()
        .strip_prefix(PUBLIC_PREFIX)
        .ok_or(KeyError::PublicFormat)?;
    let bytes: [u8; 32] = STANDARD
        .decode(b64)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or(KeyError::PublicFormat)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::PublicInvalid)
}

/// The key file's text: a comment, the secret and the public key (for `cat`-ing it).
pub fn key_file_text(key: &SigningKey, host: &str) -> String {
    format!(
        "# palisade fleet signing key of host {host}. Keep it secret (mode 0600).\n\
         # Peers trust the public line: [fleet.peers] {host} = \"{public}\"\n\
         {SECRET_FIELD} {secret}\n{PUBLIC_FIELD} {public}\n",
        public = public_key_text(&key.verifying_key()),
        secret = STANDARD.encode(key.to_bytes()),
    )
}

/// Read a key file's text. Comments (`#`) and blank lines are skipped; a `public:` line,
/// if present, must match the secret.
pub fn parse_key_file(text: &str) -> Result<SigningKey, KeyError> {
    let mut secret = None;
    let mut public = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(v) = line.strip_prefix(SECRET_FIELD) {
            let bytes: [u8; 32] = STANDARD
                .decode(v.trim())
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or(KeyError::FileSecret)?;
            secret = Some(SigningKey::from_bytes(&bytes));
        } else if let Some(v) = line.strip_prefix(PUBLIC_FIELD) {
            public = Some(parse_public_key(v)?);
        } else {
            return Err(KeyError::FileLine(i + 1));
        }
    }
    let secret = secret.ok_or(KeyError::FileNoSecret)?;
    if public.is_some_and(|p| p != secret.verifying_key()) {
        return Err(KeyError::FileMismatch);
    }
    Ok(secret)
}

/// Sign `context ‖ bytes`.
pub fn sign(key: &SigningKey, context: &[u8], bytes: &[u8]) -> [u8; 64] {
    let mut msg = Vec::with_capacity(context.len() + bytes.len());
    msg.extend_from_slice(context);
    msg.extend_from_slice(bytes);
    key.sign(&msg).to_bytes()
}

/// Check a signature made by [`sign`]. Strict verification: no malleable encodings.
pub fn verify(key: &VerifyingKey, context: &[u8], bytes: &[u8], signature: &[u8; 64]) -> bool {
    let mut msg = Vec::with_capacity(context.len() + bytes.len());
    msg.extend_from_slice(context);
    msg.extend_from_slice(bytes);
    key.verify_strict(&msg, &Signature::from_bytes(signature))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    #[test]
    fn public_key_text_round_trips() {
        let k = key(1).verifying_key();
        let text = public_key_text(&k);
        assert!(text.starts_with("ed25519:"));
        assert_eq!(parse_public_key(&text).unwrap(), k);
        assert_eq!(parse_public_key(&format!("  {text}\n")).unwrap(), k);
    }

    #[test]
    fn public_key_text_refuses_other_shapes() {
        let text = public_key_text(&key(1).verifying_key());
        for bad in [
            &text[8..],                  // no prefix
            "ed25519:",                  // empty
            "ed25519:AAAA",              // too short
            &format!("{text}AAAA"),      // too long
            "ssh-ed25519 AAAAC3NzaC1lZ", // an ssh key
        ] {
            assert_eq!(parse_public_key(bad), Err(KeyError::PublicFormat), "{bad}");
        }
    }

    #[test]
    fn key_file_round_trips_and_checks_its_public_line() {
        let k = key(2);
        let text = key_file_text(&k, "web1");
        assert_eq!(parse_key_file(&text).unwrap().to_bytes(), k.to_bytes());
        let other = public_key_text(&key(3).verifying_key());
        let mixed = text.replace(&public_key_text(&k.verifying_key()), &other);
        // The comment line also names the key; only the `public:` line is read.
        assert_eq!(parse_key_file(&mixed).err(), Some(KeyError::FileMismatch));
        assert_eq!(
            parse_key_file("# nothing\n").err(),
            Some(KeyError::FileNoSecret)
        );
        assert_eq!(
            parse_key_file("secret: abc\n").err(),
            Some(KeyError::FileSecret)
        );
        assert_eq!(parse_key_file("hello\n").err(), Some(KeyError::FileLine(1)));
    }

    #[test]
    fn signatures_bind_key_context_and_bytes() {
        let k = key(4);
        let sig = sign(&k, b"ctx", b"hello");
        let vk = k.verifying_key();
        assert!(verify(&vk, b"ctx", b"hello", &sig));
        assert!(!verify(&vk, b"ctx", b"hellp", &sig));
        assert!(!verify(&vk, b"other", b"hello", &sig));
        assert!(!verify(&key(5).verifying_key(), b"ctx", b"hello", &sig));
    }
}
