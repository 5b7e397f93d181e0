//! `palisade generate`: the man page and shell completions, from the clap definitions, so
//! they can never disagree with the flags the binary takes.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, Generated};

/// Write what was asked for to `out`.
pub fn generate(what: Generated, out: &mut dyn Write) -> Result<()> {
    let mut cmd = Cli::command();
    match what {
        Generated::Man => {
            let man = clap_mangen::Man::new(cmd)
                .section("8")
                .manual("System Administration");
            man.render(out)?;
        }
        Generated::Bash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "palisade", out)
        }
        Generated::Zsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "palisade", out)
        }
        Generated::Fish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "palisade", out)
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(what: Generated) -> String {
        let mut out = Vec::new();
        generate(what, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn man_page_is_section_8_and_lists_the_commands() {
        let man = text(Generated::Man);
        assert!(
            man.contains(".TH palisade 8"),
            "{}",
            &man[..200.min(man.len())]
        );
        for cmd in ["apply", "explain", "watch", "set"] {
            assert!(man.contains(cmd), "man page lacks {cmd}");
        }
    }

    #[test]
    fn completions_know_the_subcommands_and_choices() {
        let bash = text(Generated::Bash);
        assert!(bash.contains("complete") && bash.contains("explain"));
        assert!(bash.contains("icmpv6"), "value choices are completed");
        assert!(text(Generated::Zsh).contains("#compdef palisade"));
        assert!(text(Generated::Fish).contains("complete -c palisade"));
    }
}
