//! Golden tests of the compiler, config errors, and properties of `explain`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

use proptest::prelude::*;

use super::ruleset::SetDirection;
use super::*;

fn services() -> Services {
    Services::new("")
}

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn session() -> Session {
    Session::from_ssh_connection("192.0.2.50 51000 192.0.2.1 22").unwrap()
}

/// Compile each example (with and without an admin session and container bridges) and
/// compare with the reviewed output in `tests/golden/`. `PALISADE_BLESS=1` rewrites them.
#[test]
fn golden_examples() {
    let contexts = [
        ("plain", Context::default()),
        (
            "session",
            Context {
                session: Some(session()),
                container_bridges: compile::DOCKER_BRIDGES
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            },
        ),
    ];
    let mut checked = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let policy = parse_config(&name, &text, &services()).unwrap();
        for (label, ctx) in &contexts {
            let got = compile(&policy, ctx).to_string();
            let golden = golden_dir().join(format!("{name}.{label}.txt"));
            if std::env::var_os("PALISADE_BLESS").is_some() {
                std::fs::create_dir_all(golden_dir()).unwrap();
                std::fs::write(&golden, &got).unwrap();
            }
            let want = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
                panic!("{} missing: run with PALISADE_BLESS=1", golden.display())
            });
            assert_eq!(got, want, "{} changed", golden.display());
            checked += 1;
        }
    }
    assert!(checked >= 4, "examples not found");
}

#[test]
fn hardening_example_reads_as_intended() {
    let text = std::fs::read_to_string(examples_dir().join("hardening.toml")).unwrap();
    let p = parse_config("hardening.toml", &text, &services()).unwrap();
    assert_eq!(p.input.policy, ChainPolicy::Drop);
    assert_eq!(p.output.policy, ChainPolicy::Drop);
    assert_eq!(p.forward.policy, ChainPolicy::Drop);
    assert!(p.accept_established && p.accept_loopback && p.drop_invalid && p.icmp_essentials);
    assert_eq!(p.input.allow.len(), 4);
    assert_eq!(p.output.allow.len(), 5);
}

fn error_of(text: &str) -> ConfigError {
    parse_config("p.toml", text, &services()).unwrap_err()
}

#[test]
fn errors_name_line_and_key() {
    let e = error_of("[input]\npolicy = \"drop\"\nallow = [\"ssh\",\n  \"sshh\"]\n");
    assert_eq!((e.line, e.key.as_str()), (4, "input.allow[1]"));
    assert!(e.message.contains("unknown service \"sshh\""), "{e}");
    assert!(e.to_string().starts_with("p.toml:4: input.allow[1]: "));

    let e = error_of("[input]\n\npolicy = \"deny\"\n");
    assert_eq!((e.line, e.key.as_str()), (3, "input.policy"));

    let e = error_of("[input]\nallow = [{ port = 70000 }]\n");
    assert_eq!(e.line, 2);
    assert!(e.message.contains("70000"), "{e}");

    let e = error_of("[input]\nallow = [{ service = \"ssh\", frm = \"10.0.0.0/8\" }]\n");
    assert!(e.message.contains("unknown key `frm`"), "{e}");

    let e = error_of("[input]\nallow = [{ service = \"ssh\", from = \"10.0.0.1/8\" }]\n");
    assert!(e.message.contains("from:"), "{e}");

    let e = error_of("[input]\nallow = [{ service = \"ssh\", from_set = \"nope\" }]\n");
    assert!(e.message.contains("no set `nope`"), "{e}");

    let e = error_of("\n\n[inptu]\npolicy = \"drop\"\n");
    assert_eq!(e.line, 3, "{e}");

    let e = error_of("[sets.x]\naction = \"drop\"\nelements = [\"1.2.3.4\", \"1.2.3\"]\n");
    assert_eq!((e.line, e.key.as_str()), (3, "sets.x.elements"));

    let e = error_of("[log]\nrate = \"5/fortnight\"\n");
    assert_eq!(e.key, "log.rate");

    let e = error_of("input = [");
    assert_eq!(e.line, 1);
}

