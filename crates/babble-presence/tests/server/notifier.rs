//! The notifier against SIPp over UDP and TCP, with the server run in-process through the
//! library API so the test can push state (`.out` events) while SIPp watches: for each
//! package, subscribe, the immediate NOTIFY with the right body, a NOTIFY after a state
//! change, unsubscribe and the terminated NOTIFY; and refresh then expiry.

use std::time::Duration;

use babble_presence::api::{CallsUpdate, Command, InEvent, VoicemailReason};
use babble_presence::call::{Call, CallState};
use babble_presence::{MessageCounts, Transport};
use presence_core::bodies::Basic;

use crate::interop::{run_sipp, sipp, sipp_flag};
use crate::matrix::{self, Client};
use crate::support::*;

/// Runs `scenario` over UDP and TCP, pushing `push` once SIPp's SUBSCRIBE raised its event;
/// records `feature` for each transport that passed.
async fn watch_and_push(scenario: &'static str, push: fn(String) -> Command, feature: &str) {
    let Some(sipp) = sipp() else { return };
    for transport in [Transport::Udp, Transport::Tcp] {
        let server = start_in_process(|_| {}).await;
        let mut events = server.events();
        let target = server.local_addr(transport).unwrap();
        let flag = sipp_flag(transport);
        let sipp = sipp.clone();
        let run = tokio::task::spawn_blocking(move || run_sipp(&sipp, target, scenario, flag, &[]));
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("an .in event").unwrap();
        let entity = match event.event {
            InEvent::SubscribeIn(w) | InEvent::VoicemailIn(w) => w.entity,
            other => panic!("unexpected event {other:?}"),
        };
        assert_eq!(entity, "1001@127.0.0.1", "the event names the watched resource");
        server.send(push(entity)).await.unwrap();
        run.await.unwrap();
        let stats = server.shutdown().await.unwrap();
        assert_eq!(stats.subscriptions_lost, 0);
        matrix::passed(Client::Sipp, transport, feature);
    }
}

fn dnd(entity: String) -> Command {
    Command::Status { entity, basic: Basic::Open, note: Some("DND".into()), dnd: true, on_the_phone: false }
}

fn ringing(entity: String) -> Command {
    let calls = CallsUpdate::Partial(Call::new("sipp-call-1", CallState::Early));
    Command::Dialog { entity, display: Some("Alice".into()), call_count: None, calls, call_id: None }
}

fn messages(entity: String) -> Command {
    let counts = MessageCounts { new: 2, old: 5, new_urgent: 0, old_urgent: 1 };
    Command::Voicemail { entity, counts, reason: VoicemailReason::Update }
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_presence_watcher_over_udp_and_tcp() {
    let feature = "presence: a watcher gets 200, a PIDF NOTIFY, a DND NOTIFY; unsubscribe → terminated NOTIFY";
    watch_and_push("subscribe_presence.xml", dnd, feature).await;
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_blf_watcher_over_udp_and_tcp() {
    let feature = "dialog: a BLF watcher gets 200, idle dialog-info, a ringing call; unsubscribe → terminated NOTIFY";
    watch_and_push("subscribe_dialog.xml", ringing, feature).await;
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_mwi_subscriber_over_udp_and_tcp() {
    let feature = "MWI: a subscriber gets 200, zero counts, pushed counts; unsubscribe → terminated NOTIFY";
    watch_and_push("subscribe_mwi.xml", messages, feature).await;
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_refresh_outlives_the_first_expiry_then_expires_with_timeout() {
    let Some(sipp) = sipp() else { return };
    for (transport, flag) in [(Transport::Udp, "u1"), (Transport::Tcp, "t1")] {
        let server = start_in_process(|c| c.notifier.min_expires = 1).await;
        let target = server.local_addr(transport).unwrap();
        let sipp = sipp.clone();
        tokio::task::spawn_blocking(move || run_sipp(&sipp, target, "subscribe_refresh_expiry.xml", flag, &[]))
            .await
            .unwrap();
        server.shutdown().await.unwrap();
        let feature = "rules (RFC 6665): a refresh outlives the first expiry; expiry sends terminated;reason=timeout";
        matrix::passed(Client::Sipp, transport, feature);
    }
}
