//! Device profiles against SIPp over UDP and TCP: each scenario sends a device's User-Agent
//! and checks the profile's effect on the wire (`interop/sipp/profile_*.xml`), a phone
//! without a profile is shown to get the standard documents, and the chosen profile shows in
//! `GET /api/v1/subscriptions`.

use std::time::Duration;

use babble_presence::api::{CallsUpdate, Command, VoicemailReason};
use babble_presence::call::{Call, CallState, Direction, Party};
use babble_presence::config::Config;
use babble_presence::{MessageCounts, Transport};

use crate::interop::{run_sipp, sipp, sipp_flag};
use crate::matrix::{self, Client};
use crate::support::*;

const ENTITY: &str = "1001@127.0.0.1";

fn calls(calls: Vec<Call>) -> Command {
    Command::Dialog {
        entity: ENTITY.into(),
        display: None,
        call_count: None,
        calls: CallsUpdate::Full(calls),
        call_id: None,
    }
}

fn voicemail(new: u32, old: u32) -> Command {
    let counts = MessageCounts { new, old, new_urgent: 0, old_urgent: 0 };
    Command::Voicemail { entity: ENTITY.into(), counts, reason: VoicemailReason::Update }
}

/// A call to the entity from Alice, ringing.
fn ringing_from_alice() -> Call {
    Call {
        direction: Some(Direction::Recipient),
        remote: Some(Party { display: Some("Alice".into()), uri: "sip:2000@127.0.0.1".into() }),
        ..Call::new("ringing", CallState::Early)
    }
}

