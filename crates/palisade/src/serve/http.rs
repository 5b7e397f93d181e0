//! The metrics listener: a deliberately small HTTP/1.1 server that answers `GET /metrics`.
//!
//! Why not an HTTP framework: one path, one method, no TLS (the listener belongs on loopback
//! or a management network, or behind a proxy that adds TLS), and an async server stack would
//! be a large part of the binary for that. What it still gets right: it reads at most
//! [`MAX_HEAD`] bytes of request head within [`READ_TIMEOUT`], so a scanner or a slow client
//! holds it briefly and cannot make it buffer much; it answers `404` and `405` to anything
//! else; every answer has a `Content-Length` and closes the connection. Requests are served one
//! at a time: a scrape takes milliseconds, and one reader of the kernel at a time is plenty.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Most bytes of request line and headers read.
pub const MAX_HEAD: usize = 8192;
/// How long a client may take to send its request, and to take the answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// `GET /metrics` (or `HEAD`: `body` false).
    Metrics {
        body: bool,
    },
    /// `GET /`: a pointer to `/metrics`.
    Index {
        body: bool,
    },
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

/// Decide from the request head (bytes up to the blank line, or as many as arrived).
pub fn parse(head: &[u8]) -> Request {
    let Some(end) = head.iter().position(|b| *b == b'\n') else {
        return Request::BadRequest;
    };
    let Ok(line) = std::str::from_utf8(&head[..end]) else {
        return Request::BadRequest;
    };
    let mut words = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Request::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Request::BadRequest;
    }
    let body = match method {
        "GET" => true,
        "HEAD" => false,
        _ => return Request::MethodNotAllowed,
    };
    // A query string (`?name[]=...`) is allowed and ignored, as Prometheus may send one.
    match target.split('?').next().unwrap_or_default() {
        "/metrics" => Request::Metrics { body },
        "/" => Request::Index { body },
        _ => Request::NotFound,
    }
}

/// Read the request head: up to the blank line, [`MAX_HEAD`] bytes, or the timeout.
fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while head.len() < MAX_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n.min(MAX_HEAD - head.len())]),
        }
    }
    head
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, text: &str, body: bool) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        text.len()
    );
    let _ = stream.write_all(head.as_bytes());
    if body {
        let _ = stream.write_all(text.as_bytes());
    }
    let _ = stream.flush();
}

/// Answer one connection; `collect` makes the metrics text.
pub fn handle(mut stream: TcpStream, collect: &mut dyn FnMut() -> anyhow::Result<String>) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let plain = "text/plain; charset=utf-8";
    match parse(&read_head(&mut stream)) {
        Request::Metrics { body } => match collect() {
            Ok(text) => respond(&mut stream, "200 OK", CONTENT_TYPE, &text, body),
            Err(e) => {
                eprintln!("palisade serve: collecting metrics failed: {e:#}");
                let text = format!("collecting metrics failed: {e:#}\n");
                respond(&mut stream, "500 Internal Server Error", plain, &text, body)
            }
        },
        Request::Index { body } => respond(
            &mut stream,
            "200 OK",
            plain,
            "palisade: metrics are at /metrics\n",
            body,
        ),
        Request::NotFound => respond(&mut stream, "404 Not Found", plain, "not found\n", true),
        Request::MethodNotAllowed => respond(
            &mut stream,
            "405 Method Not Allowed",
            plain,
            "only GET and HEAD\n",
            true,
        ),
        Request::BadRequest => {
            respond(&mut stream, "400 Bad Request", plain, "bad request\n", true)
        }
    }
}

/// Serve connections on `listener` for as long as the process runs.
pub fn serve(listener: TcpListener, mut collect: impl FnMut() -> anyhow::Result<String>) {
    for stream in listener.incoming() {
        match stream {
            Ok(s) => handle(s, &mut collect),
            // A connection reset before it was accepted, or descriptors exhausted for a
            // moment: keep serving.
            Err(e) => {
                eprintln!("palisade serve: accepting a metrics connection: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn requests_are_told_apart() {
        let r = |s: &str| parse(s.as_bytes());
        assert_eq!(
            r("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Request::Metrics { body: true }
        );
        assert_eq!(
            r("HEAD /metrics HTTP/1.0\r\n\r\n"),
            Request::Metrics { body: false }
        );
        assert_eq!(
            r("GET /metrics?x=1 HTTP/1.1\r\n\r\n"),
            Request::Metrics { body: true }
        );
        assert_eq!(r("GET / HTTP/1.1\r\n\r\n"), Request::Index { body: true });
        assert_eq!(r("GET /etc/passwd HTTP/1.1\r\n\r\n"), Request::NotFound);
        assert_eq!(
            r("POST /metrics HTTP/1.1\r\n\r\n"),
            Request::MethodNotAllowed
        );
        assert_eq!(r("GET /metrics\r\n\r\n"), Request::BadRequest);
        assert_eq!(r("GET /metrics SPDY/3\r\n\r\n"), Request::BadRequest);
        assert_eq!(
            r("GET /metrics HTTP/1.1"),
            Request::BadRequest,
            "no line end yet"
        );
        assert_eq!(r(""), Request::BadRequest);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&bytes);
        }
    }
}
