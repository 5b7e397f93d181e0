//! Flags of `palisade otp`.

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum OtpCommand {
    /// Print a new password sheet and store its hashes in ~/.otpw (replacing the old sheet).
    Gen(OtpGenArgs),
    /// Passwords left, and whether a login holds the lock.
    Status(OtpUserArgs),
}

#[derive(Args, Debug)]
pub struct OtpGenArgs {
    /// Passwords on the sheet (1 to 1000; 280 fill one page).
    #[arg(long, default_value_t = 280)]
    pub count: usize,
    /// Write the hash file here instead of the user's ~/.otpw.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Replace an existing hash file without asking.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub user: OtpUserArgs,
}

#[derive(Args, Debug)]
pub struct OtpUserArgs {
    /// Whose passwords (root only; default: yourself).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
}
