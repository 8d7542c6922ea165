//! The interop matrix's raw results: each interop test, once its checks have passed, records
//! a row (client and its version, transport, feature, outcome) in the file named by
//! `BABBLE_INTEROP_RESULTS`. `.ci/run` sets it and then has `interop/matrix.py` check that
//! the README's matrix is exactly what was recorded, so the matrix cannot claim what was not
//! run. Without the variable nothing is written.

use std::io::Write;
use std::process::Command;
use std::sync::OnceLock;

use babble_presence::Transport;

/// A third-party SIP peer of the suite.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Client {
    Sipp,
    Pjsip,
    Baresip,
    Linphone,
    Kamailio,
    /// Kamailio as a TLS edge proxy (interop/kamailio/tls-edge.cfg) in front of the server,
    /// carrying SIPp watchers that reach it over UDP.
    KamailioTlsEdge,
    /// JsSIP under Node.js, its WebSocket from the `ws` package (interop/js).
    JsSip,
    /// SIP.js under Node.js, its WebSocket from the `ws` package (interop/js).
    SipJs,
    /// JsSIP in headless Chromium, driven over WebDriver (interop/js).
    Chromium,
}

impl Client {
    /// Its name and version as the matrix heads a table with them.
    fn label(self) -> &'static str {
        static LABELS: [OnceLock<String>; 9] = [const { OnceLock::new() }; 9];
        LABELS[self as usize].get_or_init(|| match self {
            Client::Sipp => {
                // " SIPp v3.6.1-SCTP-PCAP-RTPSTREAM."
                let out = output("sipp", &["-v"]);
                let version = out.split_whitespace().find_map(|w| w.strip_prefix('v')).unwrap_or("?");
                format!("SIPp {}", version.split('-').next().unwrap_or(version))
            }
            Client::Pjsip => {
                let script = "import pjsua2; print(pjsua2.Endpoint().libVersion().full)";
                format!("PJSIP {} (pjsua2)", output("python3", &["-c", script]).trim())
            }
            Client::Baresip => format!("baresip {} (Debian)", debian_version("baresip-core")),
            Client::Linphone => format!("linphonec {} (Debian linphone-cli)", debian_version("linphone-cli")),
            Client::Kamailio => format!("Kamailio {} (Debian, pua_dialoginfo)", debian_version("kamailio")),
            Client::KamailioTlsEdge => format!("Kamailio {} (Debian, TLS edge proxy)", debian_version("kamailio")),
            Client::JsSip => format!("JsSIP {} (Node.js {}, ws)", npm_version("jssip"), node_major()),
            Client::SipJs => format!("SIP.js {} (Node.js {}, ws)", npm_version("sip.js"), node_major()),
            Client::Chromium => {
                // "Chromium 143.0.7499.169 built on Debian ..."
                let out = output("chromium", &["--version"]);
                let version = out.split_whitespace().nth(1).unwrap_or("?");
                format!("Chromium {version} (Debian, headless; JsSIP {})", npm_version("jssip"))
            }
        })
    }
}

/// A transport column of the matrix: the name Via gives the transport.
fn column(transport: Transport) -> &'static str {
    match transport {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
        Transport::Tls => "TLS",
        Transport::Ws => "WS",
        Transport::Wss => "WSS",
        other => panic!("no matrix column for {other}"),
    }
}

/// Records that `feature` passed with `client` over `transport`.
pub(crate) fn passed(client: Client, transport: Transport, feature: &str) {
    record(client, column(transport), feature, "pass");
}

/// Records why `feature` is not run with `client` over `transport`.
pub(crate) fn not_applicable(client: Client, transport: Transport, feature: &str, reason: &str) {
    record(client, column(transport), feature, &format!("n/a: {reason}"));
}

/// Records that a UDP-only `feature` passed, and why it means nothing over TCP.
pub(crate) fn passed_udp_only(client: Client, feature: &str, why_not_tcp: &str) {
    passed(client, Transport::Udp, feature);
    not_applicable(client, Transport::Tcp, feature, why_not_tcp);
}

fn record(client: Client, transport: &str, feature: &str, outcome: &str) {
    let Some(path) = std::env::var_os("BABBLE_INTEROP_RESULTS") else { return };
    let line = format!("{}\t{transport}\t{feature}\t{outcome}\n", client.label());
    // One append per row: O_APPEND writes this small do not interleave between test threads.
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("results file opens");
    file.write_all(line.as_bytes()).expect("results file takes the row");
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr))
        .unwrap_or_default()
}

/// The version of a package `npm ci` installed in interop/js.
fn npm_version(package: &str) -> String {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../interop/js/node_modules")
        .join(package)
        .join("package.json");
    let text = std::fs::read_to_string(&manifest).unwrap_or_default();
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    parsed["version"].as_str().unwrap_or("?").to_owned()
}

/// Node.js's major version ("v20.20.2" → "20").
fn node_major() -> String {
    let out = output("node", &["--version"]);
    out.trim().trim_start_matches('v').split('.').next().unwrap_or("?").to_owned()
}

/// The upstream part of an installed Debian package's version (`1.0.0-4+b3` → `1.0.0`).
fn debian_version(package: &str) -> String {
    let version = output("dpkg-query", &["-W", "-f=${Version}", package]);
    let version = version.trim();
    let upstream = version.split_once(':').map_or(version, |(_, v)| v);
    upstream.rsplit_once('-').map_or(upstream, |(v, _)| v).to_owned()
}
