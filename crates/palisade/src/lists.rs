//! Reading list files into set contents: streaming, with a progress bar on a terminal.

use palisade_core::{Contents, ContentsBuilder, Format, LineError, ListReader, ParseOptions};
use std::fs::File;
use std::io::{BufReader, IsTerminal, Read};
use std::path::Path;

/// Counts the bytes a reader hands out, for the progress bar.
struct Counting<R> {
    inner: R,
    bar: Option<indicatif::ProgressBar>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
        Ok(n)
    }
}

/// Invalid lines kept to report: a binary file skipped line by line must not fill memory.
pub const KEPT_ERRORS: usize = 100;

/// What reading the files gave.
pub struct Parsed {
    pub contents: Contents,
    pub entries: u64,
    /// The first invalid lines (at most [`KEPT_ERRORS`]), when skipping them was asked for.
    pub skipped: Vec<LineError>,
    /// How many invalid lines were skipped in all.
    pub skipped_count: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot open {path}: {err}")]
    Open { path: String, err: std::io::Error },
    /// Shown once: the line error says everything (file, line, content, problem).
    #[error(transparent)]
    Line(#[from] LineError),
}

/// Read every file into one set of contents. The first bad line is an error (naming file,
/// line and content) unless `skip_invalid`, and then nothing is applied by the caller.
pub fn read_lists(
    files: &[impl AsRef<Path>],
    format: Format,
    opts: ParseOptions,
    skip_invalid: bool,
    progress: bool,
) -> Result<Parsed, ReadError> {
    let mut builder = ContentsBuilder::default();
    let mut skipped = Vec::new();
    let mut skipped_count = 0u64;
    for path in files {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = File::open(path).map_err(|err| ReadError::Open {
            path: name.clone(),
            err,
        })?;
        let bar = (progress && std::io::stderr().is_terminal()).then(|| {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            let bar = indicatif::ProgressBar::new(len);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(name.clone());
            bar
        });
        let reader = BufReader::with_capacity(
            1 << 16,
            Counting {
                inner: file,
                bar: bar.clone(),
            },
        );
        for item in ListReader::new(name.clone(), reader, format, opts) {
            match item {
                Ok(e) => builder.push(e.addr, e.port),
                Err(e) if skip_invalid => {
                    skipped_count += 1;
                    if skipped.len() < KEPT_ERRORS {
                        skipped.push(e);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    }
    let entries = builder.entries();
    Ok(Parsed {
        contents: builder.build(),
        entries,
        skipped,
        skipped_count,
    })
}
