//! `application/xpidf+xml` in the form Polycom phones send and read (the pre-standard
//! Microsoft/IETF draft format): `<presence><presentity/><atom><address>` with
//! `<status status="open|inuse|closed"/>` and `<msnsubstatus substatus="..."/>`.

use std::fmt::Write;

use super::xml::{child, escape, parse as parse_xml};
use super::{Basic, BodyError, PresenceReport, utf8};

/// The state shown: `status` and `msnsubstatus` values as Polycom uses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XpidfState {
    /// `open` / `online`.
    Available,
    /// `inuse` / `onthephone`.
    OnThePhone,
    /// `open` / `busy`: do not disturb.
    DoNotDisturb,
    /// `inuse` / `busy`: on a call and do not disturb.
    OnThePhoneDoNotDisturb,
    /// `closed` / `away`: not registered.
    Offline,
}

impl XpidfState {
    fn attributes(self) -> (&'static str, &'static str) {
        match self {
            XpidfState::Available => ("open", "online"),
            XpidfState::OnThePhone => ("inuse", "onthephone"),
            XpidfState::DoNotDisturb => ("open", "busy"),
            XpidfState::OnThePhoneDoNotDisturb => ("inuse", "busy"),
            XpidfState::Offline => ("closed", "away"),
        }
    }
}

/// Writes the document for `entity` (a URI such as `sip:1001@pbx.example.com`).
pub fn write(entity: &str, state: XpidfState) -> String {
    let (status, substatus) = state.attributes();
    let uri = escape(entity);
    let id = escape(entity.trim_start_matches("sip:").split('@').next().unwrap_or_default());
    let mut out = String::with_capacity(400);
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    out.push_str(r#"<!DOCTYPE presence PUBLIC "-//IETF//DTD RFCxxxx XPIDF 1.0//EN" "xpidf.dtd">"#);
    let _ = write!(
        out,
        r#"<presence><presentity uri="{uri};method=SUBSCRIBE"/><atom id="{id}"><address uri="{uri};user=ip" priority="0.800000"><status status="{status}"/><msnsubstatus substatus="{substatus}"/></address></atom></presence>"#
    );
    out
}

/// Distils a document: `inuse` (any case) or substatus `onthephone` means on a call,
/// substatus `busy` means DND; the note is the substatus, or a `<note>` if present.
pub fn parse(body: &[u8]) -> Result<PresenceReport, BodyError> {
    let shape = |detail| BodyError::Shape { format: "XPIDF", detail };
    let doc = parse_xml(utf8(body)?)?;
    let root = doc.root_element();
    if root.tag_name().name() != "presence" {
        return Err(shape("root is not <presence>"));
    }
    let address =
        child(root, None, "atom").and_then(|atom| child(atom, None, "address")).ok_or(shape("no <atom><address>"))?;
    let status = child(address, None, "status").and_then(|s| s.attribute("status")).unwrap_or("open");
    let substatus = child(address, None, "msnsubstatus").and_then(|s| s.attribute("substatus"));
    let note = root
        .descendants()
        .find(|n| n.has_tag_name("note"))
        .and_then(super::xml::text)
        .or_else(|| substatus.map(str::to_owned));
    let in_use = status.eq_ignore_ascii_case("inuse");
    let basic = if status.eq_ignore_ascii_case("closed") { Basic::Closed } else { Basic::Open };
    Ok(PresenceReport {
        status: basic,
        note,
        dnd: substatus.is_some_and(|s| s.eq_ignore_ascii_case("busy")),
        on_the_phone: in_use || substatus.is_some_and(|s| s.eq_ignore_ascii_case("onthephone")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polycom(status: &str, substatus: &str) -> String {
        format!(
            r#"<?xml version="1.0"?><!DOCTYPE presence PUBLIC "-//IETF//DTD RFCxxxx XPIDF 1.0//EN" "xpidf.dtd"><presence><presentity uri="sip:1000@bling.babblevoice.com;method=SUBSCRIBE" /><atom id="1000"><address uri="sip:192.0.2.20;user=ip" priority="0.800000"><status status="{status}" /><msnsubstatus substatus="{substatus}" /></address></atom></presence>"#
        )
    }

    fn distil(status: &str, substatus: &str) -> (Basic, bool, bool) {
        let r = parse(polycom(status, substatus).as_bytes()).unwrap();
        (r.status, r.dnd, r.on_the_phone)
    }

    #[test]
    fn seed_polycom_vectors() {
        assert_eq!(distil("open", "online"), (Basic::Open, false, false));
        assert_eq!(parse(polycom("open", "online").as_bytes()).unwrap().note.as_deref(), Some("online"));
        assert_eq!(distil("inuse", "onthephone"), (Basic::Open, false, true));
        assert_eq!(distil("inuse", "busy"), (Basic::Open, true, true));
        assert_eq!(distil("open", "BUSY"), (Basic::Open, true, false));
        assert_eq!(distil("closed", "away"), (Basic::Closed, false, false));
        // The seed read INUSE case-sensitively; we do not.
        assert_eq!(distil("INUSE", "online"), (Basic::Open, false, true));
    }

    #[test]
    fn every_generated_state_parses_back_as_itself() {
        for (state, expect) in [
            (XpidfState::Available, (Basic::Open, false, false)),
            (XpidfState::OnThePhone, (Basic::Open, false, true)),
            (XpidfState::DoNotDisturb, (Basic::Open, true, false)),
            (XpidfState::OnThePhoneDoNotDisturb, (Basic::Open, true, true)),
            (XpidfState::Offline, (Basic::Closed, false, false)),
        ] {
            let r = parse(write("sip:1001@pbx.example.com", state).as_bytes()).unwrap();
            assert_eq!((r.status, r.dnd, r.on_the_phone), expect, "{state:?}");
        }
    }

    #[test]
    fn golden_available_document() {
        assert_eq!(
            write("sip:1001@pbx.example.com", XpidfState::Available),
            r#"<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE presence PUBLIC "-//IETF//DTD RFCxxxx XPIDF 1.0//EN" "xpidf.dtd"><presence><presentity uri="sip:1001@pbx.example.com;method=SUBSCRIBE"/><atom id="1001"><address uri="sip:1001@pbx.example.com;user=ip" priority="0.800000"><status status="open"/><msnsubstatus substatus="online"/></address></atom></presence>"#
        );
    }

    #[test]
    fn tolerates_missing_substatus_and_refuses_other_shapes() {
        let no_sub =
            r#"<presence><atom id="1"><address uri="sip:a@b"><status status="open"/></address></atom></presence>"#;
        assert_eq!(parse(no_sub.as_bytes()).unwrap().note, None);
        assert!(parse(b"<presence/>").is_err());
        assert!(parse(b"<other/>").is_err());
    }
}
