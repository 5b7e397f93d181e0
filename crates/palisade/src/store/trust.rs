//! Whether a set cache can be trusted: proven by the journal, or by kernel lookups.
//!
//! See [`super::cache`] for why the cache exists and what it must prove, and
//! [`super::partition`] for which kernel set holds which of the cached ranges.

use super::error::Result;
use super::kernel_addr::{self, KernelAddr};
use super::layout::{count_in, kernel_name, stamp_name, Part};
use super::partition::{hashed, split, Layout};
use super::{cache, SetDef, Store, FAMILY, TABLE};
use palisade_core::Contents;
use palisade_nft::{Element, SetInfo};

/// Per kernel set of one family: (name, elements `contents` puts there).
fn expected_family<T: KernelAddr>(name: &str, layout: &Layout<T>) -> Vec<(String, usize)> {
    layout
        .iter()
        .map(|(part, groups)| (kernel_name::<T>(name, *part), count_in(*part, groups)))
        .collect()
}

/// The kernel elements `layout` puts in each part of one family.
fn elements_family<'a, T: KernelAddr>(
    name: &str,
    layout: &Layout<T>,
) -> Vec<(String, Vec<Element<'a>>)> {
    let extras = kernel_addr::Extras::default();
    layout
        .iter()
        .map(|(part, groups)| {
            let elems = groups
                .iter()
                .flat_map(|(port, set)| {
                    set.iter().flat_map(move |iv| match part {
                        Part::Bulk | Part::Recent => kernel_addr::elements(*iv, *port, extras),
                        _ => kernel_addr::single(iv.first, *port, extras),
                    })
                })
                .collect();
            (kernel_name::<T>(name, *part), elems)
        })
        .collect()
}

impl Store {
    /// The contents of the last load, if they are provably what the loaded parts hold (see
    /// [`cache`]): the file is whole, the set's stamp still holds its token, the element counts
    /// match, and either every ruleset change since was palisade's own or lookups of every
    /// cached element find it (after a change by another tool, which may not have touched this
    /// set: linear, where a dump would be quadratic). A dynamic set's singles change by the
    /// kernel's own doing, so its cache is never trusted.
    pub(super) fn cached_load(&mut self, def: &SetDef) -> Result<Option<Contents>> {
        let name = &def.name;
        let Some(path) = self.cache_path(name) else {
            return Ok(None);
        };
        let Some((stamp, contents)) = cache::read(&path) else {
            return Ok(None);
        };
        match &self.journal {
            Some(j) if *j.origin() == stamp.origin => {}
            _ => return Ok(None),
        }
        if def.dynamic {
            return Ok(None);
        }
        let generation = self.nl.generation()?;
        if self.load_token(name)? != Some(stamp.token) || !self.counts_match(def, &contents)? {
            return Ok(None);
        }
        let ours = self
            .journal
            .as_ref()
            .is_some_and(|j| j.only_ours(stamp.generation, generation));
        if ours {
            return Ok(Some(contents));
        }
        if !self.holds_all_of(def, &contents)? {
            return Ok(None);
        }
        // Proven at `generation` (read before the lookups): later reads start from there.
        let proven = cache::Stamp {
            generation,
            ..stamp
        };
        let _ = cache::write(&path, &proven, &contents);
        Ok(Some(contents))
    }

    /// The token the set's last load left in its stamp, while nothing else changed its
    /// loaded parts (every other change clears the stamp): a cheap "is this still the list
    /// that was loaded", for the cache and for pollers such as the fleet's list publisher.
    pub fn load_token(&mut self, name: &str) -> Result<Option<u32>> {
        let mut token = None;
        self.nl.elements(FAMILY, TABLE, &stamp_name(name), |e| {
            token = e.key.as_bytes().try_into().ok().map(u32::from_be_bytes)
        })?;
        Ok(token)
    }

    /// The kernel sets of the loaded parts are exactly those `contents` needs, each with the
    /// element count the kernel reports, where it does.
    fn counts_match(&mut self, def: &SetDef, contents: &Contents) -> Result<bool> {
        let infos = self.set_infos()?;
        Ok(self.count_mismatch(def, contents, &infos).is_none())
    }

    /// What differs between the element counts `contents` needs and the kernel's: `None`
    /// when they agree (or the kernel does not report counts).
    pub(super) fn count_mismatch(
        &self,
        def: &SetDef,
        contents: &Contents,
        infos: &[SetInfo],
    ) -> Option<(usize, usize)> {
        let (s4, s6) = split(contents, hashed(def));
        let mut expected = expected_family::<u32>(&def.name, &s4.layout());
        expected.extend(expected_family::<u128>(&def.name, &s6.layout()));
        // Every loaded part the kernel has must be expected (the fixed parts may be empty).
        let loaded_parts = |n: &str| {
            [Part::Bulk, Part::Singles].iter().any(|p| {
                n == kernel_name::<u32>(&def.name, *p) || n == kernel_name::<u128>(&def.name, *p)
            }) || def
                .parts::<u32>()
                .iter()
                .chain(&def.parts::<u128>())
                .any(|p| {
                    matches!(p, Part::Prefix(_))
                        && (n == kernel_name::<u32>(&def.name, *p)
                            || n == kernel_name::<u128>(&def.name, *p))
                })
        };
        let (mut wrote, mut holds) = (0, 0);
        let mut differs = false;
        for info in infos.iter().filter(|i| loaded_parts(&i.name)) {
            let want = expected
                .iter()
                .find(|(n, _)| *n == info.name)
                .map_or(0, |e| e.1);
            wrote += want;
            match info.count {
                Some(c) => {
                    holds += c as usize;
                    differs |= c as usize != want;
                }
                None => holds += want,
            }
        }
        // A part the contents need that the kernel lacks.
        for (n, want) in &expected {
            if *want > 0 && !infos.iter().any(|i| &i.name == n) {
                differs = true;
                wrote += want;
            }
        }
        differs.then_some((wrote, holds))
    }

    /// Kernel lookups find every element the loaded parts should hold for `contents`.
    /// Address+port sets are not checked this way (their lookups match ranges, not elements).
    fn holds_all_of(&mut self, def: &SetDef, contents: &Contents) -> Result<bool> {
        if contents.port_kinds().0 {
            return Ok(false);
        }
        let (s4, s6) = split(contents, hashed(def));
        let mut checks = elements_family::<u32>(&def.name, &s4.layout());
        checks.extend(elements_family::<u128>(&def.name, &s6.layout()));
        for (set, elements) in checks {
            if !elements.is_empty() && !self.nl.holds_all(FAMILY, TABLE, &set, &elements)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether the set's loaded parts were changed outside palisade since its last load, as
    /// far as the element counts the kernel reports tell (cheap: nothing is dumped). `Some`
    /// says what differs.
    pub fn loaded_drift(&mut self, name: &str) -> Result<Option<String>> {
        let Some((_, contents)) = self.cache_path(name).and_then(|p| cache::read(&p)) else {
            return Ok(None);
        };
        let def = self.get(name)?;
        if def.dynamic {
            return Ok(None);
        }
        let infos = self.set_infos()?;
        Ok(self
            .count_mismatch(&def, &contents, &infos)
            .map(|(wrote, holds)| {
                format!(
                    "set {name}: changed outside palisade since its last load (its loaded parts hold \
                     {holds} kernel elements, the load wrote {wrote}); the next `set load` or apply \
                     puts the list back"
                )
            }))
    }
}
