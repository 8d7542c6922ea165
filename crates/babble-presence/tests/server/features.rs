//! Feature keys and lamps against the real server, with SIPp phones over UDP and TCP.
//! Feature-key synchronisation (docs/feature-keys.md): a desk phone of 1001 presses DND on
//! its feature key; the user's second phone is told, 1002's BLF key for 1001 lights, the API
//! shows it, and integrations get `presence.feature.in`; the features resource sets
//! forwarding the way a PBX would. Lamps (docs/lamps.md): a park slot's lamp set through the
//! API is seen by a BLF key dialling 701.

use std::time::Duration;

use babble_presence::Transport;
use babble_presence::api::InEvent;
use serde_json::json;

use crate::interop::{run_sipp, sipp, sipp_flag};
use crate::matrix::{self, Client};
use crate::support::*;

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_dnd_pressed_on_a_feature_key_reaches_the_other_phone_blf_keys_and_the_api() {
    let feature = "feature keys: DND pressed on one phone (SetDoNotDisturb) reaches the user's other phone, a BLF watcher and the API";
    let Some(sipp) = sipp() else { return };
    for transport in [Transport::Udp, Transport::Tcp] {
        // The phones reach the server through a trusted address, as behind the PBX's proxy:
        // without digest authentication only a trusted source may set features.
        let server = start_in_process(|c| c.limits.trusted = vec!["127.0.0.1".into()]).await;
        let (http, target, flag) = (server.http_addr(), server.local_addr(transport).unwrap(), sipp_flag(transport));
        let mut events = server.events();
        let waiting: Vec<_> = ["feature_key_receive_dnd.xml", "feature_key_blf_watcher.xml"]
            .into_iter()
            .map(|name| {
                let s = sipp.clone();
                tokio::task::spawn_blocking(move || run_sipp(&s, target, name, flag, &[]))
            })
            .collect();
        api_until(http, "/api/v1/subscriptions", "the second phone and the BLF watcher subscribed", |s| {
            s.as_array().is_some_and(|subs| subs.len() == 2)
        })
        .await;
        let s = sipp.clone();
        tokio::task::spawn_blocking(move || run_sipp(&s, target, "feature_key_set_dnd.xml", flag, &[])).await.unwrap();
        for phone in waiting {
            phone.await.unwrap();
        }
        let shown = get_json(http, "/api/v1/entities/1001@127.0.0.1/features").await;
        assert_eq!(shown["dnd"], true, "{shown}");
        let entity = get_json(http, "/api/v1/entities/1001@127.0.0.1").await;
        assert_eq!(entity["dnd"], true, "every look-up shows it: {entity}");
        let pressed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let InEvent::FeatureIn(report) = events.recv().await.unwrap().event {
                    return report;
                }
            }
        })
        .await
        .expect("presence.feature.in");
        assert_eq!((pressed.entity.as_str(), pressed.state.dnd), ("1001@127.0.0.1", true));
        assert_eq!(pressed.source.transport, if transport == Transport::Udp { "udp" } else { "tcp" });
        server.shutdown().await.unwrap();
        matrix::passed(Client::Sipp, transport, feature);
    }
}

/// The features resource: forwarding set the way a PBX's portal would, read back, and the
/// refusals naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_features_resource_sets_forwarding_and_names_what_it_refuses() {
    let server = start_in_process(|_| {}).await;
    let http = server.http_addr();
    let path = "/api/v1/entities/1001@pbx.example.com/features";
    let untouched = get_json(http, path).await;
    assert_eq!(
        untouched,
        json!({"entity": "1001@pbx.example.com", "dnd": false, "forwarding": {
            "always": {"active": false, "to": null},
            "busy": {"active": false, "to": null},
            "noanswer": {"active": false, "to": null, "ringcount": null}}})
    );
    put_accepted(http, path, &json!({"forwarding": {"noanswer": {"active": true, "to": "2002", "ringcount": 5}}}))
        .await;
    put_accepted(http, path, &json!({"dnd": true})).await;
    let set = api_until(http, path, "forwarding and DND set", |f| f["dnd"] == true).await;
    assert_eq!(set["forwarding"]["noanswer"], json!({"active": true, "to": "2002", "ringcount": 5}));
    put_accepted(http, path, &json!({"forwarding": {"noanswer": {"active": false}}})).await;
    let off = api_until(http, path, "forwarding off", |f| f["forwarding"]["noanswer"]["active"] == false).await;
    assert_eq!(off["forwarding"]["noanswer"]["to"], "2002", "the target is kept for turning it on again");

    let client = reqwest::Client::new();
    for (body, detail) in [
        (json!({"forwarding": {"busy": {"active": true}}}), "forwarding.busy.to: is required to turn forwarding on"),
        (
            json!({"forwarding": {"busy": {"active": false, "ringcount": 2}}}),
            "forwarding.busy.ringcount: unknown field",
        ),
        (
            json!({"forwarding": {"noanswer": {"active": true, "to": "2002", "ringcount": 0}}}),
            "forwarding.noanswer.ringcount: must be 1 to 100",
        ),
        (json!({"dnd": "on"}), "dnd: must be true or false"),
        (json!({}), "dnd: or forwarding is required"),
    ] {
        let r = client.put(format!("http://{http}{path}")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let problem: serde_json::Value = r.json().await.unwrap();
        assert!(problem["detail"].as_str().unwrap().starts_with(detail), "{body}: {problem}");
    }
    server.shutdown().await.unwrap();
}

/// How many NOTIFYs the server has had answered 2xx (its metrics).
async fn notifies_ok(http: std::net::SocketAddr) -> u64 {
    let text = reqwest::get(format!("http://{http}/metrics")).await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with("babble_notifies_ok_total ")).expect("the NOTIFY counter");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Waits until `count` NOTIFYs have been answered, so the next change is a NOTIFY of its own
/// rather than merged into one in flight.
async fn until_answered(http: std::net::SocketAddr, count: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while notifies_ok(http).await < count {
        assert!(tokio::time::Instant::now() < deadline, "NOTIFY {count} was not answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_a_park_slot_lamp_set_through_the_api_rings_blinks_lights_and_goes_out() {
    let feature = "lamps: a park slot's lamp set through the API (PUT …/lamp) on a BLF key dialling 701: ringing, held (no media), busy, idle";
    let Some(sipp) = sipp() else { return };
    for transport in [Transport::Udp, Transport::Tcp] {
        let server = start_in_process(|c| {
            c.notifier.user_aliases.insert("70*".into(), "park+70*".into());
        })
        .await;
        let (http, target, flag) = (server.http_addr(), server.local_addr(transport).unwrap(), sipp_flag(transport));
        let s = sipp.clone();
        let key = tokio::task::spawn_blocking(move || run_sipp(&s, target, "lamp_blf_watcher.xml", flag, &[]));
        until_answered(http, 1).await;
        let lamp = "/api/v1/entities/park+701@127.0.0.1/lamp";
        let steps = [
            json!({"state": "ringing", "caller": {"display": "Bob", "uri": "sip:2000@127.0.0.1"}}),
            json!({"state": "held", "callid": "parked-1", "localtag": "slot", "remotetag": "bob"}),
            json!({"state": "busy"}),
            json!({"state": "idle"}),
        ];
        for (n, body) in steps.iter().enumerate() {
            put_accepted(http, lamp, body).await;
            until_answered(http, 2 + n as u64).await;
        }
        key.await.unwrap();
        server.shutdown().await.unwrap();
        matrix::passed(Client::Sipp, transport, feature);
    }
}
