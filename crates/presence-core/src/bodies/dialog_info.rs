//! `application/dialog-info+xml` (RFC 4235): the dialogs of an entity, as BLF keys read
//! them. Documents we write are always `state="full"` and list every current dialog; the
//! `version` is the subscription's counter. Identity and target elements carry what call
//! pickup needs (Polycom and Yealink read `call-id`, the tags and the remote identity).

use std::fmt::Write;

use super::xml::{child, children, escape, parse as parse_xml, text};
use super::{BodyError, utf8};
use crate::call::{Call, CallState, Direction, Party, with_sip_scheme};

const NS: &str = "urn:ietf:params:xml:ns:dialog-info";

/// What one document says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialogInfo {
    /// The document version.
    pub version: u32,
    /// `true` for `state="full"`, `false` for `partial`.
    pub full: bool,
    /// The `entity` attribute.
    pub entity: String,
    /// The dialogs, in document order.
    pub calls: Vec<Call>,
}

/// How a device wants the parties of each dialog written.
#[derive(Clone, Copy, Debug)]
pub struct Parties<'a> {
    /// Every dialog's remote target is this URI: the number a BLF key dials to pick the call
    /// up (the `**<extension>` convention of FreeSWITCH and Zoiper).
    pub pickup_target: Option<&'a str>,
    /// Write the remote party's `<identity>` (the caller a key shows); its target stays.
    pub remote_identity: bool,
}

impl Default for Parties<'_> {
    fn default() -> Self {
        Parties { pickup_target: None, remote_identity: true }
    }
}

