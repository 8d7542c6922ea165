//! PUBLISH against SIPp over UDP and TCP: a publisher and a watcher in separate SIPp
//! processes, for each package, watch-then-publish (the watcher sees the published state
//! arrive, change and leave) and publish-then-watch (the first NOTIFY already shows it).

use std::time::Duration;

use babble_presence::Transport;
use babble_presence::api::InEvent;

use crate::interop::{run_sipp, sipp, sipp_flag};
use crate::matrix::{self, Client};
use crate::support::*;

/// Starts `watcher`, waits until its SUBSCRIBE raised an event, then runs `publisher`;
/// records `feature` for each transport that passed.
async fn watch_then_publish(watcher: &'static str, publisher: &'static str, feature: &str) {
    let Some(sipp) = sipp() else { return };
    for transport in [Transport::Udp, Transport::Tcp] {
        let server = start_in_process(|_| {}).await;
        let mut events = server.events();
        let target = server.local_addr(transport).unwrap();
        let sipp_w = sipp.clone();
        let watching =
            tokio::task::spawn_blocking(move || run_sipp(&sipp_w, target, watcher, sipp_flag(transport), &[]));
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("the watcher subscribed");
        assert!(matches!(event.map(|e| e.event), Ok(InEvent::SubscribeIn(_) | InEvent::VoicemailIn(_))));
        let sipp_p = sipp.clone();
        tokio::task::spawn_blocking(move || run_sipp(&sipp_p, target, publisher, sipp_flag(transport), &[]))
            .await
            .unwrap();
        watching.await.unwrap();
        let stats = server.shutdown().await.unwrap();
        assert_eq!(stats.subscriptions_lost, 0);
        matrix::passed(Client::Sipp, transport, feature);
    }
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_presence_publisher_and_watcher() {
    let feature = "PUBLISH presence (PIDF): a watcher sees DND published, then removed";
    watch_then_publish("watch_presence_publish.xml", "publish_presence.xml", feature).await;
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_dialog_publisher_and_blf_watcher() {
    let feature = "PUBLISH dialog: a BLF watcher sees ring, answer (SIP-If-Match modify), end, idle";
    watch_then_publish("watch_dialog_publish.xml", "publish_dialog.xml", feature).await;
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_mwi_publisher_and_subscriber() {
    let feature = "PUBLISH message-summary: an MWI subscriber sees the counts published, then removed";
    watch_then_publish("watch_mwi_publish.xml", "publish_mwi.xml", feature).await;
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_publish_then_watch() {
    let Some(sipp) = sipp() else { return };
    for transport in [Transport::Udp, Transport::Tcp] {
        let server = start_in_process(|_| {}).await;
        let target = server.local_addr(transport).unwrap();
        let s = sipp.clone();
        tokio::task::spawn_blocking(move || {
            run_sipp(&s, target, "publish_presence_keep.xml", sipp_flag(transport), &[])
        })
        .await
        .unwrap();
        let s = sipp.clone();
        tokio::task::spawn_blocking(move || {
            run_sipp(&s, target, "watch_presence_published.xml", sipp_flag(transport), &[])
        })
        .await
        .unwrap();
        server.shutdown().await.unwrap();
        matrix::passed(Client::Sipp, transport, "PUBLISH then watch: the first NOTIFY shows the published state");
    }
}
