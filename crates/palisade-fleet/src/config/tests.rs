use super::*;
use crate::keys::public_key_text;
use ed25519_dalek::SigningKey;

fn peer_key(n: u8) -> String {
    public_key_text(&SigningKey::from_bytes(&[n; 32]).verifying_key())
}

fn minimal() -> String {
    format!(
        "[input]\npolicy = \"drop\"\n\n[fleet]\nhost = \"web1\"\nservers = [\"nats://10.0.0.5:4222\"]\n\
         key_file = \"/etc/palisade/fleet.key\"\n\n[fleet.peers]\nweb2 = \"{}\"\n",
        peer_key(2)
    )
}

fn parse(text: &str) -> Result<Option<FleetConfig>, ConfigError> {
    parse_fleet_config("palisade.toml", text)
}

fn err(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn no_fleet_table_means_no_fleet() {
    assert!(parse("[input]\npolicy = \"drop\"\n").unwrap().is_none());
}

#[test]
fn a_minimal_fleet_gets_defaults() {
    let c = parse(&minimal()).unwrap().unwrap();
    assert_eq!(c.host, "web1");
    assert_eq!(c.servers, vec!["nats://10.0.0.5:4222".to_string()]);
    assert_eq!(c.key_file, PathBuf::from("/etc/palisade/fleet.key"));
    assert_eq!(c.auth, NatsAuth::None);
    assert_eq!(c.tls_ca, None);
    assert_eq!(c.retention, DEFAULT_RETENTION);
    assert_eq!((c.replicas, c.queue), (1, DEFAULT_QUEUE));
    assert_eq!(c.share_bans, BanSource::ALL.into());
    assert_eq!(c.accept_bans, BanSource::ALL.into());
    assert!(c.share_lists.is_empty() && c.accept_lists.is_empty());
    assert_eq!(
        c.peers["web2"],
        SigningKey::from_bytes(&[2; 32]).verifying_key()
    );
}

#[test]
fn every_setting_is_read() {
    let text = format!(
        "{}\n[fleet.share]\nbans = [\"watch\"]\nlists = [\"drop\"]\n[fleet.accept]\nbans = [\"manual\", \"flood\"]\nlists = [\"drop\", \"edrop\"]\n",
        minimal().replace(
            "key_file",
            "creds_file = \"/etc/palisade/nats.creds\"\ntls_ca = \"/etc/ca.pem\"\nallow = [\"192.0.2.0/24\", \"2001:db8::1\"]\nretention = \"30d\"\nreplicas = 3\nqueue = 500\nkey_file"
        )
    );
    let c = parse(&text).unwrap().unwrap();
    assert_eq!(
        c.auth,
        NatsAuth::CredsFile("/etc/palisade/nats.creds".into())
    );
    assert_eq!(c.tls_ca, Some(PathBuf::from("/etc/ca.pem")));
    assert_eq!(c.allow.len(), 2);
    assert_eq!(c.retention, 30 * 86400);
    assert_eq!((c.replicas, c.queue), (3, 500));
    assert_eq!(c.share_bans, BTreeSet::from([BanSource::Watch]));
    assert_eq!(
        c.accept_bans,
        BTreeSet::from([BanSource::Manual, BanSource::Flood])
    );
    assert_eq!(c.accept_lists.len(), 2);
}

#[test]
fn errors_name_file_line_and_key() {
    let text = minimal().replace("host = \"web1\"", "host = \"web 1\"");
    assert_eq!(
        err(&text),
        "palisade.toml:5: fleet.host: a host name is letters, digits, `-` and `_`, at most 64 characters"
    );
    let text = minimal().replace("nats://10.0.0.5:4222", "http://[::1");
    let e = err(&text);
    assert!(
        e.starts_with("palisade.toml:6: fleet.servers[0]: `http://[::1`"),
        "{e}"
    );
    let text = minimal().replace(&peer_key(2), "ed25519:AAAA");
    let e = err(&text);
    assert!(
        e.starts_with("palisade.toml:10: fleet.peers.web2: a public key looks like"),
        "{e}"
    );
    let text = minimal().replace("/etc/palisade/fleet.key", "fleet.key");
    assert_eq!(
        err(&text),
        "palisade.toml:7: fleet.key_file: expected an absolute path"
    );
}

#[test]
fn missing_settings_say_what_to_write() {
    let e = err("[fleet]\nhost = \"a\"\nkey_file = \"/k\"\n");
    assert!(e.contains("fleet.servers: missing"), "{e}");
    let e = err("[fleet]\nservers = [\"nats://x:4222\"]\nkey_file = \"/k\"\n");
    assert!(e.contains("fleet.host: missing"), "{e}");
    let e = err("[fleet]\nhost = \"a\"\nservers = [\"nats://x:4222\"]\n");
    assert!(e.contains("palisade fleet keygen"), "{e}");
}

#[test]
fn bad_values_are_refused() {
    for (from, to, key) in [
        (
            "[fleet.peers]",
            "[fleet.share]\nbans = [\"everything\"]\n[fleet.peers]",
            "fleet.share.bans[0]",
        ),
        (
            "[fleet.peers]",
            "[fleet.accept]\nlists = [\"a.b\"]\n[fleet.peers]",
            "fleet.accept.lists[0]",
        ),
        ("key_file", "replicas = 7\nkey_file", "fleet.replicas"),
        ("key_file", "queue = 0\nkey_file", "fleet.queue"),
        (
            "key_file",
            "retention = \"10m\"\nkey_file",
            "fleet.retention",
        ),
        ("key_file", "retention = true\nkey_file", "fleet.retention"),
        (
            "key_file",
            "allow = [\"10.1.2.3/8\"]\nkey_file",
            "fleet.allow[0]",
        ),
        (
            "key_file",
            "nkey_file = \"/a\"\ncreds_file = \"/b\"\nkey_file",
            "fleet.nkey_file",
        ),
        ("key_file", "colour = \"blue\"\nkey_file", ""),
    ] {
        let e = err(&minimal().replace(from, to));
        assert!(e.contains(key), "{key}: {e}");
    }
}

#[test]
fn the_policy_parser_lets_the_fleet_table_through() {
    use palisade_core::policy::{parse_config, Services};
    parse_config("palisade.toml", &minimal(), &Services::new("")).unwrap();
}
