//! Following the systemd journal: one `journalctl --follow --output=json` child for every
//! jail that reads the journal (of this system, or the directory or files
//! `[watch] journal_directory`/`journal_files` name), its entries handed to the jails whose
//! match they fit (see [`palisade_watch::journal`]).

use std::io::Read;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use palisade_watch::journal::journalctl_args;
use palisade_watch::{JournalEntry, JournalMatch, Source, WatchConfig};

use super::lines::{LineSplitter, MAX_LINE};
use super::readers::{report_skipped, Readers};
use crate::policy::records::now;

/// A JSON entry is longer than its message: escapes and the other fields.
const MAX_ENTRY: usize = 4 * MAX_LINE;

/// Start `journalctl` and the thread that reads it for `jails` (indices into the config).
pub fn start_journal_reader(
    cfg: &WatchConfig,
    jails: &[usize],
    from_start: bool,
    mut readers: Readers,
) -> Result<()> {
    let matches: Vec<JournalMatch> = jails
        .iter()
        .map(|i| match &cfg.jails[*i].source {
            Source::Journal(m) => m.clone(),
            Source::File(_) => JournalMatch::default(),
        })
        .collect();
    let since = (!from_start).then(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    });
    let args = journalctl_args(&cfg.journal, &matches.iter().collect::<Vec<_>>(), since);
    let mut child = Command::new("journalctl")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context(
            "cannot start journalctl to follow the journal (is systemd's journalctl installed?)",
        )?;
    let mut out = child.stdout.take().context("journalctl's output")?;
    std::thread::spawn(move || {
        let mut lines = LineSplitter::with_limit(MAX_ENTRY);
        let mut buf = vec![0u8; 64 * 1024];
        let mut skipped = 0;
        let mut entry_line = |line: &[u8]| {
            let Some(entry) = JournalEntry::from_json(line) else {
                return;
            };
            let t = now();
            for ((jail, m), want) in readers.jails.iter_mut().zip(&matches) {
                if !want.matches(entry.unit.as_deref(), entry.identifier.as_deref()) {
                    continue;
                }
                let jail = *jail;
                let events = &readers.events;
                let mut matched = false;
                m.feed_journal_each(&entry, t, &mut |host| {
                    matched = true;
                    let seen = std::time::Instant::now();
                    let _ = events.send(super::readers::Event::Hit { jail, host, seen });
                });
                readers.counters.line(jail, matched);
            }
        };
        loop {
            match out.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => lines.feed(&buf[..n], &mut entry_line),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
            report_skipped("the journal", &mut skipped, lines.skipped());
        }
        let status = child.wait();
        eprintln!("palisade watch: journalctl ended ({status:?}): the journal is no longer read");
    });
    Ok(())
}
