//! List publishers for the feed tests, in a namespace: nginx serving files (real `ETag`,
//! `Last-Modified` and `304` handling), and a scripted server that misbehaves on request
//! (error pages, empty answers, cut-off bodies, 500s, a trickle).

#![allow(dead_code)]

use palisade_lab::Netns;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// nginx serving the files of `www`, killed (and its directory removed) on drop.
pub struct Nginx {
    child: Child,
    pub dir: PathBuf,
}

impl Nginx {
    pub fn start(ns: &Netns, dir: &Path, listen: &str) -> Nginx {
        std::fs::create_dir_all(dir.join("www")).unwrap();
        let d = dir.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/cb;\n  proxy_temp_path {d}/px;\n\
               fastcgi_temp_path {d}/fc;\n  uwsgi_temp_path {d}/uw;\n  scgi_temp_path {d}/sc;\n\
               types {{ text/plain txt netset; text/html html; }}\n\
               server {{ listen {listen}; root {d}/www; }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = ns
            .command("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx (scripts/deps.sh installs it)");
        Nginx {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// Put a file in the web root, with a modification time later than any before: nginx's
    /// `ETag` and `Last-Modified` come from it, so each publication is a new version even
    /// within one second.
    pub fn publish(&self, name: &str, text: &str) {
        static VERSION: AtomicU64 = AtomicU64::new(0);
        let path = self.dir.join("www").join(name);
        std::fs::write(&path, text).unwrap();
        let later = Duration::from_secs(VERSION.fetch_add(1, Ordering::Relaxed) + 1);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(std::time::SystemTime::now() + later)
            .unwrap();
    }

    /// The requests nginx answered, as its access log has them.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How the scripted server answers.
#[derive(Clone, Debug)]
pub enum Mode {
    /// `200` with this list.
    List(String),
    /// `200 text/html` with an error page.
    Html,
    /// `200` with an empty body.
    Empty,
    /// `500 Internal Server Error`.
    Status500,
    /// A `Content-Length` larger than the body, then the connection closes.
    Truncated(String),
    /// Headers, then one byte every 200 ms for up to 20 s.
    Trickle,
}

/// A server that answers every request as its current [`Mode`] says.
#[derive(Clone)]
pub struct Scripted {
    mode: Arc<Mutex<Mode>>,
}

impl Scripted {
    /// Listen at `addr` (`198.18.0.2:8091`) inside `ns`.
    pub fn start(ns: &Netns, addr: &str) -> Scripted {
        let addr = addr.to_string();
        let listener = ns.run(move || TcpListener::bind(addr).unwrap()).unwrap();
        let s = Scripted {
            mode: Arc::new(Mutex::new(Mode::Empty)),
        };
        let mode = Arc::clone(&s.mode);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let m = mode.lock().unwrap().clone();
                std::thread::spawn(move || answer(conn, m));
            }
        });
        s
    }

    pub fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }
}

fn answer(mut c: std::net::TcpStream, mode: Mode) {
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let reply = |c: &mut std::net::TcpStream, status: &str, ctype: &str, len: usize, body: &str| {
        let _ = write!(
            c,
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{body}"
        );
    };
    match mode {
        Mode::List(text) => reply(&mut c, "200 OK", "text/plain", text.len(), &text),
        Mode::Html => {
            let page = "<!DOCTYPE html>\n<html><body><h1>Please log in</h1></body></html>\n";
            reply(
                &mut c,
                "200 OK",
                "text/html; charset=utf-8",
                page.len(),
                page,
            )
        }
        Mode::Empty => reply(&mut c, "200 OK", "text/plain", 0, ""),
        Mode::Status500 => reply(
            &mut c,
            "500 Internal Server Error",
            "text/plain",
            6,
            "oops\r\n",
        ),
        Mode::Truncated(text) => reply(&mut c, "200 OK", "text/plain", text.len() + 500, &text),
        Mode::Trickle => {
            reply(&mut c, "200 OK", "text/plain", 100, "");
            for _ in 0..100 {
                std::thread::sleep(Duration::from_millis(200));
                if c.write_all(b"1").is_err() {
                    return;
                }
            }
        }
    }
}
