//! Transaction timers (RFC 3261 §17.1.2.2, §17.2.2) driven by a virtual clock: an
//! `Instant` captured once and advanced by adding durations, never by sleeping.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_proto::transaction::{
    ClientAction, ClientState, ClientTransaction, ServerState, ServerTransaction, TimerConfig,
};

fn secs(t0: Instant, s: f64) -> Instant {
    t0 + Duration::from_secs_f64(s)
}

/// Runs a client transaction's timers until it ends or `until` passes, recording when each
/// action happened (seconds after start).
fn run_client(txn: &mut ClientTransaction, t0: Instant, until: f64) -> Vec<(f64, ClientAction)> {
    let mut actions = Vec::new();
    while let Some(deadline) = txn.deadline() {
        if deadline > secs(t0, until) {
            break;
        }
        if let Some(action) = txn.on_timeout(deadline) {
            actions.push(((deadline - t0).as_secs_f64(), action));
        }
    }
    actions
}

#[test]
fn timer_e_doubles_from_t1_to_t2_and_timer_f_ends_at_64_t1() {
    let t0 = Instant::now();
    let mut txn = ClientTransaction::new(false, TimerConfig::default(), t0);
    let actions = run_client(&mut txn, t0, 100.0);
    let retransmits: Vec<f64> =
        actions.iter().filter(|(_, a)| *a == ClientAction::Retransmit).map(|(t, _)| *t).collect();
    // Intervals 0.5, 1, 2, 4, 4, 4 ... (capped at T2) until Timer F at 32 s.
    assert_eq!(retransmits, vec![0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]);
    assert_eq!(actions.last(), Some(&(32.0, ClientAction::TimedOut)));
    assert!(txn.is_terminated());
}

#[test]
fn provisional_response_moves_timer_e_to_t2() {
    let t0 = Instant::now();
    let mut txn = ClientTransaction::new(false, TimerConfig::default(), t0);
    assert_eq!(txn.on_timeout(secs(t0, 0.5)), Some(ClientAction::Retransmit));
    assert!(txn.on_response(100, secs(t0, 0.7)));
    assert_eq!(txn.state(), ClientState::Proceeding);
    // The pending E (at 1.5 s) fires, then every T2.
    assert_eq!(txn.on_timeout(secs(t0, 1.5)), Some(ClientAction::Retransmit));
    assert_eq!(txn.deadline(), Some(secs(t0, 5.5)));
}

#[test]
fn final_response_then_timer_k_absorbs_retransmissions_on_udp() {
    let t0 = Instant::now();
    let mut txn = ClientTransaction::new(false, TimerConfig::default(), t0);
    assert!(txn.on_response(200, secs(t0, 0.2)));
    assert_eq!(txn.state(), ClientState::Completed);
    assert!(!txn.on_response(200, secs(t0, 0.3)), "a retransmitted final response is absorbed");
    assert_eq!(txn.deadline(), Some(secs(t0, 5.2)), "Timer K = T4");
    assert_eq!(txn.on_timeout(secs(t0, 5.2)), None);
    assert!(txn.is_terminated());
}

#[test]
fn reliable_client_never_retransmits_and_ends_on_final() {
    let t0 = Instant::now();
    let mut txn = ClientTransaction::new(true, TimerConfig::default(), t0);
    assert_eq!(txn.deadline(), Some(secs(t0, 32.0)), "only Timer F runs");
    let mut timed_out = txn.clone();
    assert_eq!(run_client(&mut timed_out, t0, 100.0), vec![(32.0, ClientAction::TimedOut)]);
    assert!(txn.on_response(481, secs(t0, 1.0)));
    assert!(txn.is_terminated(), "Timer K is zero on reliable transports");
}

#[test]
fn configured_timers_are_honoured() {
    let t0 = Instant::now();
    let fast =
        TimerConfig { t1: Duration::from_millis(100), t2: Duration::from_millis(300), t4: Duration::from_secs(1) };
    let mut txn = ClientTransaction::new(false, fast, t0);
    let actions = run_client(&mut txn, t0, 100.0);
    let retransmits = actions.iter().filter(|(_, a)| *a == ClientAction::Retransmit).count();
    // 0.1, 0.3, then 0.6, 0.9, ... 6.3 (every T2 = 0.3 s): 2 + 20 retransmissions.
    assert_eq!(retransmits, 22);
    assert_eq!(actions.last().map(|(t, _)| (*t * 10.0).round() / 10.0), Some(6.4));
}

#[test]
fn server_absorbs_in_trying_and_resends_the_last_response_after() {
    let t0 = Instant::now();
    let mut txn = ServerTransaction::new(false, TimerConfig::default());
    assert_eq!(txn.on_retransmission(), None, "nothing to resend before the TU answers");
    assert!(txn.on_response(100, Bytes::from_static(b"100"), t0));
    assert_eq!(txn.state(), ServerState::Proceeding);
    assert_eq!(txn.on_retransmission(), Some(Bytes::from_static(b"100")));
    assert!(txn.on_response(200, Bytes::from_static(b"200"), secs(t0, 1.0)));
    assert_eq!(txn.on_retransmission(), Some(Bytes::from_static(b"200")));
    assert!(!txn.on_response(500, Bytes::from_static(b"500"), secs(t0, 2.0)), "one final response only");
    assert_eq!(txn.deadline(), Some(secs(t0, 33.0)), "Timer J = 64*T1 after the final response");
    txn.on_timeout(secs(t0, 32.9));
    assert_eq!(txn.state(), ServerState::Completed);
    txn.on_timeout(secs(t0, 33.0));
    assert!(txn.is_terminated());
}

#[test]
fn reliable_server_ends_with_its_final_response() {
    let mut txn = ServerTransaction::new(true, TimerConfig::default());
    assert!(txn.on_response(200, Bytes::from_static(b"200"), Instant::now()));
    assert!(txn.is_terminated());
    assert_eq!(txn.deadline(), None);
}