#[test]
fn allow_forms() {
    let p = parse_config(
        "p",
        "[input]\nallow = [22, \"53/udp\", \"8000-8100\", { port = [80, \"443\"], proto = [\"tcp\", \"udp\"] }]\n",
        &services(),
    )
    .unwrap();
    let opens: Vec<_> = p.input.allow.iter().map(|a| a.opens.clone()).collect();
    use config::Opens::Ports;
    assert_eq!(
        opens[0],
        Ports(vec![(PortProto::Tcp, PortRange::single(22))])
    );
    assert_eq!(
        opens[1],
        Ports(vec![(PortProto::Udp, PortRange::single(53))])
    );
    assert_eq!(
        opens[2],
        Ports(vec![(
            PortProto::Tcp,
            PortRange {
                first: 8000,
                last: 8100
            }
        )])
    );
    match &opens[3] {
        Ports(p) => assert_eq!(p.len(), 4),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ssh_connection_parsing() {
    assert_eq!(session().server_port, 22);
    assert!(Session::from_ssh_connection("1.2.3.4 5 6.7.8.9").is_none());
    assert!(Session::from_ssh_connection("::1 5 ::1 22").is_some());
}

/// A model of set contents for the evaluator.
struct Model(BTreeSet<(String, IpAddr)>);

impl Membership for Model {
    fn contains(&self, set: &str, addr: IpAddr, _port: Option<(u8, u16)>) -> bool {
        self.0.contains(&(set.to_string(), addr))
    }
}

fn web_ruleset(ctx: &Context) -> (Policy, Ruleset) {
    let text = std::fs::read_to_string(examples_dir().join("web-server.toml")).unwrap();
    let p = parse_config("web-server.toml", &text, &services()).unwrap();
    let r = compile(&p, ctx);
    (p, r)
}

fn packet_strategy() -> impl Strategy<Value = explain::Packet> {
    let addr = prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| IpAddr::from([192, 0, 2, a & b])),
        any::<u8>().prop_map(|a| IpAddr::from([198, 51, 100, a])),
        any::<u8>().prop_map(|a| IpAddr::from([203, 0, 113, a])),
        any::<u16>().prop_map(|a| IpAddr::from([0x2001, 0xdb8, 1, 0, 0, 0, 0, a])),
        any::<u16>().prop_map(|a| IpAddr::from([0x2001, 0xdb8, 2, 0, 0, 0, 0, a])),
    ];
    let l4 = prop_oneof![
        Just(Some(L4::Tcp)),
        Just(Some(L4::Udp)),
        Just(Some(L4::Icmp)),
        Just(Some(L4::Icmpv6)),
        Just(None)
    ];
    let port = prop_oneof![
        Just(22u16),
        Just(80),
        Just(443),
        Just(53),
        8000u16..8101,
        any::<u16>()
    ];
    let ct = prop_oneof![
        Just(CtStates::NEW),
        Just(CtStates::ESTABLISHED),
        Just(CtStates::RELATED),
        Just(CtStates::INVALID),
        Just(CtStates::UNTRACKED)
    ];
    let iface = prop_oneof![Just("eth0"), Just("eth1"), Just("lo"), Just("docker0")];
    let dir = prop_oneof![
        Just(Direction::Input),
        Just(Direction::Forward),
        Just(Direction::Output)
    ];
    (addr.clone(), addr, l4, port.clone(), port, ct, iface, dir).prop_map(
        |(src, dst, l4, sport, dport, ct, iface, direction)| {
            // Keep both addresses of one family, as a real packet has.
            let dst = match (src, dst) {
                (IpAddr::V4(_), IpAddr::V6(_)) => IpAddr::from([192, 0, 2, 1]),
                (IpAddr::V6(_), IpAddr::V4(_)) => IpAddr::from([0x2001, 0xdb8, 9, 0, 0, 0, 0, 1]),
                _ => dst,
            };
            let ports = matches!(l4, Some(L4::Tcp) | Some(L4::Udp));
            let icmp = matches!(l4, Some(L4::Icmp) | Some(L4::Icmpv6));
            explain::Packet {
                direction,
                l4,
                src,
                dst,
                sport: ports.then_some(sport),
                dport: ports.then_some(dport),
                icmp_type: icmp.then_some(icmp_type_from(sport)),
                ct_state: ct,
                iif: (direction != Direction::Output).then(|| iface.to_string()),
                oif: (direction != Direction::Input).then(|| iface.to_string()),
            }
        },
    )
}

