//! The default-deny policy in the kernel: lowering, the apply transaction, saved state,
//! records of what was applied, and the commands.

pub mod apply;
pub mod cmd;
pub mod facts;
pub mod lower;
pub mod records;
pub mod saved;
