//! Interop: the real binary driven by SIPp (Debian's `sip-tester`) with the scenarios in
//! `interop/sipp/`, over UDP and TCP. Mandatory when `BABBLE_REQUIRE_INTEROP=1` (set by
//! `.ci/run`); elsewhere, without `sipp` on the PATH, each test says it is skipped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

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
pub(crate) fn sipp_flag(transport: babble_presence::Transport) -> &'static str {
    if transport == babble_presence::Transport::Udp { "u1" } else { "t1" }
}

/// Runs one scenario once against `target` over `transport` ("u1" or "t1"); panics with
/// SIPp's output when the call fails.
fn run(sipp: &Path, target: SocketAddr, name: &str, transport: &str) {
    run_sipp(sipp, target, name, transport, &[]);
}

/// [`run`] with extra SIPp arguments.
pub(crate) fn run_sipp(sipp: &Path, target: SocketAddr, name: &str, transport: &str, extra: &[&str]) {
    let out = Command::new(sipp)
        .args(extra)
        .arg(target.to_string())
        .args(["-sf", scenario(name).to_str().unwrap(), "-t", transport, "-m", "1"])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string(), "-timeout", "10s", "-timeout_error", "-nostdin"])
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

#[test]
fn sipp_options_gets_200_over_udp_and_tcp() {
    let Some(sipp) = sipp() else { return };
    let server = Server::start(&[]);
    run(&sipp, server.udp, "options.xml", "u1");
    run(&sipp, server.tcp, "options.xml", "t1");
}

#[test]
fn sipp_invite_gets_405_and_the_ack_is_absorbed() {
    let Some(sipp) = sipp() else { return };
    let server = Server::start(&[]);
    run(&sipp, server.udp, "invite_405.xml", "u1");
    run(&sipp, server.tcp, "invite_405.xml", "t1");
}

#[test]
fn sipp_unknown_method_501_and_unknown_dialog_481() {
    let Some(sipp) = sipp() else { return };
    let server = Server::start(&[]);
    for transport_and_target in [("u1", server.udp), ("t1", server.tcp)] {
        let (transport, target) = transport_and_target;
        run(&sipp, target, "unknown_method_501.xml", transport);
        run(&sipp, target, "in_dialog_481.xml", transport);
    }
}

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
}