/// ICMP types worth testing: echo, errors, neighbour discovery, and one unknown.
fn icmp_type_from(seed: u16) -> u8 {
    [0u8, 3, 8, 11, 128, 129, 133, 135, 136, 2, 200][seed as usize % 11]
}

proptest! {
    /// The first rule that matches decides, and nothing before it matches with a verdict.
    #[test]
    fn explain_picks_the_first_deciding_rule(p in packet_strategy(), admin in any::<bool>()) {
        let (_, r) = web_ruleset(&Context::default());
        let sets = Model(if admin { [("admins".to_string(), p.src)].into() } else { BTreeSet::new() });
        let d = explain(&r, &[], &p, &sets);
        let chain = r.chain(p.direction).unwrap();
        match &d.by {
            DecidedBy::Rule { index, .. } => {
                prop_assert!(explain::rule_matches(&chain.rules[*index], &p, &sets));
                prop_assert!(chain.rules[*index].action.decides());
                for earlier in &chain.rules[..*index] {
                    prop_assert!(!(earlier.action.decides() && explain::rule_matches(earlier, &p, &sets)));
                }
            }
            DecidedBy::Policy => {
                for rule in &chain.rules {
                    prop_assert!(!(rule.action.decides() && explain::rule_matches(rule, &p, &sets)));
                }
            }
            DecidedBy::BlockSet { .. } => prop_assert!(false, "no block sets given"),
        }
    }

    /// Established traffic and loopback are always accepted; an input packet from the
    /// admin's SSH session is accepted whatever its state.
    #[test]
    fn established_loopback_and_the_session_pass(p in packet_strategy()) {
        let ctx = Context { session: Some(session()), container_bridges: Vec::new() };
        let (_, r) = web_ruleset(&ctx);
        let sets = Model(BTreeSet::new());
        if p.ct_state == CtStates::ESTABLISHED {
            prop_assert_eq!(explain(&r, &[], &p, &sets).verdict, Verdict::Accept);
        }
        if p.direction == Direction::Input && p.iif.as_deref() == Some("lo") {
            prop_assert_eq!(explain(&r, &[], &p, &sets).verdict, Verdict::Accept);
        }
        let s = session();
        let mine = explain::Packet {
            direction: Direction::Input, l4: Some(L4::Tcp), src: s.client, dst: s.server,
            sport: Some(s.client_port), dport: Some(s.server_port), ..p.clone()
        };
        prop_assert_eq!(explain(&r, &[], &mine, &sets).verdict, Verdict::Accept);
    }

    /// A blocking set on sources decides before any rule, for traffic to the host and
    /// through it (input and forward: it runs at prerouting), never on output, and never on
    /// loopback.
    #[test]
    fn block_sets_come_first(p in packet_strategy()) {
        let (_, r) = web_ruleset(&Context::default());
        let sets = Model([("blocklist".to_string(), p.src)].into());
        let blocks = [block("blocklist", BlockKind::Drop, SetDirection::In)];
        let d = explain(&r, &blocks, &p, &sets);
        if p.direction != Direction::Output && !exempt(&p) {
            prop_assert_eq!(d.verdict, Verdict::Drop);
            let by_block = matches!(d.by, DecidedBy::BlockSet { .. });
            prop_assert!(by_block);
        } else {
            prop_assert_eq!(d, explain(&r, &[], &p, &sets));
        }
    }

    /// A set on destinations decides forwarded and outgoing traffic to what it lists, never
    /// traffic to the host.
    #[test]
    fn destination_sets_cover_forward_and_output(p in packet_strategy()) {
        let (_, r) = web_ruleset(&Context::default());
        let sets = Model([("c2".to_string(), p.dst)].into());
        let blocks = [block("c2", BlockKind::Drop, SetDirection::Out)];
        let d = explain(&r, &blocks, &p, &sets);
        let by_block = matches!(d.by, DecidedBy::BlockSet { .. });
        prop_assert_eq!(by_block, p.direction != Direction::Input && !exempt(&p));
    }

    /// Whatever the block sets hold, an allowlisted address is never dropped by one.
    #[test]
    fn the_allowlist_always_wins(p in packet_strategy(), both in any::<bool>()) {
        let (_, r) = web_ruleset(&Context::default());
        let sets = Model([
            ("bad".to_string(), p.src), ("bad".to_string(), p.dst),
            ("allowlist".to_string(), p.src), ("allowlist".to_string(), p.dst),
        ].into());
        let dir = if both { SetDirection::Both } else { SetDirection::In };
        let blocks = [
            block("allowlist", BlockKind::Allow, SetDirection::Both),
            block("bad", BlockKind::Drop, dir),
            block("bad2", BlockKind::Reject, dir),
        ];
        let d = explain(&r, &blocks, &p, &sets);
        prop_assert!(!matches!(d.by, DecidedBy::BlockSet { .. }), "{d:?}");
    }

    /// In panic mode every packet is dropped, established and ICMP included, except loopback
    /// and the admin's own session, in both of its directions.
    #[test]
    fn panic_drops_all_but_loopback_and_the_session(p in packet_strategy(), with_session in any::<bool>()) {
        let s = session();
        let r = compile::panic_ruleset(with_session.then_some(s));
        let sets = Model(BTreeSet::new());
        let loopback = match p.direction {
            Direction::Input => p.iif.as_deref() == Some("lo"),
            Direction::Output => p.oif.as_deref() == Some("lo"),
            Direction::Forward => false,
        };
        let tcp = p.l4 == Some(L4::Tcp);
        let of_session = with_session && tcp && match p.direction {
            Direction::Input => p.src == s.client && p.sport == Some(s.client_port) && p.dport == Some(s.server_port),
            Direction::Output => p.dst == s.client && p.dport == Some(s.client_port) && p.sport == Some(s.server_port),
            Direction::Forward => false,
        };
        let want = if loopback || of_session { Verdict::Accept } else { Verdict::Drop };
        prop_assert_eq!(explain(&r, &[], &p, &sets).verdict, want);
        let inbound = explain::Packet {
            direction: Direction::Input, l4: Some(L4::Tcp), src: s.client, dst: s.server,
            sport: Some(s.client_port), dport: Some(s.server_port), iif: Some("eth0".into()),
            oif: None, ..p.clone()
        };
        let outbound = explain::Packet {
            direction: Direction::Output, l4: Some(L4::Tcp), src: s.server, dst: s.client,
            sport: Some(s.server_port), dport: Some(s.client_port), iif: None,
            oif: Some("eth0".into()), ..p.clone()
        };
        let want = if with_session { Verdict::Accept } else { Verdict::Drop };
        prop_assert_eq!(explain(&r, &[], &inbound, &sets).verdict, want);
        prop_assert_eq!(explain(&r, &[], &outbound, &sets).verdict, want);
        // Another connection from the admin's address is not the session.
        let other = explain::Packet { sport: Some(s.client_port.wrapping_add(1)), ..inbound };
        prop_assert_eq!(explain(&r, &[], &other, &sets).verdict, Verdict::Drop);
    }

    /// The config parser never panics, whatever the text.
    #[test]
    fn config_parser_never_panics(text in "\\PC{0,200}") {
        let _ = parse_config("p", &text, &services());
    }

    #[test]
    fn config_parser_never_panics_on_near_valid(
        dir in prop_oneof![Just("input"), Just("output"), Just("forward"), Just("log"), Just("sets.x")],
        key in prop_oneof![Just("policy"), Just("allow"), Just("rate"), Just("elements"), Just("action"), Just("port")],
        value in prop_oneof![Just("\"drop\"".to_string()), Just("[22]".to_string()), Just("[{ port = -1 }]".to_string()), "\\PC{0,20}".prop_map(|s| format!("{s:?}")), any::<i64>().prop_map(|i| i.to_string())],
    ) {
        let _ = parse_config("p", &format!("[{dir}]\n{key} = {value}\n"), &services());
    }
}

