//! Resource lists (RFC 4662) against the real server, with SIPp phones over UDP and TCP: a
//! phone subscribes once to a configured list and gets every member's lamp in one full-state
//! NOTIFY, then a partial one when a member rings; a phone without eventlist gets 421. A
//! strict subscriber (`interop/rlmi/list_subscriber.py`) reads the same NOTIFYs with Python's
//! MIME parser and validates the list documents against the RFC 4662 schema.

use std::process::Command;

use babble_presence::Transport;
use babble_presence::config::ListEntry;
use serde_json::json;

use crate::interop::{run_sipp, sipp, sipp_flag};
use crate::matrix::{self, Client};
use crate::support::*;

/// The list the tests subscribe to: three members, BLF.
fn sales() -> ListEntry {
    ListEntry {
        uri: "sip:blf-sales@127.0.0.1".into(),
        name: Some("Sales".into()),
        members: ["1001", "1002", "1003"].map(|u| format!("sip:{u}@127.0.0.1")).into(),
        events: vec!["dialog".into()],
        batch_interval_ms: 200,
    }
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_a_blf_list_is_one_subscription_full_state_first_then_partial() {
    let feature = "BLF list (RFC 4662): one SUBSCRIBE with eventlist, a full-state multipart/related NOTIFY with every member, then a partial one for the member that rang; 421 without eventlist";
    let Some(sipp) = sipp() else { return };
    for transport in [Transport::Udp, Transport::Tcp] {
        let server = start_in_process(|c| c.lists = vec![sales()]).await;
        let (http, target, flag) = (server.http_addr(), server.local_addr(transport).unwrap(), sipp_flag(transport));
        let s = sipp.clone();
        tokio::task::spawn_blocking(move || run_sipp(&s, target, "list_421.xml", flag, &[])).await.unwrap();
        let s = sipp.clone();
        let phone = tokio::task::spawn_blocking(move || run_sipp(&s, target, "list_subscribe.xml", flag, &[]));
        api_until(http, "/api/v1/subscriptions", "the list subscription", |s| {
            s.as_array().is_some_and(|subs| subs.len() == 1 && subs[0]["entity"] == "blf-sales@127.0.0.1")
        })
        .await;
        let ringing = json!({"partial": {"sip": {"callid": "c1"}, "state": "early", "direction": "recipient"}});
        put_accepted(http, "/api/v1/entities/1002@127.0.0.1/dialogs", &ringing).await;
        phone.await.unwrap();
        server.shutdown().await.unwrap();
        matrix::passed(Client::Sipp, transport, feature);
    }
}

#[cfg_attr(not(has_xmlschema), ignore = "needs xmlschema: pip install xmlschema")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_notifies_pass_a_mime_parser_and_the_rlmi_schema() {
    let found = Command::new("python3").args(["-c", "import xmlschema"]).output().is_ok_and(|o| o.status.success());
    if !tool_available(found, "xmlschema", "pip install xmlschema") {
        return;
    }
    let server = start_in_process(|c| c.lists = vec![sales()]).await;
    let (http, udp) = (server.http_addr(), server.local_addr(Transport::Udp).unwrap());
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/rlmi/list_subscriber.py");
    let subscriber = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .args(["--server", &udp.to_string(), "--list", "blf-sales", "--members", "3", "--partial", "1"])
            .output()
            .expect("python3 runs")
    });
    api_until(http, "/api/v1/subscriptions", "the strict subscriber's list subscription", |s| {
        s.as_array().is_some_and(|subs| subs.len() == 1)
    })
    .await;
    let ringing = json!({"partial": {"sip": {"callid": "c1"}, "state": "early", "direction": "recipient"}});
    put_accepted(http, "/api/v1/entities/1003@127.0.0.1/dialogs", &ringing).await;
    let out = subscriber.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("partial version=1 resources=1 uris=sip:1003@127.0.0.1"), "{stdout}");
    server.shutdown().await.unwrap();
}
