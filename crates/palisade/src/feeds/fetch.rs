//! Downloading a feed: one conditional GET with a deadline and a size limit.
//!
//! `ureq` (blocking, small) over rustls with the ring provider, trusting the system's CA store
//! (`/etc/ssl/certs` on Debian, so a private CA the admin installed works) and gzip. The
//! request carries the last copy's `ETag` and `Last-Modified` (`If-None-Match`,
//! `If-Modified-Since`): an unchanged list costs the publisher a `304` and nothing is parsed.
//! One deadline covers the whole exchange (DNS to the last body byte), so a server that trickles
//! cannot hold the updater; the body is read through a limit, counted after decompression, so
//! neither a huge file nor a gzip bomb can fill memory.

use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
use ureq::Agent;

/// What the server answered.
#[derive(Debug)]
pub enum Fetched {
    /// `304 Not Modified`: the last copy is current.
    NotModified,
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
        content_type: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the server answered HTTP {status}")]
    Status { status: u16 },
    #[error("larger than {limit_mib} MiB (raise --max-download if the list really is)")]
    TooLarge { limit_mib: u64 },
    #[error("no complete answer within {secs} s (raise --fetch-timeout for a slow publisher)")]
    Timeout { secs: u64 },
    #[error("cut short: the connection closed before the whole list arrived")]
    CutShort,
    #[error("the server closed the connection without an answer")]
    NoAnswer,
    #[error("{0}")]
    Transport(String),
}

/// Deadline and size limit of downloads.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub timeout: Duration,
    pub max_bytes: u64,
}

/// The HTTP client of the feed updater.
pub struct Fetcher {
    agent: Agent,
    limits: Limits,
}

/// The system's trusted CAs (Debian's `ca-certificates`, plus any the admin added). No CA list
/// is built into palisade: what the host trusts is what its feeds are checked against.
fn system_roots() -> RootCerts {
    let found = rustls_native_certs::load_native_certs();
    let certs: Vec<Certificate<'static>> = found
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    RootCerts::new_with_certs(&certs)
}

impl Fetcher {
    pub fn new(limits: Limits) -> Self {
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(system_roots())
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .build();
        let agent = Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .timeout_global(Some(limits.timeout))
            .user_agent(concat!(
                "palisade/",
                env!("CARGO_PKG_VERSION"),
                " (blocklist feed updater)"
            ))
            .build()
            .new_agent();
        Self { agent, limits }
    }

    /// GET `url`, conditional on the last copy's validators.
    pub fn get(
        &self,
        url: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<Fetched, FetchError> {
        let mut req = self.agent.get(url);
        if let Some(e) = etag {
            req = req.header("If-None-Match", e);
        }
        if let Some(m) = last_modified {
            req = req.header("If-Modified-Since", m);
        }
        let mut resp = req.call().map_err(|e| self.error(e, false))?;
        let status = resp.status().as_u16();
        if status == 304 {
            return Ok(Fetched::NotModified);
        }
        if !(200..300).contains(&status) {
            return Err(FetchError::Status { status });
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (etag, last_modified, content_type) = (
            header("etag"),
            header("last-modified"),
            header("content-type"),
        );
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(self.limits.max_bytes)
            .read_to_vec()
            .map_err(|e| self.error(e, true))?;
        Ok(Fetched::Body {
            bytes,
            etag,
            last_modified,
            content_type,
        })
    }

    /// What went wrong, for the admin; `in_body`: while reading the list itself.
    fn error(&self, e: ureq::Error, in_body: bool) -> FetchError {
        match e {
            ureq::Error::Timeout(_) => FetchError::Timeout {
                secs: self.limits.timeout.as_secs(),
            },
            ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge {
                limit_mib: self.limits.max_bytes >> 20,
            },
            ureq::Error::StatusCode(status) => FetchError::Status { status },
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                FetchError::Timeout {
                    secs: self.limits.timeout.as_secs(),
                }
            }
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                if in_body {
                    FetchError::CutShort
                } else {
                    FetchError::NoAnswer
                }
            }
            other => FetchError::Transport(other.to_string()),
        }
    }
}