/// Packets no block set ever drops: loopback, and IPv6 neighbour discovery.
fn exempt(p: &explain::Packet) -> bool {
    p.iif.as_deref() == Some("lo")
        || p.oif.as_deref() == Some("lo")
        || (p.l4 == Some(L4::Icmpv6) && p.icmp_type.is_some_and(|t| (133..=137).contains(&t)))
}

fn block(name: &str, kind: BlockKind, direction: SetDirection) -> BlockSet {
    BlockSet {
        name: name.into(),
        kind,
        with_ports: false,
        direction,
    }
}

fn lints_of(config: &str, facts: &HostFacts) -> Vec<Lint> {
    let p = parse_config("p", config, &services()).unwrap();
    let r = compile(&p, &Context::default());
    lint(&p, &r, facts, &[], &Model(BTreeSet::new()))
}

#[test]
fn lockout_warnings() {
    let facts = HostFacts {
        ssh_ports: vec![22],
        session: Some(session()),
        container_tables: Vec::new(),
    };
    let warnings = |c: &str| -> Vec<String> {
        lints_of(c, &facts)
            .into_iter()
            .filter(|l| l.severity == Severity::Warning)
            .map(|l| l.message)
            .collect()
    };
    let none = warnings("[input]\nallow = [\"http\"]\n");
    assert_eq!(none.len(), 1, "{none:?}");
    assert!(none[0].contains("lockout risk"), "{none:?}");
    let elsewhere = warnings("[input]\nallow = [{ service = \"ssh\", from = \"10.0.0.0/8\" }]\n");
    // Neither the admin nor anyone else outside 10/8 gets in: a plain lockout warning.
    assert!(
        elsewhere.len() == 1 && elsewhere[0].contains("lockout risk"),
        "{elsewhere:?}"
    );
    let not_mine =
        warnings("[input]\nallow = [{ service = \"ssh\", from = \"198.51.100.0/24\" }]\n");
    assert!(not_mine[0].contains("not from 192.0.2.50"), "{not_mine:?}");
    assert!(warnings("[input]\nallow = [\"ssh\"]\n").is_empty());
    assert!(warnings("[input]\npolicy = \"accept\"\n").is_empty());
    let sshd_elsewhere = HostFacts {
        ssh_ports: vec![2222],
        ..facts.clone()
    };
    let l = lints_of("[input]\nallow = [\"ssh\"]\n", &sshd_elsewhere);
    assert!(l.iter().any(|l| l.message.contains("port 2222")), "{l:?}");
    let l = lints_of(
        "[icmp]\nessentials = false\n[output]\npolicy = \"drop\"\n",
        &HostFacts::default(),
    );
    assert!(l.iter().any(|l| l.message.contains("IPv6")), "{l:?}");
    assert!(l.iter().any(|l| l.message.contains("DNS")), "{l:?}");
}

