//! The message files under `tests/vectors/`: every RFC 4475 torture message (valid ones
//! parse with the identifiers the RFC gives; invalid ones are refused with the status the
//! RFC names, or accepted where the RFC allows a liberal reading) and the vendor-shaped
//! captures (typed headers read back as the manifest says).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sip_proto::header::Contacts;
use sip_proto::message::Message;
use sip_proto::{HeaderName, parse_message};

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

#[derive(Debug, Deserialize)]
struct TortureManifest {
    message: Vec<Torture>,
}

#[derive(Debug, Deserialize)]
struct Torture {
    file: String,
    section: String,
    expect: String,
    status: Option<u16>,
    #[serde(default)]
    liberal_accept_ok: bool,
    method: Option<String>,
    status_code: Option<u16>,
    call_id: Option<String>,
    cseq: Option<u32>,
    cseq_method: Option<String>,
    via_count: Option<usize>,
    body_len: Option<usize>,
}

/// What our parser did with one torture message, for the summary table.
fn outcome(result: &Result<Message, sip_proto::ParseError>) -> String {
    match result {
        Ok(_) => "parsed".to_owned(),
        Err(e) => format!("refused {} ({})", e.kind.status(), e.kind),
    }
}

#[test]
fn rfc4475_torture_messages() {
    let text = std::fs::read_to_string(vectors_dir().join("rfc4475/manifest.toml")).unwrap();
    let manifest: TortureManifest = toml::from_str(&text).unwrap();
    assert_eq!(manifest.message.len(), 49, "every message of RFC 4475 is present");
    let mut failures = Vec::new();
    for t in &manifest.message {
        let bytes = std::fs::read(vectors_dir().join("rfc4475").join(&t.file)).unwrap();
        let result = parse_message(&bytes);
        println!("{:<8} {:<16} {:<7} {}", t.section, t.file, t.expect, outcome(&result));
        let problem = match (t.expect.as_str(), &result) {
            ("parse", Ok(msg)) => check_fields(t, msg).err(),
            ("parse", Err(e)) => Some(format!("refused a valid message: {e}")),
            ("reject", Err(e)) => match t.status {
                // Responses that must be dropped: any refusal is right.
                Some(0) | None => None,
                Some(status) if status == e.kind.status() => None,
                Some(status) => Some(format!("refused with {} instead of {status}", e.kind.status())),
            },
            ("reject", Ok(_)) if t.liberal_accept_ok => None,
            ("reject", Ok(_)) => Some("accepted an invalid message".to_owned()),
            (other, _) => Some(format!("unknown expectation {other}")),
        };
        if let Some(p) = problem {
            failures.push(format!("{} ({}): {p}", t.file, t.section));
        }
    }
    assert!(failures.is_empty(), "torture failures:\n{}", failures.join("\n"));
}

fn check_fields(t: &Torture, msg: &Message) -> Result<(), String> {
    let h = msg.headers();
    match msg {
        Message::Request(r) => {
            if let Some(m) = &t.method {
                expect_eq("method", r.method.as_str(), m.as_str())?;
            }
        }
        Message::Response(r) => {
            if let Some(code) = t.status_code {
                expect_eq("status", r.status, code)?;
            }
        }
    }
    if let Some(id) = &t.call_id {
        expect_eq("Call-ID", h.call_id().map_err(|e| e.to_string())?, id.as_str())?;
    }
    let cseq = h.cseq().map_err(|e| e.to_string())?;
    if let Some(n) = t.cseq {
        expect_eq("CSeq", cseq.seq, n)?;
    }
    if let Some(m) = &t.cseq_method {
        expect_eq("CSeq method", cseq.method.as_str(), m.as_str())?;
    }
    if let Some(n) = t.via_count {
        expect_eq("Via count", h.via().map_err(|e| e.to_string())?.len(), n)?;
    }
    if let Some(n) = t.body_len {
        let body = match msg {
            Message::Request(r) => r.body.len(),
            Message::Response(r) => r.body.len(),
        };
        expect_eq("body length", body, n)?;
    }
    Ok(())
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("{what}: got {got:?}, want {want:?}")) }
}

#[derive(Debug, Deserialize)]
struct VendorManifest {
    message: Vec<Vendor>,
}

#[derive(Debug, Deserialize)]
struct Vendor {
    file: String,
    kind: String,
    method: Option<String>,
    status_code: Option<u16>,
    call_id: String,
    cseq: u32,
    from_tag: String,
    to_tag: String,
    event: Option<String>,
    #[serde(default)]
    event_id: String,
    expires: Option<u32>,
    contact_count: usize,
    body_len: usize,
    user_agent: Option<String>,
}

#[test]
fn vendor_captures_parse_with_typed_headers() {
    let text = std::fs::read_to_string(vectors_dir().join("vendors/manifest.toml")).unwrap();
    let manifest: VendorManifest = toml::from_str(&text).unwrap();
    assert!(manifest.message.len() >= 20);
    for v in &manifest.message {
        let bytes = std::fs::read(vectors_dir().join("vendors").join(&v.file)).unwrap();
        let msg = parse_message(&bytes).unwrap_or_else(|e| panic!("{}: {e}", v.file));
        let h = msg.headers();
        let ctx = &v.file;
        match (&msg, v.kind.as_str()) {
            (Message::Request(r), "request") => {
                assert_eq!(Some(r.method.as_str()), v.method.as_deref(), "{ctx}")
            }
            (Message::Response(r), "response") => {
                assert_eq!(Some(r.status), v.status_code, "{ctx}")
            }
            _ => panic!("{ctx}: wrong kind"),
        }
        assert_eq!(h.call_id().unwrap(), v.call_id, "{ctx}");
        assert_eq!(h.cseq().unwrap().seq, v.cseq, "{ctx}");
        assert_eq!(h.from().unwrap().tag().unwrap_or(""), v.from_tag, "{ctx}");
        assert_eq!(h.to().unwrap().tag().unwrap_or(""), v.to_tag, "{ctx}");
        let event = h.event().unwrap();
        assert_eq!(event.as_ref().map(|e| e.package.as_str()), v.event.as_deref(), "{ctx}");
        assert_eq!(event.as_ref().and_then(|e| e.id()).unwrap_or(""), v.event_id, "{ctx}");
        assert_eq!(h.expires().unwrap(), v.expires, "{ctx}");
        let contacts = match h.contacts().unwrap() {
            Contacts::List(l) => l.len(),
            Contacts::Wildcard => 1,
        };
        assert_eq!(contacts, v.contact_count, "{ctx}");
        let body = match &msg {
            Message::Request(r) => r.body.len(),
            Message::Response(r) => r.body.len(),
        };
        assert_eq!(body, v.body_len, "{ctx}");
        assert_eq!(h.get(&HeaderName::UserAgent), v.user_agent.as_deref(), "{ctx}");
        // Every typed header the server reads is readable.
        h.accept().unwrap();
        h.allow().unwrap();
        h.allow_events().unwrap();
        h.content_type().unwrap();
        h.authorization().unwrap();
    }
}

#[test]
fn polycom_methods_parameter_keeps_its_commas() {
    let bytes = std::fs::read(vectors_dir().join("vendors/polycom/register.sip")).unwrap();
    let msg = parse_message(&bytes).unwrap();
    let Contacts::List(contacts) = msg.headers().contacts().unwrap() else { panic!("wildcard") };
    let methods = contacts[0].params.get("methods").unwrap();
    assert!(methods.contains("SUBSCRIBE") && methods.contains(','), "{methods}");
}
