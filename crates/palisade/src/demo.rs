//! `palisade demo`.
use crate::cli::DemoArgs;
use crate::commands::Out;
pub fn run(_a: DemoArgs, _out: Out) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
