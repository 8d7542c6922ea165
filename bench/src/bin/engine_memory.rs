//! Memory of idle subscriptions in the sans-IO engine, counted by the allocator: the bytes
//! live on the heap as 20 000 and then 100 000 dialog subscriptions are held (each set up
//! as SIPp's `hold.xml` does it: SUBSCRIBE for an hour, its first NOTIFY answered 200, the
//! transactions then gone), at 5 000 new subscriptions a second on a virtual clock, with
//! persistence on. The marginal figure between the two counts
//! is the engine's share of the process-level figure `sip_load memory` prints (which adds
//! the allocator's own overhead and what the shell holds). Prints figures.
//!
//! `cargo run --release -p babble-bench --bin engine_memory [-- --quick]`; with `DHAT_JSON=1`,
//! dhat-heap.json shows where the bytes held at the end were allocated.

// A benchmark program: failing loudly is its job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use presence_core::{Engine, EngineConfig, FlowId, Peer, Transport};
use sip_proto::{Message, Response, parse_message};

/// Subscriptions held at the first count, and in all at the second (`--quick`: a tenth).
const HELD: [usize; 2] = [20_000, 100_000];
/// New subscriptions a second (virtual time), as `sip_load memory` offers them.
const SUBSCRIBE_RATE: u32 = 5_000;
/// Entities the subscriptions spread over, as in `sip_load`.
const ENTITIES: usize = 100;

/// dhat's allocator counts the bytes live on the heap, and where they were allocated.
#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

fn main() {
    // With DHAT_JSON set, dhat also writes where the bytes were allocated to
    // dhat-heap.json (open it in dhat's viewer, dh_view.html).
    let _profiler = if std::env::var_os("DHAT_JSON").is_some() {
        dhat::Profiler::builder().trim_backtraces(Some(12)).build()
    } else {
        dhat::Profiler::builder().testing().build()
    };
    let live_bytes = || dhat::HeapStats::get().curr_bytes;
    let scale = if std::env::args().any(|a| a == "--quick") { 10 } else { 1 };
    let held_at = HELD.map(|n| n / scale);
    let t0 = Instant::now();
    let mut engine =
        Engine::new(EngineConfig { max_subscriptions_per_entity: HELD[1], ..babble_bench::engine_config() });
    engine.enable_persistence(t0, 0);
    let mut now = t0;
    let before = live_bytes();
    let mut held = 0;
    let mut live = Vec::new();
    for target in held_at {
        while held < target {
            subscribe(&mut engine, held, now);
            held += 1;
            // At SUBSCRIBE_RATE, handling the timers as they fall due, so as many
            // transactions are in flight at once as under that load.
            now += Duration::from_secs(1) / SUBSCRIBE_RATE;
            if held % 100 == 0 {
                engine.handle_timeout(now);
            }
        }
        // Past Timer J and Timer K (64*T1 for UDP), so only the subscriptions are left.
        now += Duration::from_secs(40);
        engine.handle_timeout(now);
        drop(engine.take_changes());
        assert_eq!(engine.subscription_count(), target, "every SUBSCRIBE is held");
        live.push(live_bytes() - before);
    }
    let marginal = (live[1] - live[0]) / (held_at[1] - held_at[0]);
    // Still held when dhat takes its end-of-run figures, so dhat-heap.json shows where the
    // engine's bytes are (the process exits next).
    std::mem::forget(engine);
    println!("engine_memory: idle dialog subscriptions over {ENTITIES} entities, persistence on");
    println!("  {:>7} held: {:>11} bytes on the heap", held_at[0], live[0]);
    println!("  {:>7} held: {:>11} bytes on the heap", held_at[1], live[1]);
    println!("  per subscription ({} -> {}): {marginal} bytes", held_at[0], held_at[1]);
}

/// Subscriber `n`'s SUBSCRIBE, its 200 and first NOTIFY, and the phone's 200 to that.
fn subscribe(engine: &mut Engine, n: usize, now: Instant) {
    let phone = Peer {
        transport: Transport::Udp,
        addr: format!("127.0.{}.{}:{}", n / 50_000 % 256, n / 250 % 200, 5_000 + n % 250).parse().unwrap(),
        flow: Some(FlowId(1)),
        local: "127.0.0.1:5060".parse().unwrap(),
    };
    let request = format!(
        "SUBSCRIBE sip:{ext}@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {addr};branch=z9hG4bK-{n}-0;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:h{n}@127.0.0.1>;tag=4242H{n}\r\n\
         To: <sip:{ext}@127.0.0.1:5060>\r\n\
         Call-ID: {n}-4242@127.0.0.1\r\n\
         CSeq: 1 SUBSCRIBE\r\n\
         Contact: <sip:h{n}@{addr}>\r\n\
         Event: dialog\r\nAccept: application/dialog-info+xml\r\nExpires: 3600\r\n\
         Content-Length: 0\r\n\r\n",
        ext = 1_000 + n % ENTITIES,
        addr = phone.addr,
    );
    engine.handle_sip(request.as_bytes(), phone, now);
    let mut answers = Vec::new();
    while let Some(transmit) = engine.poll_transmit() {
        if let Ok(Message::Request(notify)) = parse_message(&transmit.payload) {
            answers.push(Response::to(&notify, 200).encode());
        }
    }
    for ok in answers {
        engine.handle_sip(&ok, phone, now);
    }
    while engine.poll_transmit().is_some() {}
    while engine.poll_event().is_some() {}
}
