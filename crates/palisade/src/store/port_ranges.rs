//! Bans of a range of ports in an address+port set: one kernel element each.
//!
//! A ports set's recent part is a concatenated interval set (the kernel's pipapo), where
//! each field of an element is a range of its own: `ADDR . tcp . 1024-65535` is one
//! element, its end key carrying the last address and the last port. Written port by
//! port, a jail that bans `1024-65535/tcp` would cost 64,512 elements per ban. The rest of
//! the store groups a set's contents by single port, so these elements are written,
//! read back and removed here, by their exact keys.

use std::time::Duration;

use palisade_core::{AddrRange, Interval, ProtoPort};
use palisade_nft::{Batch, Element, ElementInfo};

use super::edit::is_overlap;
use super::kernel_addr::KernelAddr;
use super::layout::{kernel_name, Part};
use super::{Result, SetDef, Store, StoreError, FAMILY, TABLE};

/// An address (or network) banned on a range of ports of one protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRangeElement {
    pub addr: AddrRange,
    pub proto: u8,
    pub first_port: u16,
    pub last_port: u16,
    /// Time left; `None`: no timeout.
    pub remaining: Option<Duration>,
    pub comment: Option<String>,
}

/// One as the kernel holds it: with its timeout and the time it has left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldPortRange {
    pub element: PortRangeElement,
    pub timeout_ms: Option<u64>,
    pub expires_ms: Option<u64>,
}

impl Store {
    /// Add each item as one element of the set's recent part. Where the kernel refuses one
    /// because an element it holds overlaps it (the same address banned by two jails on
    /// overlapping ranges, or a ban restored over its own earlier copy), an element of the
    /// same address and protocol is merged with it (the ports' union, the longer time); an
    /// item an element already covers is left out.
    pub fn add_port_ranges(&mut self, def: &SetDef, items: &[PortRangeElement]) -> Result<()> {
        let fast = self.transaction(|_, b| {
            stage_family::<u32>(b, &def.name, items, false);
            stage_family::<u128>(b, &def.name, items, false);
            Ok(())
        });
        match fast {
            Err(StoreError::Kernel(e)) if is_overlap(&e) => self.retry_on_change(
                |store, gen| {
                    let held = store.port_ranges(def)?;
                    let (remove, add) = merge(&held, items);
                    let mut b = store.batch(gen);
                    stage_family::<u32>(&mut b, &def.name, &remove, true);
                    stage_family::<u128>(&mut b, &def.name, &remove, true);
                    stage_family::<u32>(&mut b, &def.name, &add, false);
                    stage_family::<u128>(&mut b, &def.name, &add, false);
                    store.commit(b).map(drop)
                },
                StoreError::is_generation_change,
            ),
            other => other,
        }
    }

    /// The elements of the set's recent part, ports as ranges (a single port is a range
    /// of one).
    pub fn port_ranges(&mut self, def: &SetDef) -> Result<Vec<HeldPortRange>> {
        let mut out = Vec::new();
        self.read_family::<u32>(&def.name, &mut out)?;
        self.read_family::<u128>(&def.name, &mut out)?;
        Ok(out)
    }

    /// Remove every element of the set's recent part whose address overlaps one of
    /// `targets`, whatever its ports; how many went.
    pub fn del_port_ranges_of(&mut self, def: &SetDef, targets: &[AddrRange]) -> Result<usize> {
        self.retry_on_change(
            |store, gen| {
                let held = store.port_ranges(def)?;
                let gone: Vec<PortRangeElement> = held
                    .into_iter()
                    .map(|h| h.element)
                    .filter(|e| targets.iter().any(|t| overlaps(e.addr, *t)))
                    .collect();
                if !gone.is_empty() {
                    let mut b = store.batch(gen);
                    stage_family::<u32>(&mut b, &def.name, &gone, true);
                    stage_family::<u128>(&mut b, &def.name, &gone, true);
                    store.commit(b)?;
                }
                Ok(gone.len())
            },
            StoreError::is_generation_change,
        )
    }

    fn read_family<T: KernelAddr>(&mut self, set: &str, out: &mut Vec<HeldPortRange>) -> Result<()>
    where
        AddrRange: From<Interval<T>>,
    {
        let mut elems = Vec::new();
        self.nl
            .elements(FAMILY, TABLE, &kernel_name::<T>(set, Part::Recent), |e| {
                elems.push(e)
            })?;
        out.extend(elems.into_iter().filter_map(decode::<T>));
        Ok(())
    }
}

/// The element's keys: first address and port, last address and port.
fn element<'a, T: KernelAddr>(iv: Interval<T>, e: &'a PortRangeElement) -> Element<'a> {
    let at = |port| ProtoPort {
        proto: e.proto,
        port,
    };
    Element {
        key_end: Some(iv.last.key_with_port(at(e.last_port))),
        timeout_ms: e.remaining.map(|d| d.as_millis().max(1) as u64),
        comment: e.comment.as_deref(),
        ..Element::key(iv.first.key_with_port(at(e.first_port)))
    }
}

