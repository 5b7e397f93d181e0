//! The policy config read, validated and compiled, with the sets it declares and its lints.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use palisade_core::policy::{
    compile, lint, parse_config, HostFacts, Policy, Ruleset, Services, SetDecl, Severity,
};
use palisade_core::{Contents, Format, ParseOptions};

use super::apply::DesiredSet;
use super::facts;
use super::membership::PlannedSets;
use crate::state::StateDir;
use crate::store::{BlockAction, SetDef};

/// A config read, validated and compiled.
pub struct Compiled {
    pub file: String,
    pub policy: Policy,
    pub ruleset: Ruleset,
}

/// The services table palisade resolves names with: its built-ins, then `/etc/services`.
pub fn services() -> Services {
    Services::new(&std::fs::read_to_string("/etc/services").unwrap_or_default())
}

/// Read, validate and compile the config at `path` for this host.
pub fn read_config(path: &Path, facts: &HostFacts) -> Result<Compiled> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config {file} (choose another with -c FILE)"))?;
    let policy = parse_config(&file, &text, &services())?;
    let ruleset = compile(&policy, &facts::context(facts));
    Ok(Compiled {
        file,
        policy,
        ruleset,
    })
}

/// The kernel-side definition of a set the config declares.
pub fn set_def(decl: &palisade_core::policy::SetDecl) -> SetDef {
    use palisade_core::policy::SetAction;
    SetDef {
        name: decl.name.clone(),
        with_ports: false,
        block: match decl.action {
            SetAction::Drop => Some(BlockAction::Drop),
            SetAction::Reject => Some(BlockAction::Reject),
            SetAction::Allow => Some(BlockAction::Allow),
            SetAction::Accept | SetAction::None => None,
        },
        default_timeout: decl.timeout_secs.map(Duration::from_secs),
        dynamic: decl.dynamic,
        direction: decl.direction,
        prefixes: Default::default(),
    }
}

/// The directory a config's relative set files are read from: the config's own.
pub fn config_dir(p: &Path) -> PathBuf {
    p.parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The sets the config declares, with their contents (see [`declared_contents`]).
pub fn desired_sets(c: &Compiled, base: &Path, state: &StateDir) -> Result<Vec<DesiredSet>> {
    let mut out = Vec::new();
    for decl in &c.ruleset.sets {
        out.push(DesiredSet {
            def: set_def(decl),
            loaded: declared_contents(c, decl, base, state)?,
            recent: None,
        });
    }
    Ok(out)
}

/// What a declared set holds: its files and inline elements, the last good copies of its
/// feeds, and the networks of its countries and AS numbers. The one definition `apply` and
/// the feed and geolocation updaters share, so neither drops what the others put in.
pub fn declared_contents(
    c: &Compiled,
    decl: &SetDecl,
    base: &Path,
    state: &StateDir,
) -> Result<Contents> {
    let files: Vec<PathBuf> = decl.files.iter().map(|f| base.join(f)).collect();
    let parsed =
        crate::lists::read_lists(&files, Format::Auto, ParseOptions::default(), false, false)
            .with_context(|| format!("set {} in {}", decl.name, c.file))?;
    let mut contents = parsed.contents;
    let inline = Contents::from_ranges(decl.elements.iter().map(|a| (*a, None)));
    let feeds = crate::feeds::copies::last_good(&state.feeds(), decl)?;
    let geo = crate::geo::contents_for(decl, &crate::geo::resolve(&c.policy.geo, base))
        .with_context(|| format!("in {}", c.file))?;
    for more in [inline, feeds, geo] {
        if !more.is_empty() {
            contents = contents.union(&more);
        }
    }
    Ok(contents)
}

/// Print the config's lints; returns how many are warnings.
pub fn print_lints(c: &Compiled, facts: &HostFacts, sets: &PlannedSets<'_>) -> usize {
    let lints = lint(&c.policy, &c.ruleset, facts, &sets.block_sets(), sets);
    for l in &lints {
        let label = match l.severity {
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        eprintln!("{}: {label}: {}", c.file, l.message);
    }
    lints
        .iter()
        .filter(|l| l.severity == Severity::Warning)
        .count()
}
