use super::*;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

fn v4(s: &str) -> AddrRange {
    palisade_core::parse_addr_range(s, false).unwrap()
}

fn sample() -> Envelope {
    Envelope {
        origin: "web1".into(),
        seq: 1_800_000_000_123_456,
        records: vec![
            Record::Ban {
                target: v4("203.0.113.9"),
                source: BanSource::Watch,
                expires: Expiry::At(1_800_003_600),
                reason: "sshd: 5 failures in 10m".into(),
            },
            Record::Ban {
                target: v4("2001:db8::/64"),
                source: BanSource::Manual,
                expires: Expiry::Never,
                reason: String::new(),
            },
            Record::Lift {
                target: v4("198.51.100.0-198.51.100.20"),
                source: BanSource::Flood,
            },
        ],
    }
}

#[test]
fn round_trips_and_the_signature_covers_every_byte_before_it() {
    let env = sample();
    let bytes = seal(&env, &key());
    let d = decode(&bytes).unwrap();
    assert_eq!(d.envelope, env);
    assert_eq!(d.signed.len(), bytes.len() - SIGNATURE_BYTES);
    assert!(crate::keys::verify(
        &key().verifying_key(),
        SIGNING_CONTEXT,
        d.signed,
        &d.signature
    ));
}

#[test]
fn sizes_are_what_encoded_len_says() {
    let env = sample();
    let bytes = seal(&env, &key());
    let expected =
        envelope_overhead("web1") + env.records.iter().map(Record::encoded_len).sum::<usize>();
    assert_eq!(bytes.len(), expected);
    // A single IPv4 ban with a 23-byte reason: 1 + 4 + 8 + 1 + 23.
    assert_eq!(env.records[0].encoded_len(), 37);
}

#[test]
fn reasons_are_cut_and_cleaned_for_the_wire() {
    let long = "é".repeat(150); // 300 bytes
    let cleaned = clean_reason(&long);
    assert!(cleaned.len() <= MAX_REASON_BYTES && cleaned.chars().all(|c| c == 'é'));
    assert_eq!(clean_reason("a\x1b[31mb\nc"), "a [31mb c");
    let env = Envelope {
        origin: "a".into(),
        seq: 1,
        records: vec![Record::Ban {
            target: v4("192.0.2.1"),
            source: BanSource::Watch,
            expires: Expiry::At(5),
            reason: "x\x07y".into(),
        }],
    };
    let bytes = seal(&env, &key());
    let d = decode(&bytes).unwrap();
    assert!(matches!(&d.envelope.records[0], Record::Ban { reason, .. } if reason == "x y"));
}

#[test]
fn refuses_what_is_not_an_envelope() {
    let good = seal(&sample(), &key());
    let mut v2 = good.clone();
    v2[0] = 2;
    assert_eq!(decode(&v2).unwrap_err(), WireError::Version(2));
    assert!(matches!(
        decode(&good[..good.len() - 1]),
        Err(WireError::Truncated(_))
    ));
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(decode(&trailing).unwrap_err(), WireError::Trailing(1));
    assert_eq!(
        decode(&vec![1; MAX_ENVELOPE_BYTES + 1]).unwrap_err(),
        WireError::TooLarge(MAX_ENVELOPE_BYTES + 1)
    );
    // Origin "web1" then seq; the first record's flags byte follows the count.
    let flags_at = 1 + 1 + 4 + 8 + 2;
    let mut bad_flags = good.clone();
    bad_flags[flags_at] |= 0x80;
    assert!(matches!(decode(&bad_flags), Err(WireError::Flags(0, _))));
    let mut no_source = good.clone();
    no_source[flags_at] &= !0b110;
    assert!(matches!(decode(&no_source), Err(WireError::Flags(0, _))));
    let mut bad_origin = good;
    bad_origin[2] = b'.';
    assert_eq!(decode(&bad_origin).unwrap_err(), WireError::Origin);
}

#[test]
fn a_range_backwards_is_refused() {
    let mut env = sample();
    env.records.truncate(0);
    let mut bytes = encode_unsigned(&env);
    bytes.truncate(bytes.len() - 2);
    bytes.extend_from_slice(&1u16.to_be_bytes());
    bytes.push(FLAG_LIFT | (1 << SOURCE_SHIFT));
    bytes.extend_from_slice(&10u32.to_be_bytes());
    bytes.extend_from_slice(&9u32.to_be_bytes());
    bytes.extend_from_slice(&[0; SIGNATURE_BYTES]);
    assert_eq!(decode(&bytes).unwrap_err(), WireError::Range(0));
}

fn arb_target() -> impl Strategy<Value = AddrRange> {
    prop_oneof![
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| AddrRange::V4(
            palisade_core::Interval::new(a.min(b), a.max(b)).unwrap()
        )),
        (any::<u128>(), any::<u128>()).prop_map(|(a, b)| AddrRange::V6(
            palisade_core::Interval::new(a.min(b), a.max(b)).unwrap()
        )),
        any::<u32>().prop_map(|a| AddrRange::V4(palisade_core::Interval::single(a))),
    ]
}

fn arb_record() -> impl Strategy<Value = Record> {
    let source = prop_oneof![
        Just(BanSource::Watch),
        Just(BanSource::Manual),
        Just(BanSource::Flood)
    ];
    prop_oneof![
        (
            arb_target(),
            source.clone(),
            any::<u64>(),
            "[a-z :0-9é]{0,60}"
        )
            .prop_map(|(target, source, e, reason)| Record::Ban {
                target,
                source,
                expires: Expiry::from_wire(e),
                reason,
            }),
        (arb_target(), source).prop_map(|(target, source)| Record::Lift { target, source }),
    ]
}

proptest! {
    #[test]
    fn any_envelope_round_trips(seq in any::<u64>(), records in proptest::collection::vec(arb_record(), 0..40)) {
        let env = Envelope { origin: "host_1-a".into(), seq, records };
        let bytes = seal(&env, &key());
    let d = decode(&bytes).unwrap();
        prop_assert_eq!(d.envelope, env);
    }

    #[test]
    fn the_decoder_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn the_decoder_never_panics_on_damaged_envelopes(i in 0usize..400, b in any::<u8>(), cut in 0usize..400) {
        let mut bytes = seal(&sample(), &key());
        let n = bytes.len();
        bytes[i % n] = b;
        bytes.truncate(n - cut % n);
        if let Ok(d) = decode(&bytes) {
            // Whatever still decodes must not verify unless it is the original.
            let ok = crate::keys::verify(&key().verifying_key(), SIGNING_CONTEXT, d.signed, &d.signature);
            prop_assert!(!ok || d.envelope == sample());
        }
    }
}