#[test]
fn explain_tells_of_the_limit_a_flooder_would_meet() {
    let text = std::fs::read_to_string(examples_dir().join("flood.toml")).unwrap();
    let p = parse_config("flood.toml", &text, &services()).unwrap();
    let r = compile(&p, &Context::default());
    let packet = explain::Packet {
        direction: Direction::Input,
        l4: Some(L4::Tcp),
        src: "203.0.113.9".parse().unwrap(),
        dst: "192.0.2.1".parse().unwrap(),
        sport: Some(40000),
        dport: Some(443),
        icmp_type: None,
        ct_state: CtStates::NEW,
        iif: Some("eth0".into()),
        oif: None,
    };
    let d = explain(&r, &[], &packet, &Model(BTreeSet::new()));
    assert_eq!(d.verdict, Verdict::Accept);
    assert!(
        d.also
            .iter()
            .any(|a| a.contains("limit rate over 20/second burst 100")
                && a.contains("flood_v4_addrs")),
        "{:?}",
        d.also
    );
    // The ban set is declared for the kernel layer, filled by the kernel.
    let flood = r.sets.iter().find(|s| s.name == "flood").unwrap();
    assert!(flood.dynamic && flood.action == SetAction::Drop);
    assert_eq!(r.meters.len(), 4);
}

