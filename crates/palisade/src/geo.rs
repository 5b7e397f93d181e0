//! Country and AS sets: a set declared with `countries = ["XX"]` or `asns = [N]` holds the
//! networks an MMDB database (DB-IP Lite or GeoLite2, provided by the admin under `[geo]`)
//! gives those countries or autonomous systems, IPv4 and IPv6.
//!
//! Why here and how: palisade never downloads the database itself (the free ones need an
//! account or a licence acceptance, and an admin decides which to trust); it reads the file
//! given, with the maintained `maxminddb` reader, walking every network once. Records are
//! shared by many networks, so whether a record matches is decided once per record (by its
//! data offset), not once per network. A country is the record's `country`, else its
//! `registered_country` (anycast and satellite networks have only the latter). The set's
//! contents are computed whenever the set's contents are (at `apply`, `check`, `plan`, and
//! by `palisade serve` when the file changes): [`contents_for`] is the one entry point.
//!
//! A country code or AS number with no network at all in the file is an error, not an empty
//! set: it is a typo, or the wrong kind of database, and an admin who asked to block a
//! country must not believe it blocked while nothing is.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{path, Reader, WithinOptions};
use palisade_core::policy::{GeoFiles, SetDecl};
use palisade_core::{AddrRange, Contents, ContentsBuilder, Interval};

#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("set {set}: {what} needs a database: add [geo] {key} = \"/path/to/file.mmdb\" (DB-IP Lite or GeoLite2) to the config")]
    NoDatabase {
        set: String,
        what: &'static str,
        key: &'static str,
    },
    #[error("cannot read the geolocation database {path}: {err}")]
    Open { path: String, err: String },
    #[error("{path}: damaged or not an MMDB database ({err})")]
    Damaged { path: String, err: String },
    #[error("set {set}: {missing} has no network in {path}: a typo, or not the right kind of database (countries need a country or city database, asns an ASN database)")]
    NotFound {
        set: String,
        missing: String,
        path: String,
    },
}

/// `[geo]` with relative paths taken from `base` (the config's directory).
pub fn resolve(files: &GeoFiles, base: &Path) -> GeoFiles {
    let at = |p: &Option<String>| p.as_ref().map(|p| base.join(p).display().to_string());
    GeoFiles {
        database: at(&files.database),
        asn_database: at(&files.asn_database),
    }
}

/// The database files a set's contents depend on (to notice when they change).
pub fn files_of(decl: &SetDecl, files: &GeoFiles) -> Vec<PathBuf> {
    let Some(geo) = &decl.geo else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if !geo.countries.is_empty() {
        out.extend(files.database.as_ref().map(PathBuf::from));
    }
    if !geo.asns.is_empty() {
        out.extend(asn_file(files).map(PathBuf::from));
    }
    out
}

/// The AS numbers come from `asn_database`, else from `database` (a combined file).
fn asn_file(files: &GeoFiles) -> Option<&String> {
    files.asn_database.as_ref().or(files.database.as_ref())
}

fn open(path: &str) -> Result<Reader<Vec<u8>>, GeoError> {
    let bytes = std::fs::read(path).map_err(|e| GeoError::Open {
        path: path.to_string(),
        err: e.to_string(),
    })?;
    Reader::from_source(bytes).map_err(|e| damaged(path, e))
}

/// A record's country: `country`, else `registered_country`.
fn country_of_record<S: AsRef<[u8]>>(
    r: &maxminddb::LookupResult<'_, S>,
) -> Result<Option<String>, maxminddb::MaxMindDbError> {
    match r.decode_path::<String>(&path!["country", "iso_code"])? {
        Some(c) => Ok(Some(c)),
        None => r.decode_path(&path!["registered_country", "iso_code"]),
    }
}

fn asn_of_record<S: AsRef<[u8]>>(
    r: &maxminddb::LookupResult<'_, S>,
) -> Result<Option<u32>, maxminddb::MaxMindDbError> {
    r.decode_path(&path!["autonomous_system_number"])
}