/// Writes a full document for `entity` (a URI) whose local identity shows `display`, with
/// each dialog's parties as `parties` says.
pub fn write(entity: &str, display: Option<&str>, version: u32, calls: &[&Call], parties: Parties) -> String {
    let entity = escape(entity);
    let mut out = String::with_capacity(200 + 500 * calls.len());
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = write!(out, r#"<dialog-info xmlns="{NS}" version="{version}" state="full" entity="{entity}">"#);
    for call in calls {
        write_dialog(&mut out, &entity, display, call, parties);
    }
    out.push_str("</dialog-info>");
    out
}

fn write_dialog(out: &mut String, entity: &str, display: Option<&str>, call: &Call, parties: Parties) {
    let id = escape(&call.call_id);
    let _ = write!(out, r#"<dialog id="{id}" call-id="{id}""#);
    if let Some(tag) = &call.local_tag {
        let _ = write!(out, r#" local-tag="{}""#, escape(tag));
    }
    if let Some(tag) = &call.remote_tag {
        let _ = write!(out, r#" remote-tag="{}""#, escape(tag));
    }
    if let Some(direction) = call.direction {
        let _ = write!(out, r#" direction="{}""#, direction.as_str());
    }
    let _ = write!(out, "><state>{}</state>", call.state.as_str());
    if let Some(duration) = call.duration {
        let _ = write!(out, "<duration>{duration}</duration>");
    }
    out.push_str("<local>");
    write_identity(out, display, entity);
    let _ = write!(out, r#"<target uri="{entity}">"#);
    if let Some(rendering) = call.rendering {
        let pval = if rendering { "yes" } else { "no" };
        // RFC 4235 §4.1.6.2 names the value `pval`; Asterisk and FreeSWITCH write `pvalue`,
        // and phones that show a held call (a slow blink) have been read against those.
        // Both are written: a reader takes the one it knows and passes over the other.
        let _ = write!(out, r#"<param pname="+sip.rendering" pval="{pval}" pvalue="{pval}"/>"#);
    }
    out.push_str("</target></local>");
    let remote_uri = call.remote.as_ref().map(|r| with_sip_scheme(&r.uri));
    if let Some(target) = parties.pickup_target.map(str::to_owned).or_else(|| remote_uri.clone()) {
        out.push_str("<remote>");
        if let (Some(remote), Some(uri), true) = (&call.remote, &remote_uri, parties.remote_identity) {
            write_identity(out, remote.display.as_deref(), &escape(uri));
        }
        let _ = write!(out, r#"<target uri="{}"/></remote>"#, escape(&target));
    }
    out.push_str("</dialog>");
}

fn write_identity(out: &mut String, display: Option<&str>, escaped_uri: &str) {
    match display {
        Some(d) => {
            let _ = write!(out, r#"<identity display="{}">{escaped_uri}</identity>"#, escape(d));
        }
        None => {
            let _ = write!(out, "<identity>{escaped_uri}</identity>");
        }
    }
}

/// Parses a document (full or partial). A dialog without a readable `<state>` is refused.
pub fn parse(body: &[u8]) -> Result<DialogInfo, BodyError> {
    let shape = |detail| BodyError::Shape { format: "dialog-info", detail };
    let doc = parse_xml(utf8(body)?)?;
    let root = doc.root_element();
    if root.tag_name().name() != "dialog-info" || root.tag_name().namespace() != Some(NS) {
        return Err(shape("root is not a dialog-info element"));
    }
    let version = root.attribute("version").and_then(|v| v.trim().parse().ok()).ok_or(shape("no numeric version"))?;
    let full = match root.attribute("state") {
        Some("full") => true,
        Some("partial") => false,
        _ => return Err(shape("state is neither full nor partial")),
    };
    let mut calls = Vec::new();
    for dialog in children(root, Some(NS), "dialog") {
        let state = child(dialog, Some(NS), "state")
            .and_then(text)
            .and_then(|s| CallState::parse(&s))
            .ok_or(shape("a dialog has no valid state"))?;
        let call_id = dialog.attribute("call-id").or(dialog.attribute("id")).ok_or(shape("a dialog has no id"))?;
        let remote = child(dialog, Some(NS), "remote").and_then(|r| {
            let identity = child(r, Some(NS), "identity");
            let uri = identity
                .and_then(text)
                .or_else(|| child(r, Some(NS), "target")?.attribute("uri").map(str::to_owned))?;
            let display = identity.and_then(|i| i.attribute("display")).map(|d| super::capped(d).to_owned());
            Some(Party { display, uri })
        });
        let rendering = child(dialog, Some(NS), "local")
            .and_then(|l| child(l, Some(NS), "target"))
            .and_then(|t| children(t, Some(NS), "param").find(|p| p.attribute("pname") == Some("+sip.rendering")))
            .and_then(|p| p.attribute("pval").or_else(|| p.attribute("pvalue")))
            .map(|v| v.eq_ignore_ascii_case("yes"));
        calls.push(Call {
            call_id: call_id.to_owned(),
            local_tag: dialog.attribute("local-tag").map(str::to_owned),
            remote_tag: dialog.attribute("remote-tag").map(str::to_owned),
            direction: dialog.attribute("direction").and_then(Direction::parse),
            state,
            duration: child(dialog, Some(NS), "duration").and_then(text).and_then(|d| d.parse().ok()),
            rendering,
            remote,
        });
    }
    Ok(DialogInfo { version, full, entity: root.attribute("entity").unwrap_or_default().to_owned(), calls })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ringing() -> Call {
        Call {
            call_id: "a84b4c76e66710".into(),
            local_tag: Some("1928301774".into()),
            remote_tag: Some("456248".into()),
            direction: Some(Direction::Recipient),
            state: CallState::Early,
            duration: Some(3),
            rendering: Some(false),
            remote: Some(Party { display: Some("Kate & Co".into()), uri: "2000@pbx.example.com".into() }),
        }
    }

    #[test]
    fn golden_idle_and_ringing() {
        assert_eq!(
            write("sip:1001@pbx.example.com", Some("Bob"), 0, &[], Parties::default()),
            r#"<?xml version="1.0" encoding="UTF-8"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" entity="sip:1001@pbx.example.com"></dialog-info>"#
        );
        assert_eq!(
            write("sip:1001@pbx.example.com", Some("Bob"), 4, &[&ringing()], Parties::default()),
            r#"<?xml version="1.0" encoding="UTF-8"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="4" state="full" entity="sip:1001@pbx.example.com"><dialog id="a84b4c76e66710" call-id="a84b4c76e66710" local-tag="1928301774" remote-tag="456248" direction="recipient"><state>early</state><duration>3</duration><local><identity display="Bob">sip:1001@pbx.example.com</identity><target uri="sip:1001@pbx.example.com"><param pname="+sip.rendering" pval="no" pvalue="no"/></target></local><remote><identity display="Kate &amp; Co">sip:2000@pbx.example.com</identity><target uri="sip:2000@pbx.example.com"/></remote></dialog></dialog-info>"#
        );
    }

    #[test]
    fn without_remote_identity_the_remote_target_stays() {
        let parties = Parties { remote_identity: false, ..Parties::default() };
        let body = write("sip:1001@pbx.example.com", None, 1, &[&ringing()], parties);
        assert!(body.contains(r#"<remote><target uri="sip:2000@pbx.example.com"/></remote>"#), "{body}");
        assert!(!body.contains("Kate"), "{body}");
    }

    #[test]
    fn round_trips_every_dialog() {
        let mut answered = ringing();
        answered.call_id = "second".into();
        answered.state = CallState::Confirmed;
        answered.rendering = Some(true);
        answered.remote.as_mut().unwrap().uri = "sip:2000@pbx.example.com".into();
        let body = write("sip:1001@pbx.example.com", None, 7, &[&ringing(), &answered], Parties::default());
        let parsed = parse(body.as_bytes()).unwrap();
        assert_eq!((parsed.version, parsed.full, parsed.entity.as_str()), (7, true, "sip:1001@pbx.example.com"));
        let mut expect_first = ringing();
        expect_first.remote.as_mut().unwrap().uri = "sip:2000@pbx.example.com".into();
        assert_eq!(parsed.calls, vec![expect_first, answered]);
    }

    #[test]
    fn reads_a_held_call_as_asterisk_writes_it() {
        let held = br#"<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="2" state="full" entity="sip:701@pbx"><dialog id="p" call-id="p"><state>confirmed</state><local><target uri="sip:701@pbx"><param pname="+sip.rendering" pvalue="no"/></target></local></dialog></dialog-info>"#;
        assert_eq!(parse(held).unwrap().calls[0].rendering, Some(false));
    }

    #[test]
    fn reads_rfc_4235_example_and_refuses_broken_ones() {
        let rfc = br#"<?xml version="1.0"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="partial" entity="sip:alice@example.com"><dialog id="as7d900as8" call-id="a84b4c76e66710" local-tag="1928301774" direction="initiator"><state>early</state></dialog></dialog-info>"#;
        let parsed = parse(rfc).unwrap();
        assert!(!parsed.full);
        assert_eq!(parsed.calls[0].call_id, "a84b4c76e66710");
        assert_eq!(parsed.calls[0].direction, Some(Direction::Initiator));
        let no_state = String::from_utf8_lossy(rfc).replace("<state>early</state>", "");
        assert!(parse(no_state.as_bytes()).is_err());
        assert!(parse(br#"<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" state="full"/>"#).is_err());
    }
}
