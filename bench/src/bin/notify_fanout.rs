//! NOTIFY fan-out through the sans-IO engine: ENTITIES extensions, each watched by five BLF
//! keys (dialog), one presence watcher and one MWI subscriber, the phones' User-Agents
//! spread over the built-in device profiles and none. Measures how fast the engine takes the
//! SUBSCRIBEs, and how fast a call (ringing, answered, ended) on every extension becomes
//! NOTIFYs: rendered, encoded, sent, and their 200s taken back; with persistence on, as the
//! server runs with a data directory, the changes to store are collected too. Prints figures.
//!
//! `cargo run --release -p babble-bench --bin notify_fanout [-- ENTITIES]`

// A benchmark program: failing loudly is its job, and it reads the clock to measure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use babble_bench::sim::{Clock, Sent, answer_notifies, phone};
use presence_core::Engine;
use presence_core::api::{CallsUpdate, Command};
use presence_core::call::{Call, CallState, Direction};

/// BLF keys watching each extension.
const BLF_KEYS: usize = 5;
/// User-Agents the watchers send: some select a device profile, the last none. (None with a
/// NOTIFY rate limit: the virtual clock here never lets its interval end.)
const USER_AGENTS: [&str; 6] = [
    "Yealink SIP-T46S 66.86.0.15",
    "PolycomVVX-VVX_411-UA/6.3.1",
    "Linksys/SPA962-6.1.5(a)",
    "Grandstream GXP2170 1.0.11.3",
    "Zoiper rv2.10.20.6",
    "Aastra 6757i 3.3.1.4322",
];

fn main() {
    let entities: usize = std::env::args().nth(1).map_or(2_000, |n| n.parse().expect("a number of entities"));
    let mut engine = Engine::new(babble_bench::engine_config());
    let t0 = Instant::now();
    // NO_PERSIST=1 measures the engine as run without a data directory.
    if std::env::var_os("NO_PERSIST").is_none() {
        engine.enable_persistence(t0, 0);
    }
    let mut clock = Clock::new(t0);

    let mut subscriptions = 0;
    let started = Instant::now();
    let mut answered = Sent::default();
    for e in 0..entities {
        let watches = (0..BLF_KEYS)
            .map(|_| ("dialog", "application/dialog-info+xml"))
            .chain([("presence", "application/pidf+xml"), ("message-summary", "application/simple-message-summary")]);
        for (event, accept) in watches {
            let n = subscriptions;
            subscriptions += 1;
            let phone = phone(n);
            let request = format!(
                "SUBSCRIBE sip:{ext}@pbx.example.com SIP/2.0\r\n\
                 Via: SIP/2.0/UDP {addr};branch=z9hG4bK-{n}\r\n\
                 Max-Forwards: 70\r\n\
                 From: <sip:{sub}@pbx.example.com>;tag=f{n}\r\n\
                 To: <sip:{ext}@pbx.example.com>\r\n\
                 Call-ID: sub-{n}@bench\r\n\
                 CSeq: 1 SUBSCRIBE\r\n\
                 Contact: <sip:{sub}@{addr}>\r\n\
                 Event: {event}\r\nAccept: {accept}\r\nExpires: 3600\r\n\
                 User-Agent: {ua}\r\nContent-Length: 0\r\n\r\n",
                ext = 10_000 + e,
                sub = 50_000 + n,
                addr = phone.addr,
                ua = USER_AGENTS[n % USER_AGENTS.len()],
            );
            engine.handle_sip(request.as_bytes(), phone, clock.tick());
            answered += answer_notifies(&mut engine, &mut clock);
        }
    }
    let subscribe = started.elapsed();
    assert_eq!(engine.subscription_count(), subscriptions, "every SUBSCRIBE is accepted");
    assert_eq!(answered.notifies, subscriptions, "each gets its first NOTIFY");
    let stored = answered.stored;

    println!(
        "notify_fanout: {entities} extensions, {subscriptions} subscriptions ({BLF_KEYS} BLF, 1 presence, 1 MWI each)"
    );
    println!(
        "  SUBSCRIBE + first NOTIFY + its 200:   {:>8.1} ms  ({:>7.0} subscriptions/s, {stored} changes to store)",
        ms(subscribe),
        subscriptions as f64 / subscribe.as_secs_f64()
    );
    for (label, state) in
        [("ringing", CallState::Early), ("answered", CallState::Confirmed), ("ended", CallState::Terminated)]
    {
        let started = Instant::now();
        let mut sent = Sent::default();
        for e in 0..entities {
            let call = Call { direction: Some(Direction::Recipient), ..Call::new(format!("call-{e}"), state) };
            let command = Command::Dialog {
                entity: format!("{}@pbx.example.com", 10_000 + e),
                display: None,
                call_count: None,
                calls: CallsUpdate::Partial(call),
                call_id: None,
            };
            engine.handle_command(command, clock.tick());
            sent += answer_notifies(&mut engine, &mut clock);
        }
        let took = started.elapsed();
        println!(
            "  call {label:<9} on every extension:  {:>8.1} ms  ({:>7.0} NOTIFYs/s, {} NOTIFYs, {} changes to store)",
            ms(took),
            sent.notifies as f64 / took.as_secs_f64(),
            sent.notifies,
            sent.stored
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