/// Every network of the database whose record `key` maps to one of `wanted`; the networks
/// found per wanted key.
fn networks_where<K: Ord + Clone + std::fmt::Display>(
    path: &str,
    wanted: &[K],
    key: impl Fn(&Lookup<'_>) -> Result<Option<K>, maxminddb::MaxMindDbError>,
    out: &mut ContentsBuilder,
) -> Result<BTreeMap<K, u64>, GeoError> {
    let reader = open(path)?;
    let damaged = |e| damaged(path, e);
    let mut found: BTreeMap<K, u64> = wanted.iter().map(|k| (k.clone(), 0)).collect();
    let mut decided: HashMap<usize, Option<K>> = HashMap::new();
    for item in reader.networks(WithinOptions::default()).map_err(damaged)? {
        let r = item.map_err(damaged)?;
        let Some(offset) = r.offset() else { continue };
        let k = match decided.get(&offset) {
            Some(k) => k.clone(),
            None => {
                let k = key(&r).map_err(damaged)?.filter(|k| found.contains_key(k));
                decided.insert(offset, k.clone());
                k
            }
        };
        let Some(k) = k else { continue };
        let net = r.network().map_err(damaged)?;
        if let Some(range) = range_of(net.ip(), net.prefix()) {
            out.push(range, None);
            *found.get_mut(&k).expect("only wanted keys") += 1;
        }
    }
    Ok(found)
}

fn range_of(ip: IpAddr, prefix: u8) -> Option<AddrRange> {
    Some(match ip {
        IpAddr::V4(a) => AddrRange::V4(Interval::from_prefix(u32::from(a), prefix)?),
        IpAddr::V6(a) => AddrRange::V6(Interval::from_prefix(u128::from(a), prefix)?),
    })
}

/// The networks of a set declared with `countries` and/or `asns` (empty for other sets).
pub fn contents_for(decl: &SetDecl, files: &GeoFiles) -> Result<Contents, GeoError> {
    let Some(geo) = &decl.geo else {
        return Ok(Contents::default());
    };
    let mut out = ContentsBuilder::default();
    let missing = |what: &'static str, key: &'static str| GeoError::NoDatabase {
        set: decl.name.clone(),
        what,
        key,
    };
    if !geo.countries.is_empty() {
        let path = files
            .database
            .as_ref()
            .ok_or_else(|| missing("countries", "database"))?;
        let found = networks_where(path, &geo.countries, country_of_record, &mut out)?;
        all_found(&decl.name, found, "country ", path)?;
    }
    if !geo.asns.is_empty() {
        let path = asn_file(files).ok_or_else(|| missing("asns", "asn_database"))?;
        let found = networks_where(path, &geo.asns, asn_of_record, &mut out)?;
        all_found(&decl.name, found, "AS", path)?;
    }
    Ok(out.build())
}

/// An error naming the wanted keys (`country XQ`, `AS64999`) no network of the file has.
fn all_found<K: std::fmt::Display>(
    set: &str,
    found: BTreeMap<K, u64>,
    label: &str,
    path: &str,
) -> Result<(), GeoError> {
    let missing: Vec<String> = found
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| format!("{label}{k}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(GeoError::NotFound {
        set: set.to_string(),
        missing: missing.join(", "),
        path: path.to_string(),
    })
}

/// What the databases say about one address, for `explain`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Place {
    pub country: Option<String>,
    pub asn: Option<u32>,
    pub organization: Option<String>,
}

