//! Following a log file the way `tail -F` does: new lines as they are appended, through
//! rotation (the path now names a new file: the old one is read to its end first, so no line is
//! lost) and truncation (read again from the start). Woken by inotify on the file's directory,
//! so a line is seen within microseconds of being written, with a slow poll as a safety net.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::lines::LineSplitter;

pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    inode: u64,
    pos: u64,
    lines: LineSplitter,
}

impl Follower {
    /// Start at the end of the file (or its start, with `from_start`). The file need not exist
    /// yet; it is opened when it appears.
    pub fn open(path: &Path, from_start: bool) -> Self {
        let mut f = Self {
            path: path.to_path_buf(),
            file: None,
            inode: 0,
            pos: 0,
            lines: LineSplitter::new(),
        };
        if let Ok(file) = File::open(path) {
            if let Ok(m) = file.metadata() {
                f.inode = m.ino();
                f.pos = if from_start { 0 } else { m.len() };
                f.file = Some(file);
            }
        }
        f
    }

    /// Hand every complete new line to `each`.
    pub fn poll(&mut self, each: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        self.read_to_end(each)?;
        match std::fs::metadata(&self.path) {
            Ok(m) if self.file.is_none() || m.ino() != self.inode => {
                // Rotated (or first seen): the old file was read to its end above.
                let file = File::open(&self.path)?;
                self.inode = file.metadata()?.ino();
                self.file = Some(file);
                self.pos = 0;
                self.lines.reset();
                self.read_to_end(each)?;
            }
            Ok(m) if m.len() < self.pos => {
                // Truncated in place (copytruncate): start over.
                self.pos = 0;
                self.lines.reset();
                self.read_to_end(each)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Lines longer than [`super::lines::MAX_LINE`] skipped so far.
    pub fn skipped(&self) -> u64 {
        self.lines.skipped()
    }

    fn read_to_end(&mut self, each: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        file.seek(SeekFrom::Start(self.pos))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.pos += n as u64;
            self.lines.feed(&buf[..n], each);
        }
    }
}

/// inotify on the directories of the followed files: any change there wakes the reader.
pub struct Wakeup {
    fd: OwnedFd,
}

impl Wakeup {
    pub fn new(paths: &[PathBuf]) -> io::Result<Self> {
        // SAFETY: inotify_init1 returns a new descriptor or -1.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        for p in paths {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
                .map_err(io::Error::other)?;
            let mask = libc::IN_MODIFY | libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_CLOSE_WRITE;
            // SAFETY: valid descriptor and NUL-terminated path.
            if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), mask) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(Self { fd })
    }

    /// Wait for a change, at most `timeout`, and drain the pending events.
    pub fn wait(&self, timeout: Duration) {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis().min(60_000) as i32) };
        if ready > 0 {
            let mut buf = [0u8; 4096];
            // SAFETY: reading into a buffer we own; non-blocking descriptor.
            while unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0
            {
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::lines::MAX_LINE;
    use std::io::Write;

    fn lines(f: &mut Follower) -> Vec<String> {
        let mut out = Vec::new();
        f.poll(&mut |l| out.push(String::from_utf8_lossy(l).into_owned()))
            .unwrap();
        out
    }

    #[test]
    fn appends_rotation_and_truncation_lose_no_line() {
        let dir = std::env::temp_dir().join(format!("palisade-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("auth.log");
        std::fs::write(&path, "old 1\nold 2\n").unwrap();
        let mut f = Follower::open(&path, false);
        assert!(lines(&mut f).is_empty(), "starts at the end");
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        write!(w, "a\nb\npart").unwrap();
        assert_eq!(lines(&mut f), ["a", "b"]);
        write!(w, "ial\nlast before rotation\n").unwrap();
        // Rotate: the old file gets renamed after one more line; a new file appears.
        std::fs::rename(&path, dir.join("auth.log.1")).unwrap();
        writeln!(w, "written after rename").unwrap();
        std::fs::write(&path, "new 1\n").unwrap();
        assert_eq!(
            lines(&mut f),
            [
                "partial",
                "last before rotation",
                "written after rename",
                "new 1"
            ]
        );
        // Truncate in place.
        std::fs::write(&path, "").unwrap();
        assert!(lines(&mut f).is_empty());
        std::fs::write(&path, "after truncation\n").unwrap();
        assert_eq!(lines(&mut f), ["after truncation"]);
        // An enormous line is skipped whole; the next one is read.
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        w.write_all(&vec![b'x'; 3 * MAX_LINE]).unwrap();
        write!(w, "\nfine\n").unwrap();
        assert_eq!(lines(&mut f), ["fine"]);
        assert_eq!(f.skipped(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn from_start_and_a_file_that_appears_later() {
        let dir = std::env::temp_dir().join(format!("palisade-follow2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.log");
        let mut f = Follower::open(&path, false);
        assert!(lines(&mut f).is_empty());
        std::fs::write(&path, "first\n").unwrap();
        assert_eq!(lines(&mut f), ["first"]);
        let mut g = Follower::open(&path, true);
        assert_eq!(lines(&mut g), ["first"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
