//! The timestamp fail2ban removes from a line before matching (see [`detector`]).

mod detector;
mod template;

pub use detector::DateDetector;