impl Place {
    /// `in NL, AS64500 (Example Org)`; `None` when nothing is known.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(c) = &self.country {
            parts.push(format!("in {c}"));
        }
        match (&self.asn, &self.organization) {
            (Some(n), Some(o)) => parts.push(format!("AS{n} ({o})")),
            (Some(n), None) => parts.push(format!("AS{n}")),
            _ => {}
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// A looked-up or iterated network of a database held in memory.
type Lookup<'a> = maxminddb::LookupResult<'a, Vec<u8>>;

fn damaged(path: &str, e: maxminddb::MaxMindDbError) -> GeoError {
    GeoError::Damaged {
        path: path.to_string(),
        err: e.to_string(),
    }
}

/// Look `addr` up in the database at `path` and read its record with `read`; `None` when the
/// database has nothing for it.
fn with_record<T>(
    path: &str,
    addr: IpAddr,
    read: impl FnOnce(&Lookup<'_>) -> Result<T, maxminddb::MaxMindDbError>,
) -> Result<Option<T>, GeoError> {
    let reader = open(path)?;
    match reader.lookup(addr) {
        // An IPv6 address in an IPv4-only database: nothing to say.
        Err(_) if addr.is_ipv6() && reader.metadata().ip_version == 4 => Ok(None),
        Err(e) => Err(damaged(path, e)),
        Ok(r) if !r.has_data() => Ok(None),
        Ok(r) => read(&r).map(Some).map_err(|e| damaged(path, e)),
    }
}

/// Look `addr` up in the configured databases.
pub fn place_of(addr: IpAddr, files: &GeoFiles) -> Result<Place, GeoError> {
    let mut place = Place::default();
    if let Some(path) = &files.database {
        place.country = with_record(path, addr, country_of_record)?.flatten();
    }
    if let Some(path) = asn_file(files) {
        let asn = with_record(path, addr, |r| {
            let org: Option<String> = r.decode_path(&path!["autonomous_system_organization"])?;
            Ok((asn_of_record(r)?, org))
        })?;
        if let Some((asn, org)) = asn {
            place.asn = asn;
            place.organization = org;
        }
    }
    Ok(place)
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::policy::GeoDecl;
    use palisade_lab::mmdb::{asn, country, Writer};

    fn decl(countries: &[&str], asns: &[u32]) -> SetDecl {
        SetDecl {
            name: "geo".into(),
            dynamic: false,
            action: palisade_core::policy::SetAction::Drop,
            timeout_secs: None,
            files: Vec::new(),
            elements: Vec::new(),
            direction: Default::default(),
            feed: None,
            geo: Some(GeoDecl {
                countries: countries.iter().map(|c| c.to_string()).collect(),
                asns: asns.to_vec(),
            }),
        }
    }

    fn files(dir: &Path) -> GeoFiles {
        let countries = dir.join("country.mmdb");
        Writer::new("GeoLite2-Country")
            .insert("192.0.2.0/24", country("NL"))
            .insert("198.51.100.0/25", country("NL"))
            .insert("198.51.100.128/25", country("DE"))
            .insert("2001:db8:1::/48", country("NL"))
            .insert("2001:db8:2::/48", country("FR"))
            .write(&countries)
            .unwrap();
        let asns = dir.join("asn.mmdb");
        Writer::new("GeoLite2-ASN")
            .insert("203.0.113.0/24", asn(64500, "Example Org"))
            .insert("2001:db8:9::/48", asn(64500, "Example Org"))
            .insert("192.0.2.0/24", asn(64501, "Other"))
            .write(&asns)
            .unwrap();
        GeoFiles {
            database: Some(countries.display().to_string()),
            asn_database: Some(asns.display().to_string()),
        }
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("palisade-geo-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn text(c: &Contents) -> Vec<String> {
        c.ranges().map(|(r, _)| r.to_string()).collect()
    }

    #[test]
    fn countries_and_asns_give_their_networks_in_both_families() {
        let dir = tempdir("contents");
        let f = files(&dir);
        let nl = contents_for(&decl(&["NL"], &[]), &f).unwrap();
        assert_eq!(
            text(&nl),
            ["192.0.2.0/24", "198.51.100.0/25", "2001:db8:1::/48"]
        );
        let both = contents_for(&decl(&["DE"], &[64500]), &f).unwrap();
        assert_eq!(
            text(&both),
            ["198.51.100.128/25", "203.0.113.0/24", "2001:db8:9::/48"]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_codes_and_missing_databases_are_errors() {
        let dir = tempdir("errors");
        let f = files(&dir);
        let e = contents_for(&decl(&["NL", "XX"], &[]), &f).unwrap_err();
        assert!(e.to_string().contains("country XX has no network"), "{e}");
        let e = contents_for(&decl(&[], &[64999]), &f).unwrap_err();
        assert!(e.to_string().contains("AS64999"), "{e}");
        let none = GeoFiles::default();
        let e = contents_for(&decl(&["NL"], &[]), &none).unwrap_err();
        assert!(e.to_string().contains("[geo] database"), "{e}");
        let broken = dir.join("broken.mmdb");
        std::fs::write(&broken, b"<html>not a database</html>").unwrap();
        let bad = GeoFiles {
            database: Some(broken.display().to_string()),
            asn_database: None,
        };
        let e = contents_for(&decl(&["NL"], &[]), &bad).unwrap_err();
        assert!(e.to_string().contains("not an MMDB"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_address_is_placed_by_country_and_as() {
        let dir = tempdir("place");
        let f = files(&dir);
        let p = place_of("192.0.2.7".parse().unwrap(), &f).unwrap();
        assert_eq!(p.describe().unwrap(), "in NL, AS64501 (Other)");
        let p = place_of("2001:db8:2::1".parse().unwrap(), &f).unwrap();
        assert_eq!(p.describe().unwrap(), "in FR");
        let p = place_of("10.0.0.1".parse().unwrap(), &f).unwrap();
        assert_eq!(p.describe(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
