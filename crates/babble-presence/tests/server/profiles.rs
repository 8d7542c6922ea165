//! Device profiles against SIPp over UDP and TCP: each scenario sends a device's User-Agent
//! and checks the profile's effect on the wire (`interop/sipp/profile_*.xml`), and the chosen
//! profile shows in `GET /api/v1/subscriptions`.

use babble_presence::Transport;
use babble_presence::api::{CallsUpdate, Command};
use babble_presence::call::{Call, CallState};
use serde_json::Value;

use crate::interop::{run_sipp, sipp, sipp_flag};
use crate::support::*;

const ENTITY: &str = "1001@127.0.0.1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_spa962_sees_one_dialog_zoiper_the_pickup_target_and_a_yealink_both() {
    let Some(sipp) = sipp() else { return };
    for transport in [Transport::Udp, Transport::Tcp] {
        let server = start_in_process(|_| {}).await;
        let calls = vec![Call::new("talking", CallState::Confirmed), Call::new("ringing", CallState::Early)];
        let command = Command::Dialog {
            entity: ENTITY.into(),
            display: None,
            call_count: None,
            calls: CallsUpdate::Full(calls),
            call_id: None,
        };
        server.send(command).await.unwrap();
        let target = server.local_addr(transport).unwrap();
        for scenario in ["profile_spa962.xml", "profile_zoiper.xml", "profile_none.xml"] {
            let sipp = sipp.clone();
            tokio::task::spawn_blocking(move || run_sipp(&sipp, target, scenario, sipp_flag(transport), &[]))
                .await
                .unwrap();
        }
        server.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_bria_sees_an_idle_dummy_dialog_and_the_api_shows_its_profile() {
    let Some(sipp) = sipp() else { return };
    for transport in [Transport::Udp, Transport::Tcp] {
        let server = start_in_process(|_| {}).await;
        let mut events = server.events();
        let target = server.local_addr(transport).unwrap();
        let sipp = sipp.clone();
        let run =
            tokio::task::spawn_blocking(move || run_sipp(&sipp, target, "profile_bria.xml", sipp_flag(transport), &[]));
        tokio::time::timeout(WAIT, events.recv()).await.expect("the SUBSCRIBE's event").unwrap();
        let url = format!("http://{}/api/v1/subscriptions", server.http_addr());
        let listed: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        assert_eq!(listed[0]["profile"], "bria", "{listed}");
        run.await.unwrap();
        server.shutdown().await.unwrap();
    }
}
