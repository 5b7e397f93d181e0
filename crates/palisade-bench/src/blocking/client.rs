//! The HTTP client of the experiment: sequential requests over fresh TCP connections, each
//! timed phase by phase.
//!
//! Written for the purpose rather than borrowed (curl, ab) so that every phase is measured the
//! same way for every method, with nothing between the socket calls and the clock: the time to
//! the TCP handshake, to the request being acknowledged, to the first byte of the answer, and to
//! its last. Every packet of a request passes the server's INPUT hook, where the firewall under
//! test sits: the handshake's SYN and ACK, the request, the ACKs of the answer, the FIN.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::lab::{FILE, PORT, SERVER};

/// Longer than any request takes, even with 50,000 linear rules; a request that takes this long
/// is a failure, not a sample.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// One request's phases, each counted from the start of the request (as curl's `-w` timings
/// are), so `complete` is the whole response time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// TCP handshake done (the SYN-ACK arrived and the ACK went out).
    pub connect: Duration,
    /// The request written and acknowledged by the server's TCP.
    pub send: Duration,
    /// The first byte of the response read.
    pub first_byte: Duration,
    /// The whole response (headers and 10 KiB body) read.
    pub complete: Duration,
}

/// The phases by name, in order, for reports and plots.
pub const PHASES: [&str; 4] = ["connect", "send", "first byte", "complete"];

impl Sample {
    pub fn phase(&self, i: usize) -> Duration {
        [self.connect, self.send, self.first_byte, self.complete][i]
    }
}

/// The request: HTTP/1.1 with `Connection: close`, so the server closes first and keeps the
/// TIME_WAIT state, and the client can reuse its ports at once.
pub fn request_bytes() -> Vec<u8> {
    format!("GET {FILE} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").into_bytes()
}

/// `count` requests one after the other from `source`; must run in the client's namespace.
/// Stops at the first failure: a firewall that drops the client's own packets must not be
/// reported as a fast one.
pub fn run_sequence(source: Ipv4Addr, count: usize, body_len: usize) -> io::Result<Vec<Sample>> {
    super::lab::pin_current_thread(super::lab::CLIENT_CPU)?;
    let req = request_bytes();
    (0..count)
        .map(|_| request(source, &req, body_len))
        .collect()
}

/// One request over a fresh connection.
fn request(source: Ipv4Addr, req: &[u8], body_len: usize) -> io::Result<Sample> {
    let dest = SocketAddr::from((SERVER, PORT));
    let start = Instant::now();
    let mut s = palisade_lab::connect_from(IpAddr::V4(source), dest, REQUEST_TIMEOUT)?;
    let connect = start.elapsed();
    s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    s.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    s.write_all(req)?;
    wait_until_acked(&s, start + REQUEST_TIMEOUT)?;
    let send = start.elapsed();

    let mut buf = vec![0u8; 64 * 1024];
    let mut got = Vec::with_capacity(body_len + 512);
    let mut first_byte = None;
    let mut expected = None;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        first_byte.get_or_insert_with(|| start.elapsed());
        got.extend_from_slice(&buf[..n]);
        if expected.is_none() {
            expected = response_length(&got)?;
        }
        if expected.is_some_and(|e| got.len() >= e) {
            break;
        }
    }
    let complete = start.elapsed();
    let Some(first_byte) = first_byte else {
        return Err(io::Error::other("the server closed without answering"));
    };
    if expected != Some(got.len()) || body_len + header_len(&got).unwrap_or(0) != got.len() {
        return Err(io::Error::other(format!(
            "incomplete or unexpected response: {} bytes, expected {expected:?} with a {body_len}-byte body",
            got.len()
        )));
    }
    Ok(Sample {
        connect,
        send,
        first_byte,
        complete,
    })
}

/// Spin until the kernel reports no written byte left unacknowledged (`SIOCOUTQ`: bytes in the
/// send queue, sent or not, that the peer has not acknowledged). Spinning rather than sleeping:
/// the acknowledgement comes within tens of microseconds, far below any sleep's granularity.
fn wait_until_acked(s: &TcpStream, deadline: Instant) -> io::Result<()> {
    loop {
        let mut queued: libc::c_int = 0;
        // SAFETY: SIOCOUTQ (= TIOCOUTQ) writes one int for a TCP socket we own.
        if unsafe { libc::ioctl(s.as_raw_fd(), libc::TIOCOUTQ, &mut queued) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if queued == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request not acknowledged",
            ));
        }
        std::hint::spin_loop();
    }
}

/// Length of the header block including the blank line, once it has arrived.
fn header_len(got: &[u8]) -> Option<usize> {
    got.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// The whole response's length (headers + `Content-Length`), once the headers have arrived;
/// an error for a status other than 200 or a missing length.
fn response_length(got: &[u8]) -> io::Result<Option<usize>> {
    let Some(hlen) = header_len(got) else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&got[..hlen]);
    let status = head.lines().next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 200") {
        return Err(io::Error::other(format!("server answered `{status}`")));
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .ok_or_else(|| io::Error::other("response without Content-Length"))?;
    Ok(Some(hlen + len))
}

/// The `p`-th percentile (0 < p <= 100) of a sample, by the nearest-rank method: a value that
/// was actually measured, never an interpolation.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_length_needs_whole_headers_and_a_200() {
        assert_eq!(
            response_length(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(),
            None
        );
        let ok = b"HTTP/1.1 200 OK\r\nServer: x\r\ncontent-length: 10\r\n\r\nabc";
        assert_eq!(response_length(ok).unwrap(), Some(ok.len() - 3 + 10));
        assert!(response_length(b"HTTP/1.1 404 Not Found\r\n\r\n").is_err());
        assert!(response_length(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 90.0), 90.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
