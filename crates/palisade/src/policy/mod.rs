//! The default-deny policy in the kernel, and its commands.
//!
//! - [`lower`]: the pure core's rules as kernel expressions;
//! - [`apply`]: the one transaction that puts a policy (with its sets) in the kernel, and the
//!   read-back check;
//! - [`saved`]: the saved-state file boot restores; [`records`]: what was applied, the state
//!   before it, a pending confirmation;
//! - [`facts`]: what `check` and `apply` need to know about the host;
//! - [`env`], [`config`], [`membership`]: what the commands share;
//! - the commands: [`check`], [`plan`], [`transitions`] (apply, confirm, rollback, the
//!   confirm timer), [`persist`] (save, restore), [`status`], [`explain`], [`panic`].

pub mod apply;
pub mod check;
pub mod config;
pub mod drift;
pub mod env;
pub mod explain;
pub mod facts;
pub mod intent;
mod line_diff;
pub mod lower;
pub mod membership;
pub mod panic;
pub mod persist;
pub mod plan;
pub mod records;
pub mod saved;
pub mod status;
pub mod transitions;
