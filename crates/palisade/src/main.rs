//! The `palisade` command: parse the command line, run, print errors for the admin.

use palisade::cli::Cli;
use palisade::run::{hint, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    // `palisade status | head` should end quietly, as other command-line tools do.
    // SAFETY: restoring the default disposition of a signal, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match run(Cli::parse_args()) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("palisade: error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            if let Some(hint) = hint(&e) {
                eprintln!("  hint: {hint}");
            }
            ExitCode::from(2)
        }
    }
}
