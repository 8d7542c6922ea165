//! A site of PHONES phones, each with a BLF key for every other one, through the sans-IO
//! engine two ways: one subscription per key (PHONES × (PHONES − 1) SUBSCRIBEs), and one
//! subscription per phone to a resource list of every extension (RFC 4662). For a site boot
//! and for a burst of calls (every extension rings, answers and hangs up, all at once) it
//! prints the SUBSCRIBEs, NOTIFYs and bytes the server takes and sends, and how long the
//! engine took on this machine. Lists batch their members' changes for 200 ms; the burst
//! moves the virtual clock on by that much before the batched NOTIFYs are counted.
//!
//! `cargo run --release -p babble-bench --bin list_fanout [-- PHONES]`

// A benchmark program: failing loudly is its job, and it reads the clock to measure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use babble_bench::sim::{Clock, Sent, answer_notifies, phone};
use presence_core::Engine;
use presence_core::api::{CallsUpdate, Command};
use presence_core::call::{Call, CallState, Direction};
use presence_core::lists::ListConfig;

const BATCH: Duration = Duration::from_millis(200);

fn extension(n: usize) -> String {
    format!("{}@pbx.example.com", 1_000 + n)
}

fn subscribe(target: &str, from: usize, n: usize, list: bool) -> String {
    let (supported, accept) = if list {
        ("Supported: eventlist\r\n", "multipart/related, application/rlmi+xml, application/dialog-info+xml")
    } else {
        ("", "application/dialog-info+xml")
    };
    format!(
        "SUBSCRIBE sip:{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {addr};branch=z9hG4bK-{n}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{sub}>;tag=f{n}\r\n\
         To: <sip:{target}>\r\n\
         Call-ID: sub-{n}@bench\r\n\
         CSeq: 1 SUBSCRIBE\r\n\
         Contact: <sip:{user}@{addr}>\r\n\
         Event: dialog\r\nAccept: {accept}\r\n{supported}Expires: 3600\r\n\
         User-Agent: Yealink SIP-T46S 66.86.0.15\r\nContent-Length: 0\r\n\r\n",
        addr = phone(from).addr,
        sub = extension(from),
        user = 1_000 + from,
    )
}

/// One way of watching the site: what boot and a burst cost.
struct Figures {
    subscribes: usize,
    boot: Sent,
    boot_took: Duration,
    burst: Sent,
    burst_took: Duration,
}

fn run(phones: usize, list: bool) -> Figures {
    let mut config = babble_bench::engine_config();
    if list {
        config.lists = vec![ListConfig {
            uri: "sip:blf-site@pbx.example.com".into(),
            name: Some("Site".into()),
            members: (0..phones).map(|n| format!("sip:{}", extension(n))).collect(),
            events: vec!["dialog".into()],
            batch_interval_ms: BATCH.as_millis() as u32,
        }];
    }
    let mut engine = Engine::new(config);
    let t0 = Instant::now();
    engine.enable_persistence(t0, 0);
    let mut clock = Clock::new(t0);

    let started = Instant::now();
    let mut boot = Sent::default();
    let mut subscribes = 0;
    for from in 0..phones {
        let targets: Vec<String> = if list {
            vec!["blf-site@pbx.example.com".into()]
        } else {
            (0..phones).filter(|&t| t != from).map(extension).collect()
        };
        for target in targets {
            let request = subscribe(&target, from, subscribes, list);
            subscribes += 1;
            engine.handle_sip(request.as_bytes(), phone(from), clock.tick());
            boot += answer_notifies(&mut engine, &mut clock);
        }
    }
    let boot_took = started.elapsed();
    assert_eq!(engine.subscription_count(), subscribes, "every SUBSCRIBE is accepted");

    let started = Instant::now();
    let mut burst = Sent::default();
    for state in [CallState::Early, CallState::Confirmed, CallState::Terminated] {
        for n in 0..phones {
            let call = Call { direction: Some(Direction::Recipient), ..Call::new(format!("call-{n}"), state) };
            let calls = CallsUpdate::Partial(call);
            let command =
                Command::Dialog { entity: extension(n), display: None, call_count: None, calls, call_id: None };
            engine.handle_command(command, clock.tick());
            burst += answer_notifies(&mut engine, &mut clock);
        }
        // The lists' batches end; what each gathered goes out.
        engine.handle_timeout(clock.advance(BATCH));
        burst += answer_notifies(&mut engine, &mut clock);
    }
    Figures { subscribes, boot, boot_took, burst, burst_took: started.elapsed() }
}

fn main() {
    let phones: usize = std::env::args().nth(1).map_or(40, |n| n.parse().expect("a number of phones"));
    println!("list_fanout: {phones} phones, each with a BLF key for every other extension");
    println!("  {:<28} {:>10} {:>12} {:>12} {:>10}", "", "SUBSCRIBEs", "NOTIFYs", "bytes sent", "engine ms");
    for (label, list) in [("one subscription per key", false), ("one list per phone", true)] {
        let f = run(phones, list);
        println!(
            "  {:<28} {:>10} {:>12} {:>12} {:>10.1}   site boot",
            label,
            f.subscribes,
            f.boot.notifies,
            f.boot.bytes,
            f.boot_took.as_secs_f64() * 1000.0
        );
        println!(
            "  {:<28} {:>10} {:>12} {:>12} {:>10.1}   burst: every extension rings, answers, hangs up",
            "",
            "",
            f.burst.notifies,
            f.burst.bytes,
            f.burst_took.as_secs_f64() * 1000.0
        );
    }
}
