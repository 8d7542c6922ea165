//! Resource lists (RFC 4662) against the real server, with SIPp phones over UDP and TCP: a
//! phone subscribes once to a configured list and gets every member's lamp in one full-state
//! NOTIFY, then a partial one when a member rings; a phone without eventlist gets 421.

use babble_presence::Transport;
use babble_presence::config::ListEntry;
use serde_json::json;

use crate::interop::{run_sipp, sipp, sipp_flag};
use crate::matrix::{self, Client};
use crate::support::*;

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_a_blf_list_is_one_subscription_full_state_first_then_partial() {
    let feature = "BLF list (RFC 4662): one SUBSCRIBE with eventlist, a full-state multipart/related NOTIFY with every member, then a partial one for the member that rang; 421 without eventlist";
    let Some(sipp) = sipp() else { return };
    for transport in [Transport::Udp, Transport::Tcp] {
        let server = start_in_process(|c| {
            c.lists = vec![ListEntry {
                uri: "sip:blf-sales@127.0.0.1".into(),
                name: Some("Sales".into()),
                members: ["1001", "1002", "1003"].map(|u| format!("sip:{u}@127.0.0.1")).into(),
                events: vec!["dialog".into()],
                batch_interval_ms: 200,
            }];
        })
        .await;
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
