//! fail2ban's filter files, read as they are.

mod date;
mod definition;
mod dir_source;
mod error;
mod includes;
mod ini;
mod interpolate;
pub mod pyregex;
mod source;
mod sourced;
mod spec;
mod tags;

pub use dir_source::DirSource;
pub use error::{FilterError, SourceError};
pub use source::{FilterSource, MemorySource};
pub use sourced::Origin;
pub use spec::FilterSpec;
