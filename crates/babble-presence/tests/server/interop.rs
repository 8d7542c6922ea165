//! Interop: the real binary driven by SIPp (Debian's `sip-tester`) with the scenarios in
//! `interop/sipp/`, over UDP and TCP. Mandatory when `BABBLE_REQUIRE_INTEROP=1` (set by
//! `.ci/run`); elsewhere, without `sipp` on the PATH, each test is reported as ignored,
//! naming what to install (the crate's `build.rs` looks for the peers).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use babble_presence::Transport;

use crate::matrix::{self, Client};
use crate::support::*;

pub(crate) fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/sipp").join(name)
}

/// The `sipp` binary, or `None` after reporting the skip (or panicking when interop is
/// required).
pub(crate) fn sipp() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("sipp")).find(|p| p.is_file()));
    tool_available(found.is_some(), "sipp", "apt-get install sip-tester").then_some(found).flatten()
}

/// SIPp's `-t` value for `transport`.
pub(crate) fn sipp_flag(transport: Transport) -> &'static str {
    if transport == Transport::Udp { "u1" } else { "t1" }
}

/// Runs one scenario once against `target` over `transport` ("u1" or "t1"); panics with
/// SIPp's output when the call fails.
fn run(sipp: &Path, target: SocketAddr, name: &str, transport: &str) {
    run_sipp(sipp, target, name, transport, &[]);
}

/// [`run`] with extra SIPp arguments.
pub(crate) fn run_sipp(sipp: &Path, target: SocketAddr, name: &str, transport: &str, extra: &[&str]) {
    run_sipp_from(sipp, target, name, transport, free_port(), extra);
}

/// [`run_sipp`] from local port `port`, for a phone whose later scenario must come from the
/// address it registered from.
pub(crate) fn run_sipp_from(sipp: &Path, target: SocketAddr, name: &str, transport: &str, port: u16, extra: &[&str]) {
    let out = Command::new(sipp)
        .args(extra)
        .arg(target.to_string())
        .args(["-sf", scenario(name).to_str().unwrap(), "-t", transport, "-m", "1"])
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-timeout", "10s", "-timeout_error", "-nostdin"])
        .output()
        .expect("sipp runs");
    assert!(
        out.status.success(),
        "SIPp scenario {name} over {transport} failed ({:?})\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `scenarios` over UDP and TCP against the binary and records `feature` for each.
fn run_both(sipp: &Path, server: &Server, scenarios: &[&str], feature: &str) {
    for (transport, target) in [(Transport::Udp, server.udp), (Transport::Tcp, server.tcp)] {
        for name in scenarios {
            run(sipp, target, name, sipp_flag(transport));
        }
        matrix::passed(Client::Sipp, transport, feature);
    }
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[test]
fn sipp_options_gets_200_over_udp_and_tcp() {
    let Some(sipp) = sipp() else { return };
    let server = Server::start(&[]);
    run_both(&sipp, &server, &["options.xml"], "core: OPTIONS → 200 with Allow");
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[test]
fn sipp_invite_gets_405_and_the_ack_is_absorbed() {
    let Some(sipp) = sipp() else { return };
    let server = Server::start(&[]);
    run_both(&sipp, &server, &["invite_405.xml"], "core: INVITE → 405 with Allow, ACK absorbed");
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[test]
fn sipp_unknown_method_501_and_unknown_dialog_481() {
    let Some(sipp) = sipp() else { return };
    let server = Server::start(&[]);
    let feature = "core: unknown method → 501; in-dialog request for an unknown dialog → 481";
    run_both(&sipp, &server, &["unknown_method_501.xml", "in_dialog_481.xml"], feature);
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[test]
fn sipp_subscribe_rules_of_rfc_6665() {
    let Some(sipp) = sipp() else { return };
    let server = Server::start(&[]);
    let feature = "rules (RFC 6665): 489 + Allow-Events, 406 + Accept, 423 + Min-Expires, fetch (Expires 0), 481 for an unknown dialog, Expires granted no longer than the maximum, 500 for a stale CSeq";
    run_both(&sipp, &server, &["rules_subscribe.xml"], feature);
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[test]
fn sipp_publish_rules_of_rfc_3903() {
    let Some(sipp) = sipp() else { return };
    let server = Server::start(&[]);
    let feature = "rules (RFC 3903): 489, 400 without body or SIP-If-Match, 412 for an unknown or replaced entity-tag, 423 + Min-Expires, 415 + Accept, refresh gives a new SIP-ETag, removal";
    run_both(&sipp, &server, &["rules_publish.xml"], feature);
}

#[cfg_attr(not(has_sipp), ignore = "needs SIPp: apt-get install sip-tester")]
#[test]
fn sipp_is_still_answered_after_garbage_truncated_and_oversized_datagrams() {
    let Some(sipp) = sipp() else { return };
    let server = Server::start(&[]);
    let client = udp_client();
    let local = client.local_addr().unwrap();
    client.send_to(b"\xff\xfe garbage \x00\r\n\r\n", server.udp).unwrap();
    let truncated = options(local, "UDP", "cut").replace("Content-Length: 0", "Content-Length: 900");
    client.send_to(truncated.as_bytes(), server.udp).unwrap();
    let mut oversized = options(local, "UDP", "huge").into_bytes();
    oversized.extend(std::iter::repeat_n(b'x', 65_000));
    client.send_to(&oversized, server.udp).unwrap();
    run(&sipp, server.udp, "options.xml", "u1");
    let feature = "core: still answered after garbage, truncated and oversized datagrams";
    matrix::passed_udp_only(
        Client::Sipp,
        feature,
        "datagrams are UDP's (TCP framing and oversized messages: wire.rs, no SIPp)",
    );
}
