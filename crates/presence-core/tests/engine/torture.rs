//! The RFC 4475 torture messages fed to the engine as UDP datagrams: what a UAS answers.
//! Invalid requests get the status the RFC names, except the few dropped because a header
//! the answer must echo is broken ([`UNANSWERABLE`]); responses are never answered, and the
//! application-level outcomes a presence server owns (501 unknown method, 416 unknown
//! scheme, 420 unknown extension) are what the RFC asks for.

use std::path::Path;

use crate::support::*;

type Vector = (String, String, Option<u16>, Option<u16>, bool, Vec<u8>);

/// Invalid requests dropped (and counted) instead of answered: a header a response must
/// echo (RFC 3261 §8.2.6.2) is broken or missing, so no well-formed answer can be made.
const UNANSWERABLE: [&str; 6] = [
    "badinv01.sip", // Via with empty parameters
    "scalar02.sip", // CSeq number past 2^32
    "quotbal.sip",  // unterminated quoted display name in To
    "badaspec.sip", // spaces inside the To addr-spec
    "baddn.sip",    // non-token display name in From
    "insuf.sip",    // no Call-ID, From, To
];

fn vectors() -> Vec<Vector> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sip-proto/tests/vectors/rfc4475");
    let manifest: toml_lite::Manifest = toml_lite::read(&dir.join("manifest.toml"));
    manifest
        .into_iter()
        .map(|m| {
            let bytes = std::fs::read(dir.join(&m.file)).unwrap();
            (m.file, m.expect, m.status, m.app_status, m.liberal_accept_ok, bytes)
        })
        .collect()
}

#[test]
fn torture_messages_get_the_rfc_answer() {
    let mut failures = Vec::new();
    for (file, expect, status, app_status, liberal, bytes) in vectors() {
        let mut h = Harness::new();
        let sent = h.send(&bytes, udp_peer(), 0.0);
        let answered: Vec<u16> = sent.iter().map(|t| response_of(t).status).collect();
        let is_response = bytes.starts_with(b"SIP/");
        let ok = match (expect.as_str(), status, app_status) {
            _ if is_response => answered.is_empty(),
            ("reject", _, _) if UNANSWERABLE.contains(&file.as_str()) => answered.is_empty(),
            // RFC 4475 lets a liberal element accept these; then it answers as usual.
            ("reject", _, _) if liberal => answered.len() == 1,
            ("reject", Some(want), _) => answered == [want],
            ("parse", _, Some(want @ (416 | 420 | 501))) => answered == [want],
            _ => answered.len() <= 1,
        };
        if !ok {
            failures.push(format!(
                "{file}: answered {answered:?} (expect {expect}, status {status:?}, app_status {app_status:?})"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn specific_torture_answers() {
    let answer = |name: &str| {
        let (.., bytes) = vectors().into_iter().find(|v| v.0 == name).unwrap();
        let mut h = Harness::new();
        h.send(&bytes, udp_peer(), 0.0).iter().map(|t| response_of(t).status).collect::<Vec<_>>()
    };
    assert_eq!(answer("intmeth.sip"), vec![501]);
    assert_eq!(answer("unkscm.sip"), vec![416]);
    assert_eq!(answer("novelsc.sip"), vec![416]);
    assert_eq!(answer("bext01.sip"), vec![420]);
    assert_eq!(answer("mismatch02.sip"), vec![501]);
    assert_eq!(answer("badvers.sip"), vec![505]);
    assert_eq!(answer("clerr.sip"), vec![400]);
    assert_eq!(answer("escruri.sip"), vec![400]);
    // Request lines not spaced as `method SP uri SP version` (§3.1.2.8–10) are still answered.
    assert_eq!(answer("lwsruri.sip"), vec![400]);
    assert_eq!(answer("lwsstart.sip"), vec![400]);
    assert_eq!(answer("trws.sip"), vec![400]);
    assert_eq!(answer("scalarlg.sip"), Vec::<u16>::new(), "a response is never answered");
}

/// A minimal reader for the manifest, so this crate needs no TOML dependency for one test.
mod toml_lite {
    use std::path::Path;

    pub(crate) struct Entry {
        pub(crate) file: String,
        pub(crate) expect: String,
        pub(crate) status: Option<u16>,
        pub(crate) app_status: Option<u16>,
        pub(crate) liberal_accept_ok: bool,
    }

    pub(crate) type Manifest = Vec<Entry>;

    pub(crate) fn read(path: &Path) -> Manifest {
        let text = std::fs::read_to_string(path).unwrap();
        let mut out = Vec::new();
        for block in text.split("[[message]]").skip(1) {
            let field = |key: &str| {
                block.lines().find_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
                })
            };
            out.push(Entry {
                file: field("file").unwrap(),
                expect: field("expect").unwrap(),
                status: field("status").and_then(|s| s.parse().ok()),
                app_status: field("app_status").and_then(|s| s.parse().ok()),
                liberal_accept_ok: field("liberal_accept_ok").as_deref() == Some("true"),
            });
        }
        out
    }
}
