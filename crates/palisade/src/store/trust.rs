//! Whether a set cache can be trusted: proven by the journal, or by kernel lookups.
//!
//! See [`super::cache`] for why the cache exists and what it must prove.

use super::error::Result;
use super::kernel_addr::{self, KernelAddr};
use super::layout::{expected_kernel_counts, stamp_name, Part};
use super::{cache, SetDef, Store, FAMILY, TABLE};
use palisade_core::Contents;
use palisade_nft::Element;

impl Store {
    /// The contents of the last load, if they are provably what the loaded parts hold (see
    /// [`cache`]): the file is whole, the set's stamp still holds its token, the element counts
    /// match, and either every ruleset change since was palisade's own or lookups of every
    /// cached element find it (after a change by another tool, which may not have touched this
    /// set: linear, where a dump would be quadratic). A dynamic set's singles change by the
    /// kernel's own doing, so its cache is never trusted.
    pub(super) fn cached_load(&mut self, name: &str) -> Result<Option<Contents>> {
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
        let generation = self.nl.generation()?;
        if self.load_token(name)? != Some(stamp.token) || !self.counts_match(name, &contents)? {
            return Ok(None);
        }
        let ours = self
            .journal
            .as_ref()
            .is_some_and(|j| j.only_ours(stamp.generation, generation));
        if ours {
            return Ok(Some(contents));
        }
        if !self.holds_all_of(name, &contents)? {
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

    /// The element counts the kernel reports for the loaded parts are those of `contents`, and
    /// the set is not one the kernel adds to by itself.
    fn counts_match(&mut self, name: &str, contents: &Contents) -> Result<bool> {
        let (ranges, singles) = contents.split_singles();
        let mut expected = Vec::new();
        for (part, c) in [(Part::Bulk, &ranges), (Part::Singles, &singles)] {
            let (n4, n6) = expected_kernel_counts(c, part);
            expected.push((super::kernel_name::<u32>(name, part), n4));
            expected.push((super::kernel_name::<u128>(name, part), n6));
        }
        let infos = self.set_infos()?;
        if infos
            .iter()
            .filter_map(SetDef::from_kernel)
            .any(|d| d.name == name && d.dynamic)
        {
            return Ok(false);
        }
        Ok(infos.iter().all(|info| {
            expected
                .iter()
                .find(|(n, _)| *n == info.name)
                .is_none_or(|(_, want)| info.count.is_none_or(|c| c as usize == *want))
        }))
    }

    /// Kernel lookups find every element the loaded parts should hold for `contents`.
    /// Address+port sets are not checked this way (their lookups match ranges, not elements).
    fn holds_all_of(&mut self, name: &str, contents: &Contents) -> Result<bool> {
        if contents.port_kinds().0 {
            return Ok(false);
        }
        let (ranges, singles) = contents.split_singles();
        let extras = kernel_addr::Extras::default();
        let checks: [(String, Vec<Element<'_>>); 4] = [
            (
                super::kernel_name::<u32>(name, Part::Bulk),
                ranges
                    .ranges()
                    .filter_map(|(a, _)| u32::of(a))
                    .flat_map(|iv| kernel_addr::elements(iv, None, extras))
                    .collect(),
            ),
            (
                super::kernel_name::<u128>(name, Part::Bulk),
                ranges
                    .ranges()
                    .filter_map(|(a, _)| u128::of(a))
                    .flat_map(|iv| kernel_addr::elements(iv, None, extras))
                    .collect(),
            ),
            (
                super::kernel_name::<u32>(name, Part::Singles),
                singles
                    .ranges()
                    .filter_map(|(a, _)| u32::of(a))
                    .flat_map(|iv| kernel_addr::single(iv.first, None, extras))
                    .collect(),
            ),
            (
                super::kernel_name::<u128>(name, Part::Singles),
                singles
                    .ranges()
                    .filter_map(|(a, _)| u128::of(a))
                    .flat_map(|iv| kernel_addr::single(iv.first, None, extras))
                    .collect(),
            ),
        ];
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
        let infos = self.set_infos()?;
        let (ranges, singles) = contents.split_singles();
        let mut wrote = 0;
        let mut holds = 0;
        for (part, c) in [(Part::Bulk, &ranges), (Part::Singles, &singles)] {
            let (n4, n6) = expected_kernel_counts(c, part);
            wrote += n4 + n6;
            for kname in [
                super::kernel_name::<u32>(name, part),
                super::kernel_name::<u128>(name, part),
            ] {
                match infos.iter().find(|i| i.name == kname).and_then(|i| i.count) {
                    Some(n) => holds += n as usize,
                    None => return Ok(None),
                }
            }
        }
        Ok((wrote != holds).then(|| {
            format!(
                "set {name}: changed outside palisade since its last load (its loaded parts hold \
                 {holds} kernel elements, the load wrote {wrote}); the next `set load` or apply \
                 puts the list back"
            )
        }))
    }
}