#[test]
fn flood_limits_in_the_config_name_their_line() {
    let e =
        error_of("[input]\nallow = [\n  { service = \"http\", limit = \"50/fortnight\" },\n]\n");
    assert_eq!((e.line, e.key.as_str()), (3, "input.allow[0]"));
    assert!(e.message.contains("limit:"), "{e}");
    let e = error_of("[connections]\nestablished_limit = \"lots\"\n");
    assert_eq!(
        (e.line, e.key.as_str()),
        (2, "connections.established_limit")
    );
    let e = error_of("[input]\nallow = [{ port = 80, limit = \"1/s\", over = \"ban\", ban_set = \"no good\" }]\n");
    assert!(e.message.contains("ban_set"), "{e}");
}

#[test]
fn check_warns_of_block_sets_that_cut_the_admin_loopback_or_everything() {
    let p = parse_config("p", "[input]\nallow = [\"ssh\"]\n", &services()).unwrap();
    let r = compile(&p, &Context::default());
    let facts = HostFacts {
        ssh_ports: vec![22],
        session: Some(session()),
        container_tables: Vec::new(),
    };
    let mut held: BTreeSet<(String, IpAddr)> = BTreeSet::new();
    held.insert(("bl".into(), session().client));
    held.insert(("lo".into(), "127.0.0.1".parse().unwrap()));
    for a in [
        "1.0.0.1",
        "64.0.0.1",
        "128.0.0.1",
        "192.0.0.1",
        "223.255.255.1",
    ] {
        held.insert(("all".into(), a.parse().unwrap()));
    }
    let blocks = [
        block("bl", BlockKind::Drop, SetDirection::In),
        block("lo", BlockKind::Drop, SetDirection::In),
        block("all", BlockKind::Reject, SetDirection::Both),
    ];
    let lints = lint(&p, &r, &facts, &blocks, &Model(held.clone()));
    let text: Vec<String> = lints.iter().map(|l| l.message.clone()).collect();
    assert!(
        text.iter()
            .any(|m| m.contains("set bl holds") && m.contains("SSH session")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|m| m.contains("set lo holds a loopback")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|m| m.contains("set all covers")),
        "{text:?}"
    );
    // The allowlist takes the admin's address out of the warning.
    held.insert(("allowlist".into(), session().client));
    let mut with_allow = blocks.to_vec();
    with_allow.push(block("allowlist", BlockKind::Allow, SetDirection::Both));
    let lints = lint(&p, &r, &facts, &with_allow, &Model(held));
    assert!(!lints.iter().any(|l| l.message.contains("set bl holds")));
}

#[test]
fn check_warns_of_a_ban_on_the_ssh_port() {
    let p = parse_config(
        "p",
        "[input]\nallow = [{ service = \"ssh\", limit = \"10/minute\", over = \"ban\" }]\n",
        &services(),
    )
    .unwrap();
    let r = compile(&p, &Context::default());
    let facts = HostFacts {
        ssh_ports: vec![22],
        session: None,
        container_tables: Vec::new(),
    };
    let lints = lint(&p, &r, &facts, &[], &Model(BTreeSet::new()));
    assert!(
        lints.iter().any(|l| l
            .message
            .contains("bans sources over its limit on the SSH port")),
        "{lints:?}"
    );
}
