//! Cutting a byte stream into lines with bounded memory, for every way the watcher reads logs
//! (followed files, the journal, `watch --test`).
//!
//! Log lines arrive in chunks of whatever size a `read` returns, so a line can span chunks
//! and must be kept until its end arrives. Keeping it whatever its length would let one
//! client-controlled line (a user name of megabytes) or one file that is no log at all
//! (`/dev/zero`) grow the watcher's memory without limit. A line longer than [`MAX_LINE`] is
//! therefore skipped whole: its bytes are dropped as they arrive, up to and including its
//! newline, and it is counted, so the admin can be told how many were skipped.

/// Longest line kept: the matcher's own limit (no log format writes longer lines; a regex
/// over megabytes of attacker text is a way to stall the watcher).
pub const MAX_LINE: usize = palisade_watch::matcher::MAX_LINE;

/// Splits chunks of bytes into lines (without their `\n`), keeping at most [`MAX_LINE`]
/// bytes of an unfinished line (or the limit given to [`LineSplitter::with_limit`]).
#[derive(Debug)]
pub struct LineSplitter {
    partial: Vec<u8>,
    /// Inside an over-long line: drop bytes until its newline.
    skipping: bool,
    skipped: u64,
    limit: usize,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self::with_limit(MAX_LINE)
    }
}

impl LineSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Lines up to `limit` bytes (the journal's JSON entries are longer than the messages
    /// they carry).
    pub fn with_limit(limit: usize) -> Self {
        Self {
            partial: Vec::new(),
            skipping: false,
            skipped: 0,
            limit,
        }
    }

    /// Hand every line completed by `chunk` to `each`.
    pub fn feed(&mut self, chunk: &[u8], each: &mut dyn FnMut(&[u8])) {
        let mut rest = chunk;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            let (line, tail) = rest.split_at(nl);
            if !self.skipping && self.partial.len() + line.len() <= self.limit {
                if self.partial.is_empty() {
                    each(line);
                } else {
                    self.partial.extend_from_slice(line);
                    each(&self.partial);
                }
            } else if !self.skipping {
                self.skipped += 1;
            }
            self.partial.clear();
            self.skipping = false;
            rest = &tail[1..];
        }
        if self.skipping {
            return;
        }
        if self.partial.len() + rest.len() > self.limit {
            self.partial = Vec::new();
            self.skipping = true;
            self.skipped += 1;
        } else {
            self.partial.extend_from_slice(rest);
        }
    }

    /// The input ended: a last line without its newline is still a line.
    pub fn finish(&mut self, each: &mut dyn FnMut(&[u8])) {
        if !self.skipping && !self.partial.is_empty() {
            each(&self.partial);
        }
        self.reset();
    }

    /// Forget an unfinished line: the file it came from was rotated away or truncated.
    pub fn reset(&mut self) {
        self.partial.clear();
        self.skipping = false;
    }

    /// Lines longer than [`MAX_LINE`] skipped so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, u64) {
        let mut s = LineSplitter::new();
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, &mut |l| out.push(l.to_vec()));
        }
        s.finish(&mut |l| out.push(l.to_vec()));
        (out, s.skipped())
    }

    #[test]
    fn lines_spanning_chunks_are_joined() {
        let (lines, skipped) = split(&[b"a\nb", b"c", b"d\n\ne"]);
        assert_eq!(lines, [&b"a"[..], b"bcd", b"", b"e"]);
        assert_eq!(skipped, 0);
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_kept_one_byte_more_is_skipped() {
        let exact = vec![b'x'; MAX_LINE];
        let over = vec![b'y'; MAX_LINE + 1];
        let (half, rest) = exact.split_at(MAX_LINE / 2);
        let (lines, skipped) = split(&[half, rest, b"\n", &over, b"\nok\n"]);
        assert_eq!(lines, [exact, b"ok".to_vec()]);
        assert_eq!(skipped, 1);
    }

    #[test]
    fn an_endless_line_holds_no_memory_and_counts_once() {
        let mut s = LineSplitter::new();
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..100 {
            s.feed(&chunk, &mut |_| panic!("no line ends here"));
            assert!(s.partial.capacity() <= MAX_LINE + chunk.len());
        }
        assert_eq!(s.skipped(), 1);
        let mut got = Vec::new();
        s.feed(b"\nnext\n", &mut |l| got.push(l.to_vec()));
        assert_eq!(got, [b"next".to_vec()]);
        assert_eq!(s.skipped(), 1);
    }

    #[test]
    fn reset_drops_the_unfinished_line() {
        let mut s = LineSplitter::new();
        let mut got = Vec::new();
        s.feed(b"half of a li", &mut |l| got.push(l.to_vec()));
        s.reset();
        s.feed(b"new\n", &mut |l| got.push(l.to_vec()));
        assert_eq!(got, [b"new".to_vec()]);
    }

    proptest::proptest! {
        /// However the input is cut into chunks, the lines are those of the whole input,
        /// without the over-long ones.
        #[test]
        fn chunking_never_changes_the_lines(
            text in proptest::collection::vec(proptest::sample::select(vec![b'a', b'\n']), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..10),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
            cuts.sort();
            let mut chunks = Vec::new();
            let mut start = 0;
            for c in cuts {
                chunks.push(&text[start..c]);
                start = c;
            }
            chunks.push(&text[start..]);
            let (lines, _) = split(&chunks);
            let mut want: Vec<Vec<u8>> = text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
            if text.last() == Some(&b'\n') || text.is_empty() {
                want.pop();
            }
            proptest::prop_assert_eq!(lines, want);
        }
    }
}
