//! From merged files and the jail's `name[opt=val]` to the filter's final options, the way
//! fail2ban's `FilterReader` computes them:
//!
//! 1. the options given with the name win over everything, and are visible to `%(...)s`;
//! 2. `[Definition]`'s `failregex`, `prefregex`, `ignoreregex`, `maxlines`, `datepattern`,
//!    `usedns`, `journalmatch` are read with `%(...)s` expanded;
//! 3. each `[Init]` option is added unless given with the name (and also as
//!    `known/<name>`);
//! 4. `<tag>`s are substituted across all of them ([`crate::tags`]), names not among them
//!    being looked up in `[Definition]` and `[DEFAULT]`.
//!
//! `logtype` defaults to `file`, as fail2ban sets it for file backends (`journal` is set by
//! the caller for journal sources, which changes `__prefix_line` in `common.conf`).

use std::collections::HashMap;

use crate::error::FilterError;
use crate::includes::Config;
use crate::ini::Options;
use crate::interpolate::Lookup;
use crate::sourced::{Origin, SourcedText};
use crate::spec::FilterSpec;
use crate::tags::substitute_tags;

/// The options of `[Definition]` that make a filter.
const FILTER_OPTIONS: &[&str] = &[
    "usedns",
    "prefregex",
    "ignoreregex",
    "failregex",
    "maxlines",
    "datepattern",
    "journalmatch",
];

/// A filter's final options, with where each part was written.
#[derive(Clone, Debug, Default)]
pub struct Definition {
    pub prefregex: Option<SourcedText>,
    /// Non-empty lines of `failregex`.
    pub failregex: Vec<SourcedText>,
    pub ignoreregex: Vec<SourcedText>,
    pub maxlines: usize,
    pub datepattern: Option<SourcedText>,
    pub journalmatch: Option<String>,
    pub logtype: String,
    pub usedns: Option<String>,
}

pub fn resolve_definition(config: &Config, spec: &FilterSpec) -> Result<Definition, FilterError> {
    let lookup = Lookup::new(config);
    let origin = Origin::filter_options();
    let mut init: Vec<(String, SourcedText)> = spec
        .options
        .iter()
        .map(|(k, v)| (k.clone(), SourcedText::plain(v, &origin)))
        .collect();
    let own_logtype = config
        .sections
        .get("Definition")
        .is_some_and(|d| d.contains_key("logtype"));
    if !own_logtype && !init.iter().any(|(k, _)| k == "logtype") {
        init.push(("logtype".into(), SourcedText::plain("file", &origin)));
    }
    let vars: Options = init
        .iter()
        .map(|(k, v)| (k.to_lowercase(), v.clone()))
        .collect();

    let mut combined: Vec<(String, SourcedText)> = Vec::new();
    for name in FILTER_OPTIONS {
        if vars.contains_key(*name) {
            continue;
        }
        if let Some(v) = lookup.get("Definition", name, Some(&vars))? {
            combined.push((name.to_string(), v));
        }
    }
    if let Some(own) = config.sections.get("Init") {
        for opt in own.keys() {
            let Some(v) = lookup.get("Init", opt, None)? else {
                continue;
            };
            if !opt.starts_with("known/") {
                set(&mut init, &format!("known/{opt}"), v.clone());
            }
            if !init.iter().any(|(k, _)| k == opt) {
                init.push((opt.clone(), v));
            }
        }
    }
    for (k, v) in init {
        set(&mut combined, &k, v);
    }

    let mut cache: HashMap<String, Option<SourcedText>> = HashMap::new();
    substitute_tags(&mut combined, &mut |name| {
        if let Some(hit) = cache.get(name) {
            return Ok(hit.clone());
        }
        let v = lookup.get_ex("Definition", name, Some(&vars))?;
        cache.insert(name.to_string(), v.clone());
        Ok(v)
    })?;

    let take = |name: &str| {
        combined
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let lines = |v: Option<SourcedText>| -> Vec<SourcedText> {
        v.map(|v| {
            v.split_lines()
                .into_iter()
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default()
    };
    let maxlines = match take("maxlines") {
        None => 1,
        Some(v) => {
            let text = v.as_str().trim();
            match text.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    let at = v.origin_or_options(0);
                    return Err(FilterError::config(
                        &at,
                        format!("maxlines = `{text}`: must be a whole number of lines, at least 1"),
                    ));
                }
            }
        }
    };
    Ok(Definition {
        prefregex: take("prefregex").filter(|v| !v.as_str().trim().is_empty()),
        failregex: lines(take("failregex")),
        ignoreregex: lines(take("ignoreregex")),
        maxlines,
        datepattern: take("datepattern").filter(|v| !v.as_str().trim().is_empty()),
        journalmatch: take("journalmatch").map(|v| v.as_str().to_string()),
        logtype: match take("logtype") {
            Some(v) => v.as_str().to_string(),
            None => lookup
                .get_ex("Definition", "logtype", Some(&vars))?
                .map_or_else(|| "file".to_string(), |v| v.as_str().to_string()),
        },
        usedns: take("usedns").map(|v| v.as_str().to_string()),
    })
}

/// Sets `key` in an ordered option list (replacing in place, like a Python dict).
fn set(list: &mut Vec<(String, SourcedText)>, key: &str, value: SourcedText) {
    match list.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => list.push((key.to_string(), value)),
    }
}
