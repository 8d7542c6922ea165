//! The registrar and subscribing back to phones against SIPp over UDP and TCP: a SIPp
//! "phone" REGISTERs (with and without digest authentication), answers the server's
//! SUBSCRIBE and NOTIFYs a Polycom XPIDF `busy`; SIPp watchers then see DND as PIDF, XPIDF
//! and a lit BLF key; when the phone unregisters the server ends its subscription and the
//! entity shows offline.

use std::path::PathBuf;
use std::time::Duration;

use babble_presence::Transport;
use babble_presence::api::InEvent;
use babble_presence::{SequencedEvent, api};
use tokio::sync::broadcast;

use crate::interop::{run_sipp, scenario, sipp};
use crate::matrix::{self, Client};
use crate::support::*;

/// Waits for the first event `pick` accepts.
async fn wait_for<T>(events: &mut broadcast::Receiver<SequencedEvent>, pick: impl Fn(InEvent) -> Option<T>) -> T {
    let wait = async {
        loop {
            if let Some(found) = pick(events.recv().await.expect("the event stream").event) {
                return found;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait).await.expect("the event in time")
}

async fn phone_dnd_reaches_watchers_and_unregistering_ends_it(phone: &'static str, auth: bool, feature: &str) {
    let Some(sipp) = sipp() else { return };
    for (transport, flag) in [(Transport::Udp, "u1"), (Transport::Tcp, "t1")] {
        let server = start_in_process(|c| {
            if auth {
                c.auth.register = true;
                c.auth.users = vec![user_1001()];
            }
        })
        .await;
        let mut events = server.events();
        let target = server.local_addr(transport).unwrap();
        let errors: PathBuf = std::env::temp_dir().join(format!("bp-phone-{}-{flag}-{auth}.err", std::process::id()));
        let _ = std::fs::remove_file(&errors);
        let ooc = scenario("phone_ooc.xml");
        let (s, e) = (sipp.clone(), errors.clone());
        let phone = tokio::task::spawn_blocking(move || {
            let extra = ["-oocsf", ooc.to_str().unwrap(), "-trace_err", "-error_file", e.to_str().unwrap()];
            run_sipp(&s, target, phone, flag, &extra);
        });

        let status: api::StatusReport = wait_for(&mut events, |e| match e {
            InEvent::StatusIn(s) => Some(s),
            _ => None,
        })
        .await;
        assert_eq!((status.entity.as_str(), status.dnd), ("1001@127.0.0.1", true));
        for watcher in ["watch_dnd_pidf.xml", "watch_dnd_xpidf.xml", "watch_dnd_dialog.xml"] {
            let s = sipp.clone();
            tokio::task::spawn_blocking(move || run_sipp(&s, target, watcher, flag, &[])).await.unwrap();
        }
        wait_for(&mut events, |e| matches!(e, InEvent::Unregister(_)).then_some(())).await;
        let s = sipp.clone();
        tokio::task::spawn_blocking(move || run_sipp(&s, target, "watch_offline.xml", flag, &[])).await.unwrap();
        phone.await.unwrap();
        // The phone's own side (answering our SUBSCRIBE, its NOTIFY, and our Expires: 0
        // SUBSCRIBE when it unregistered) ran to the end.
        let log = std::fs::read_to_string(&errors).unwrap_or_default();
        let failed = ["aborting call", "dead call", "failed regexp match"];
        assert!(!failed.iter().any(|f| log.to_ascii_lowercase().contains(f)), "phone side failed:\n{log}");
        assert!(log.contains("out-of-call SUBSCRIBE"), "the server subscribed to the phone:\n{log}");
        server.shutdown().await.unwrap();
        matrix::passed(Client::Sipp, transport, feature);
    }
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_phone_registers_reports_dnd_and_unregisters() {
    let feature = "registrar: a phone REGISTERs, is subscribed to, NOTIFYs XPIDF busy; PIDF, XPIDF and BLF watchers see DND; unregistering ends it and shows offline";
    phone_dnd_reaches_watchers_and_unregistering_ends_it("phone_register.xml", false, feature).await;
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_phone_registers_with_digest_authentication() {
    let feature = "registrar: the same with digest authentication (401, credentials, 200)";
    phone_dnd_reaches_watchers_and_unregistering_ends_it("phone_register_auth.xml", true, feature).await;
}
