//! The host's signing key on disk: created once with mode 0600, refused if others can read
//! it (as ssh refuses a private key that is group- or world-readable: a key others could
//! read is a key others could sign bans with).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;

use crate::keys::{self, KeyError};

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: already exists; palisade will not overwrite a signing key (peers trust it). Remove it first to make a new one, then give peers the new public key")]
    Exists { path: PathBuf },
    #[error("{path}: readable by group or others (mode {mode:o}); run `chmod 600 {path}`")]
    Exposed { path: PathBuf, mode: u32 },
    #[error("{path}: {source}")]
    Format { path: PathBuf, source: KeyError },
    #[error("cannot get random bytes for a key: {0}")]
    Random(String),
}

/// Make a new key pair for `host` and write it to `path` (mode 0600, never overwriting).
/// Returns the public key in the form the peers' trust lists take.
pub fn generate_key_file(path: &Path, host: &str) -> Result<String, KeyFileError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyFileError::Random(e.to_string()))?;
    let key = SigningKey::from_bytes(&seed);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => KeyFileError::Exists { path: path.into() },
            _ => KeyFileError::Io {
                path: path.into(),
                source: e,
            },
        })?;
    file.write_all(keys::key_file_text(&key, host).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| KeyFileError::Io {
            path: path.into(),
            source: e,
        })?;
    Ok(keys::public_key_text(&key.verifying_key()))
}

/// Read the signing key from `path`.
pub fn load_key_file(path: &Path) -> Result<SigningKey, KeyFileError> {
    let io = |e| KeyFileError::Io {
        path: path.into(),
        source: e,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Exposed {
            path: path.into(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    keys::parse_key_file(&text).map_err(|e| KeyFileError::Format {
        path: path.into(),
        source: e,
    })
}

/// The public key of the key file at `path`, for the peers' trust lists.
pub fn public_key_of(path: &Path) -> Result<String, KeyFileError> {
    Ok(keys::public_key_text(&load_key_file(path)?.verifying_key()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("palisade-fleet-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn generates_a_0600_file_once_and_reads_it_back() {
        let d = temp_dir("keygen");
        let path = d.join("fleet.key");
        let public = generate_key_file(&path, "web1").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(public_key_of(&path).unwrap(), public);
        assert!(matches!(
            generate_key_file(&path, "web1"),
            Err(KeyFileError::Exists { .. })
        ));
        assert_eq!(public_key_of(&path).unwrap(), public, "not overwritten");
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn refuses_a_key_others_can_read() {
        let d = temp_dir("exposed");
        let path = d.join("fleet.key");
        generate_key_file(&path, "web1").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_key_file(&path).unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        std::fs::remove_dir_all(d).unwrap();
    }
}
