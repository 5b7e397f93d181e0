//! Whatever reaches the bus is hostile until proven otherwise: forged, unsigned, damaged,
//! oversized, replayed and expired messages are refused and counted, never delivered.

mod support;

use std::time::Duration;

use async_nats::jetstream;
use palisade_core::{AddrRange, Interval};
use palisade_fleet::bus::{ban_stream_config, BAN_STREAM};
use palisade_fleet::wire::{seal, Envelope, Record};
use palisade_fleet::{load_key_file, BanSource, DropReason, Expiry};
use support::*;

const WAIT: Duration = Duration::from_secs(20);

fn addr(i: u32) -> AddrRange {
    AddrRange::V4(Interval::single(0x6440_0000 + i))
}

fn ban_envelope(origin: &str, target: AddrRange, expires: Expiry) -> Envelope {
    Envelope {
        origin: origin.into(),
        seq: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64,
        records: vec![Record::Ban {
            target,
            source: BanSource::Watch,
            expires,
            reason: "injected".into(),
        }],
    }
}

#[test]
fn forged_damaged_oversized_replayed_and_expired_messages_are_refused_and_counted() {
    if !require() {
        return;
    }
    let lab = Lab::new(1, 3);
    lab.keys(&["x"]);
    let url = lab.server_urls()[0].clone();
    let attacker = &lab.hosts[2].ns;
    // The stream exists already, made by someone without palisade's size limit: the
    // receivers' own checks are all that stands between the bus and their kernel.
    let mut config = ban_stream_config(86400, 1);
    config.max_message_size = -1;
    in_ns(attacker, {
        let url = url.clone();
        async move {
            let js = jetstream::new(async_nats::connect(url).await.unwrap());
            js.create_stream(config).await.unwrap();
        }
    });
    let a = lab.member(0, "a", &["a", "b"], "");
    let b = lab.member(1, "b", &["a", "b"], "");
    assert!(a.wait_caught_up(WAIT) && b.wait_caught_up(WAIT));
    let later = Expiry::At(unix_now() + 600);
    a.fleet()
        .publisher()
        .ban(addr(1), BanSource::Watch, later, "real");
    assert!(b.sink.wait(WAIT, |r| r.ban_count == 1));

    let a_key = load_key_file(&lab.key_path("a")).unwrap();
    let x_key = load_key_file(&lab.key_path("x")).unwrap();
    let untrusted = seal(&ban_envelope("x", addr(10), later), &x_key);
    let forged = seal(&ban_envelope("a", addr(11), later), &x_key);
    let expired = seal(
        &ban_envelope("a", addr(12), Expiry::At(unix_now() - 1)),
        &a_key,
    );
    let misfiled = seal(&ban_envelope("a", addr(13), later), &a_key);
    in_ns(attacker, async move {
        let js = jetstream::new(async_nats::connect(url).await.unwrap());
        // The real envelope from a, as stored, to send again.
        let stream = js.get_stream(BAN_STREAM).await.unwrap();
        let replay = stream.get_raw_message(1).await.unwrap().payload;
        let send = |subject: &'static str, bytes: Vec<u8>| {
            let js = js.clone();
            async move {
                js.publish(subject, bytes.into())
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
        };
        send("palisade.bans.x", untrusted).await;
        send("palisade.bans.a", forged).await;
        send("palisade.bans.a", b"\x01\x01a garbage".to_vec()).await;
        send("palisade.bans.a", vec![1u8; 70 * 1024]).await;
        send("palisade.bans.a", replay.to_vec()).await;
        send("palisade.bans.a", expired).await;
        send("palisade.bans.b", misfiled).await;
    });
    // A real ban after all that: once it is delivered, everything before it was judged.
    a.fleet()
        .publisher()
        .ban(addr(2), BanSource::Watch, later, "real");
    assert!(b.sink.wait(WAIT, |r| r.ban_count == 2));
    let st = b.status();
    for (reason, n) in [
        (DropReason::Untrusted, 1),
        (DropReason::BadSignature, 1),
        (DropReason::Malformed, 2),
        (DropReason::Oversized, 1),
        (DropReason::Replayed, 1),
        (DropReason::Expired, 1),
    ] {
        assert_eq!(st.dropped(reason), n, "{reason}: {:?}", st.dropped);
    }
    let got: Vec<AddrRange> = b.sink.bans().iter().map(|b| b.target).collect();
    assert_eq!(got, vec![addr(1), addr(2)]);
    assert_eq!(
        st.records_in, 3,
        "two real bans and the expired one reached the ledger"
    );
}

#[test]
fn a_stream_palisade_creates_refuses_oversized_messages_at_the_server() {
    if !require() {
        return;
    }
    let lab = Lab::new(1, 1);
    let url = lab.server_urls()[0].clone();
    let refused = in_ns(&lab.hosts[0].ns, async move {
        let js = jetstream::new(async_nats::connect(url).await.unwrap());
        js.create_stream(ban_stream_config(86400, 1)).await.unwrap();
        js.publish("palisade.bans.a", vec![1u8; 100].into())
            .await
            .unwrap()
            .await
            .unwrap();
        match js
            .publish("palisade.bans.a", vec![1u8; 70 * 1024].into())
            .await
        {
            Err(_) => true,
            Ok(ack) => ack.await.is_err(),
        }
    });
    assert!(
        refused,
        "the server stored a message over the envelope limit"
    );
}
