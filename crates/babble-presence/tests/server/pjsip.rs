//! Interop with PJSIP (pjsua2 from PyPI's `pjsua2-python`), driving the scripts in
//! `interop/pjsip/` against the server run in-process: a buddy watching another account's
//! published presence over UDP and TCP. Mandatory under `BABBLE_REQUIRE_INTEROP=1`;
//! elsewhere skipped, saying so, when `python3 -c "import pjsua2"` fails.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};

use std::time::Duration;

use crate::matrix::{self, Client};
use crate::support::*;
use babble_presence::api::{self, InEvent, VoicemailReason};
use babble_presence::{MessageCounts, Transport};

/// Whether pjsua2 can be imported (see [`tool_available`]).
fn pjsua2_available() -> bool {
    let ok = Command::new("python3").args(["-c", "import pjsua2"]).output().is_ok_and(|o| o.status.success());
    tool_available(ok, "pjsua2", "pip install pjsua2-python")
}

pub(crate) fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/pjsip").join(name)
}

/// Runs a script with `--server` and `--transport` plus `extra`; panics with its output on failure.
pub(crate) fn run_script(name: &str, target: SocketAddr, transport: &str, extra: &[&str]) -> Output {
    let out = Command::new("python3")
        .arg(script(name))
        .args(["--server", &target.to_string(), "--transport", transport])
        .args(extra)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{name} over {transport} failed ({:?})\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pjsip_buddy_sees_published_online_note_and_offline() {
    if !pjsua2_available() {
        return;
    }
    for (transport, name) in [(Transport::Udp, "udp"), (Transport::Tcp, "tcp")] {
        let server = start_in_process(|_| {}).await;
        let target = server.local_addr(transport).unwrap();
        let out =
            tokio::task::spawn_blocking(move || run_script("presence_buddy.py", target, name, &[])).await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("PASS"), "{stdout}");
        server.shutdown().await.unwrap();
        let feature = "presence: a buddy sees a published account online, its note change, and offline";
        matrix::passed(Client::Pjsip, transport, feature);
    }
}

/// PJSIP registers (with digest authentication when `password` is set), subscribes to
/// message-summary, gets zero counts, then the counts the test pushes through the library
/// API when the server reports the subscription.
async fn pjsip_registers_and_gets_mwi(password: Option<&'static str>, feature: &str) {
    if !pjsua2_available() {
        return;
    }
    for (transport, name) in [(Transport::Udp, "udp"), (Transport::Tcp, "tcp")] {
        let server = start_in_process(|c| {
            if password.is_some() {
                c.auth.register = true;
                c.auth.users = vec![user_1001()];
            }
        })
        .await;
        let mut events = server.events();
        let target = server.local_addr(transport).unwrap();
        let run = tokio::task::spawn_blocking(move || {
            let mut extra = vec!["--user", "1001", "--expect-counts", "2/5"];
            if let Some(p) = password {
                extra.extend(["--password", p]);
            }
            run_script("mwi_register.py", target, name, &extra)
        });
        let watcher = loop {
            let event =
                tokio::time::timeout(Duration::from_secs(15), events.recv()).await.expect("an MWI subscription");
            if let Ok(babble_presence::SequencedEvent { event: InEvent::VoicemailIn(w), .. }) = event {
                break w;
            }
        };
        let counts = MessageCounts { new: 2, old: 5, new_urgent: 0, old_urgent: 1 };
        let push = api::Command::Voicemail { entity: watcher.entity, counts, reason: VoicemailReason::Init };
        server.send(push).await.unwrap();
        let out = run.await.unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains("PASS"));
        server.shutdown().await.unwrap();
        matrix::passed(Client::Pjsip, transport, feature);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pjsip_registers_and_receives_mwi_counts() {
    let feature = "registrar + MWI: registers, subscribes to MWI, gets zero counts then the pushed counts";
    pjsip_registers_and_gets_mwi(None, feature).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pjsip_registers_with_digest_and_receives_mwi_counts() {
    let feature = "registrar + MWI: the same with digest authentication";
    pjsip_registers_and_gets_mwi(Some("secret"), feature).await;
}