/// For UDP and TCP: a server configured by `configure` and given `state`, then each
/// (scenario, matrix feature) run once against it; each feature recorded when it passed.
async fn scenarios_against(configure: impl Fn(&mut Config), state: Vec<Command>, scenarios: &[(&'static str, &str)]) {
    let Some(sipp) = sipp() else { return };
    for transport in [Transport::Udp, Transport::Tcp] {
        let server = start_in_process(&configure).await;
        for command in state.clone() {
            server.send(command).await.unwrap();
        }
        let target = server.local_addr(transport).unwrap();
        for (scenario, feature) in scenarios {
            let (sipp, scenario) = (sipp.clone(), *scenario);
            tokio::task::spawn_blocking(move || run_sipp(&sipp, target, scenario, sipp_flag(transport), &[]))
                .await
                .unwrap();
            matrix::passed(Client::Sipp, transport, feature);
        }
        server.shutdown().await.unwrap();
    }
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_profiles_shape_a_busy_entitys_dialogs() {
    let state = vec![calls(vec![Call::new("talking", CallState::Confirmed), Call::new("ringing", CallState::Early)])];
    let scenarios = [
        ("profile_spa962.xml", "profile `linksys-spa962` (SPA962): one dialog, the ringing one"),
        ("profile_pjsip.xml", "profile `pjsip` (PJSUA): one dialog, the ringing one (its client reads only the first)"),
        ("profile_zoiper.xml", "profile `zoiper`: remote target `sip:**1001@host` for directed pickup"),
        ("profile_none.xml", "profile none (Aastra): both dialogs, no `**` target"),
    ];
    scenarios_against(|_| {}, state, &scenarios).await;
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_profiles_shape_a_call_ringing_from_alice() {
    let scenarios = [
        ("profile_grandstream.xml", "profile `grandstream`: the remote target without the remote identity"),
        ("profile_microsip.xml", "profile `microsip`: PIDF note `Ringing` while a call rings"),
    ];
    scenarios_against(|_| {}, vec![calls(vec![ringing_from_alice()])], &scenarios).await;
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_profiles_for_an_idle_entity_and_polycom_presence() {
    let scenarios = [
        ("profile_yealink.xml", "profile `yealink`: a terminated dummy dialog while idle"),
        ("profile_polycom.xml", "profile `polycom`: XPIDF although its Accept lists PIDF first"),
    ];
    scenarios_against(|_| {}, Vec::new(), &scenarios).await;
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_cisco_79xx_gets_mwi_counts_without_the_urgent_part() {
    let scenarios = [("profile_cisco_79xx.xml", "profile `cisco-79xx`: `Voice-Message: 2/8` without `(0/0)`")];
    scenarios_against(|_| {}, vec![voicemail(2, 8)], &scenarios).await;
}

/// For UDP and TCP: runs `scenario` against a server configured by `configure`, calls
/// `then` once SIPp's SUBSCRIBE raised its event, and records `feature` when SIPp passed.
async fn scenario_then(
    configure: fn(&mut Config),
    scenario: &'static str,
    feature: &str,
    then: impl AsyncFn(&babble_presence::Server),
) {
    let Some(sipp) = sipp() else { return };
    for transport in [Transport::Udp, Transport::Tcp] {
        let server = start_in_process(configure).await;
        let mut events = server.events();
        let target = server.local_addr(transport).unwrap();
        let sipp = sipp.clone();
        let run = tokio::task::spawn_blocking(move || run_sipp(&sipp, target, scenario, sipp_flag(transport), &[]));
        tokio::time::timeout(WAIT, events.recv()).await.expect("the SUBSCRIBE's event").unwrap();
        then(&server).await;
        run.await.unwrap();
        server.shutdown().await.unwrap();
        matrix::passed(Client::Sipp, transport, feature);
    }
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_bria_sees_an_idle_dummy_dialog_and_the_api_shows_its_profile() {
    let feature = "profile `bria`: a terminated dummy dialog while idle; the API look-up shows the profile";
    scenario_then(
        |_| {},
        "profile_bria.xml",
        feature,
        async |server| {
            let listed = get_json(server.http_addr(), "/api/v1/subscriptions").await;
            assert_eq!(listed[0]["profile"], "bria", "{listed}");
        },
    )
    .await;
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_samsung_gets_no_empty_first_notify() {
    let feature = "profile `samsung`: no empty first MWI NOTIFY; the first one carries the counts";
    let configure = |c: &mut Config| c.notifier.dummy_voicemail = false;
    scenario_then(configure, "profile_samsung.xml", feature, async |server| {
        server.send(voicemail(3, 1)).await.unwrap();
    })
    .await;
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_snom_gets_changes_within_half_a_second_merged() {
    let feature = "profile `snom`: changes within 500 ms merged into one NOTIFY";
    scenario_then(
        |_| {},
        "profile_snom.xml",
        feature,
        async |server| {
            // The stimulus is timed against the profile's 500 ms interval: the first change
            // comes well after the first NOTIFY (sent at once), so it goes out at once too; the
            // next two come together 100 ms later, well within the interval. Without the
            // profile the first of those two would go out alone.
            tokio::time::sleep(Duration::from_millis(700)).await;
            server.send(calls(vec![Call::new("c1", CallState::Early)])).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            server.send(calls(vec![Call::new("c1", CallState::Confirmed)])).await.unwrap();
            let two = vec![Call::new("c1", CallState::Confirmed), Call::new("c2", CallState::Early)];
            server.send(calls(two)).await.unwrap();
        },
    )
    .await;
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_cisco_spa_outlasts_three_notify_timeouts() {
    let Some(sipp) = sipp() else { return };
    // T1 = 20 ms makes each NOTIFY time out after 64·T1 = 1.28 s.
    let server = start_in_process(|c| c.sip.t1_ms = 20).await;
    let target = server.local_addr(Transport::Udp).unwrap();
    let spa = tokio::task::spawn_blocking(move || run_sipp(&sipp, target, "profile_cisco_spa.xml", "u1", &[]));
    // Once the SPA has answered its first NOTIFY, a change brings the ones it leaves
    // unanswered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.handle().query(|engine, _| engine.stats().notifies_ok).await.unwrap() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the SPA answers its first NOTIFY");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.send(calls(vec![Call::new("ringing", CallState::Early)])).await.unwrap();
    spa.await.unwrap();
    server.shutdown().await.unwrap();
    let feature = "profile `cisco-spa`: still subscribed after three unanswered NOTIFYs";
    matrix::passed(Client::Sipp, Transport::Udp, feature);
    let reason = "over TCP a NOTIFY timeout means the connection is gone, which ends any subscription";
    matrix::not_applicable(Client::Sipp, Transport::Tcp, feature, reason);
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_linphone_refreshes_its_authenticated_subscription_unchallenged() {
    let configure = |c: &mut Config| {
        c.auth.subscribe = true;
        c.auth.users = vec![user_1001()];
    };
    let feature = "profile `linphone`: with SUBSCRIBE authentication, its in-dialog refresh is not challenged again";
    let Some(sipp) = sipp() else { return };
    for transport in [Transport::Udp, Transport::Tcp] {
        let server = start_in_process(configure).await;
        let target = server.local_addr(transport).unwrap();
        // SIPp computes its digest for `sip:host:port` unless told the Request-URI (without
        // the scheme, which it adds), which the server requires the credentials to name.
        let auth_uri = format!("1002@{target}");
        let sipp = sipp.clone();
        tokio::task::spawn_blocking(move || {
            run_sipp(&sipp, target, "profile_linphone.xml", sipp_flag(transport), &["-auth_uri", &auth_uri])
        })
        .await
        .unwrap();
        matrix::passed(Client::Sipp, transport, feature);
        server.shutdown().await.unwrap();
    }
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_a_profile_assigned_to_an_address_applies_whatever_the_user_agent() {
    let dir = temp_dir("assigned");
    let file = dir.join("profiles.toml");
    let lobby = "[[profiles]]\nname = \"lobby\"\naddresses = [\"127.0.0.1\"]\nidle_dummy_dialog = true\n";
    std::fs::write(&file, lobby).unwrap();
    let profiles = Config::load(&file).unwrap().profiles;
    let _ = std::fs::remove_dir_all(dir);
    let configure = move |c: &mut Config| c.profiles = profiles.clone();
    let feature = "profile assigned by address in the configuration: applies to a phone whose User-Agent selects none";
    scenarios_against(configure, Vec::new(), &[("profile_assigned.xml", feature)]).await;
}