fn stage_family<T: KernelAddr>(b: &mut Batch, set: &str, items: &[PortRangeElement], delete: bool) {
    let elems: Vec<Element<'_>> = items
        .iter()
        .filter_map(|e| Some(element(T::of(e.addr)?, e)))
        .collect();
    if elems.is_empty() {
        return;
    }
    let name = kernel_name::<T>(set, Part::Recent);
    if delete {
        // A deletion names the element by its keys alone.
        let keys = elems.into_iter().map(|e| Element {
            timeout_ms: None,
            comment: None,
            ..e
        });
        b.del_elements(FAMILY, TABLE, &name, keys);
    } else {
        b.add_elements(FAMILY, TABLE, &name, false, elems);
    }
}

fn decode<T: KernelAddr>(e: ElementInfo) -> Option<HeldPortRange>
where
    AddrRange: From<Interval<T>>,
{
    let end = e.key_end.as_ref()?;
    let (proto, first_port) = e.key.proto_port()?;
    let (_, last_port) = end.proto_port()?;
    let range = Interval::new(
        T::from_bits(e.key.addr_bits()?),
        T::from_bits(end.addr_bits()?),
    )?;
    Some(HeldPortRange {
        element: PortRangeElement {
            addr: AddrRange::from(range),
            proto,
            first_port,
            last_port,
            remaining: e.expiration_ms.map(Duration::from_millis),
            comment: e.comment,
        },
        timeout_ms: e.timeout_ms,
        expires_ms: e.expiration_ms,
    })
}

fn overlaps(a: AddrRange, b: AddrRange) -> bool {
    match (a, b) {
        (AddrRange::V4(x), AddrRange::V4(y)) => x.first <= y.last && y.first <= x.last,
        (AddrRange::V6(x), AddrRange::V6(y)) => x.first <= y.last && y.first <= x.last,
        _ => false,
    }
}

/// What to remove and add so that `items` join what the kernel holds: an item covered
/// by an element (its address range and ports inside, no shorter-lived) is dropped; one
/// that overlaps elements of the same address range and protocol replaces them with their
/// union and the longest time. (An item overlapping an element of another address range
/// cannot be merged without splitting; it is dropped, and what the kernel holds stays.)
pub(crate) fn merge(
    held: &[HeldPortRange],
    items: &[PortRangeElement],
) -> (Vec<PortRangeElement>, Vec<PortRangeElement>) {
    let lasts = |r: Option<Duration>| r.map_or(Duration::MAX, |d| d);
    let (mut remove, mut add) = (Vec::new(), Vec::new());
    for item in items {
        let overlapping: Vec<&PortRangeElement> = held
            .iter()
            .map(|h| &h.element)
            .filter(|h| {
                h.proto == item.proto
                    && overlaps(h.addr, item.addr)
                    && h.first_port <= item.last_port
                    && item.first_port <= h.last_port
            })
            .collect();
        let covered = overlapping.iter().any(|h| {
            contains(h.addr, item.addr)
                && h.first_port <= item.first_port
                && item.last_port <= h.last_port
                && lasts(h.remaining) >= lasts(item.remaining)
        });
        if covered {
            continue;
        }
        if overlapping.iter().any(|h| h.addr != item.addr) {
            continue;
        }
        let mut merged = item.clone();
        for h in &overlapping {
            merged.first_port = merged.first_port.min(h.first_port);
            merged.last_port = merged.last_port.max(h.last_port);
            if lasts(h.remaining) > lasts(merged.remaining) {
                merged.remaining = h.remaining;
            }
            remove.push((*h).clone());
        }
        add.push(merged);
    }
    (remove, add)
}

fn contains(outer: AddrRange, inner: AddrRange) -> bool {
    match (outer, inner) {
        (AddrRange::V4(x), AddrRange::V4(y)) => x.first <= y.first && y.last <= x.last,
        (AddrRange::V6(x), AddrRange::V6(y)) => x.first <= y.first && y.last <= x.last,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(addr: &str, ports: (u16, u16), secs: Option<u64>) -> PortRangeElement {
        PortRangeElement {
            addr: palisade_core::parse_addr_range(addr, false).unwrap(),
            proto: 6,
            first_port: ports.0,
            last_port: ports.1,
            remaining: secs.map(Duration::from_secs),
            comment: None,
        }
    }

    fn held(e: PortRangeElement) -> HeldPortRange {
        HeldPortRange {
            element: e,
            timeout_ms: None,
            expires_ms: None,
        }
    }

    #[test]
    fn overlapping_ranges_of_one_address_merge_covered_ones_are_left_out() {
        let kernel = [held(el("192.0.2.1", (8000, 8100), Some(100)))];
        let (remove, add) = merge(&kernel, &[el("192.0.2.1", (8050, 9000), Some(50))]);
        assert_eq!(remove, [el("192.0.2.1", (8000, 8100), Some(100))]);
        assert_eq!(add, [el("192.0.2.1", (8000, 9000), Some(100))]);
        let (remove, add) = merge(&kernel, &[el("192.0.2.1", (8010, 8020), Some(10))]);
        assert!(remove.is_empty() && add.is_empty(), "covered");
        let (remove, add) = merge(&kernel, &[el("192.0.2.1", (8010, 8020), None)]);
        assert_eq!(remove.len(), 1, "a permanent ban outlives the element");
        assert_eq!(add, [el("192.0.2.1", (8000, 8100), None)]);
        let (_, add) = merge(&kernel, &[el("192.0.2.2", (8000, 8100), Some(1))]);
        assert_eq!(
            add,
            [el("192.0.2.2", (8000, 8100), Some(1))],
            "another address"
        );
    }
}
