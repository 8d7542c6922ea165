//! Lifecycles through the sans-IO engine, as `sip_load` drives the server with SIPp but
//! without sockets: SUBSCRIBE → 200 + NOTIFY → 200, then unsubscribe → 200 + NOTIFY → 200,
//! over 100 entities, persistence on (the changes to store are taken as the driver does).
//! Prints the time per lifecycle; under `valgrind --tool=callgrind` the instruction count
//! divided by the lifecycles is a figure that does not move with the machine's load.
//!
//! `cargo run --release -p babble-bench --bin engine_lifecycle [-- LIFECYCLES]`

// A benchmark program: failing loudly is its job, and it reads the clock to measure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use presence_core::{Engine, FlowId, Peer, Received, Transport};
use sip_proto::{Message, Request, Response, parse_message};

/// Entities the subscriptions spread over, as in `sip_load`.
const ENTITIES: usize = 100;

fn main() {
    let lifecycles: usize = std::env::args().nth(1).map_or(20_000, |n| n.parse().expect("a number of lifecycles"));
    let t0 = Instant::now();
    let mut engine = Engine::new(babble_bench::engine_config());
    engine.enable_persistence(t0, 0);
    let mut now = t0;
    let mut stored = 0;
    let started = Instant::now();
    for n in 0..lifecycles {
        let phone = Peer {
            transport: Transport::Udp,
            addr: format!("127.0.{}.{}:{}", n / 50_000 % 256, n / 250 % 200, 5_000 + n % 250).parse().unwrap(),
            flow: Some(FlowId(1)),
            local: "127.0.0.1:5060".parse().unwrap(),
        };
        let subscribe = subscribe(n, phone, 3600, None, 1);
        let ok = exchange(&mut engine, &subscribe, phone, now, &mut stored);
        let to_tag = ok.headers.to().unwrap().tag().unwrap().to_owned();
        exchange(&mut engine, &subscribe_in_dialog(n, phone, &to_tag), phone, now, &mut stored);
        // Timers come due as the virtual clock moves (Timer J of the transactions).
        now += Duration::from_micros(100);
        if n % 100 == 0 {
            engine.handle_timeout(now);
        }
    }
    let took = started.elapsed();
    assert_eq!(engine.subscription_count(), 0, "every lifecycle ended");
    println!("engine_lifecycle: {lifecycles} lifecycles over {ENTITIES} entities, persistence on");
    println!(
        "  {:>8.2} us per lifecycle ({:.0} lifecycles/s, {stored} changes to store)",
        took.as_secs_f64() * 1e6 / lifecycles as f64,
        lifecycles as f64 / took.as_secs_f64()
    );
}

fn subscribe(n: usize, phone: Peer, expires: u32, to_tag: Option<&str>, cseq: u32) -> Vec<u8> {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "SUBSCRIBE sip:{ext}@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {addr};branch=z9hG4bK-{n}-{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:l{n}@127.0.0.1>;tag=4242L{n}\r\n\
         To: <sip:{ext}@127.0.0.1:5060>{to_tag}\r\n\
         Call-ID: {n}-4242@127.0.0.1\r\n\
         CSeq: {cseq} SUBSCRIBE\r\n\
         Contact: <sip:l{n}@{addr}>\r\n\
         Event: dialog\r\nAccept: application/dialog-info+xml\r\nExpires: {expires}\r\n\
         Content-Length: 0\r\n\r\n",
        ext = 1_000 + n % ENTITIES,
        addr = phone.addr,
    )
    .into_bytes()
}

fn subscribe_in_dialog(n: usize, phone: Peer, to_tag: &str) -> Vec<u8> {
    subscribe(n, phone, 0, Some(to_tag), 2)
}

/// Sends `request`, answers the NOTIFY it causes with 200 as the phone would, and returns
/// the response to the request.
fn exchange(engine: &mut Engine, request: &[u8], phone: Peer, now: Instant, stored: &mut usize) -> Response {
    engine.handle_received(Received::read(request, usize::MAX), phone, now);
    let mut response = None;
    let mut notifies: Vec<Request> = Vec::new();
    while let Some(transmit) = engine.poll_transmit() {
        match parse_message(&transmit.payload).unwrap() {
            Message::Response(r) => response = Some(r),
            Message::Request(r) => notifies.push(r),
        }
    }
    *stored += engine.take_changes().len();
    for notify in notifies {
        let ok = Response::to(&notify, 200).encode();
        engine.handle_received(Received::read(&ok, usize::MAX), phone, now);
        *stored += engine.take_changes().len();
    }
    while engine.poll_event().is_some() {}
    response.expect("a response")
}
