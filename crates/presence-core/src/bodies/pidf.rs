//! `application/pidf+xml`: RFC 3863 presence with the RFC 4479 data model and RFC 4480
//! RPID activities. The note sits in the tuple and activities in `dm:person`, where the
//! RFCs put them; parsing is namespace-aware, so any prefix (or none) works.

use std::fmt::Write;

use super::presence_words::{note_means_dnd, note_means_on_the_phone};
use super::xml::{child, children, escape, parse as parse_xml, text};
use super::{Basic, BodyError, PresenceReport, utf8};

const NS_PIDF: &str = "urn:ietf:params:xml:ns:pidf";
const NS_DM: &str = "urn:ietf:params:xml:ns:pidf:data-model";
const NS_RPID: &str = "urn:ietf:params:xml:ns:pidf:rpid";

/// An RPID activity (RFC 4480 §3.2) that the server publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// `on-the-phone`.
    OnThePhone,
    /// `busy`: how do-not-disturb is expressed.
    Busy,
}

impl Activity {
    fn element(self) -> &'static str {
        match self {
            Activity::OnThePhone => "on-the-phone",
            Activity::Busy => "busy",
        }
    }
}

/// What a PIDF document says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PidfDocument<'a> {
    /// The presentity URI (`sip:1001@pbx.example.com`).
    pub entity: &'a str,
    /// Reachable or not.
    pub basic: Basic,
    /// A note for people.
    pub note: Option<&'a str>,
    /// Activities, in order.
    pub activities: &'a [Activity],
}

/// Writes the document.
pub fn write(doc: &PidfDocument<'_>) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = write!(
        out,
        r#"<presence xmlns="{NS_PIDF}" xmlns:dm="{NS_DM}" xmlns:rpid="{NS_RPID}" entity="{}">"#,
        escape(doc.entity)
    );
    let _ = write!(out, r#"<tuple id="t1"><status><basic>{}</basic></status>"#, doc.basic.as_str());
    if let Some(note) = doc.note {
        let _ = write!(out, "<note>{}</note>", escape(note));
    }
    out.push_str(r#"</tuple><dm:person id="p1">"#);
    if !doc.activities.is_empty() {
        out.push_str("<rpid:activities>");
        for a in doc.activities {
            let _ = write!(out, "<rpid:{}/>", a.element());
        }
        out.push_str("</rpid:activities>");
    }
    if let Some(note) = doc.note {
        let _ = write!(out, "<dm:note>{}</dm:note>", escape(note));
    }
    out.push_str("</dm:person></presence>");
    out
}

/// Distils a document into `{status, note, dnd, onthephone}`.
///
/// - With a `dm:person`: activities decide (`busy`/`permanent-absence` mean DND,
///   `on-the-phone` a call), then notes; `basic` is read as written.
/// - Without one (Zoiper's minimal PUBLISH): the seed's note heuristics: a DND note means
///   DND, an "on the phone"-style note a call. Unlike the seed, a `closed` basic alone means
///   not reachable, not DND: it is what PJSIP publishes when it goes offline.
///
/// Several tuples: open if any is open. No basic at all: open unless DND.
pub fn parse(body: &[u8]) -> Result<PresenceReport, BodyError> {
    let doc = parse_xml(utf8(body)?)?;
    let root = doc.root_element();
    if root.tag_name().name() != "presence" || root.tag_name().namespace() != Some(NS_PIDF) {
        return Err(BodyError::Shape { format: "PIDF", detail: "root is not a PIDF <presence>" });
    }
    let tuples: Vec<_> = children(root, Some(NS_PIDF), "tuple").collect();
    let basics: Vec<Basic> = tuples
        .iter()
        .filter_map(|t| child(*t, Some(NS_PIDF), "status"))
        .filter_map(|s| child(s, Some(NS_PIDF), "basic"))
        .filter_map(text)
        .map(|b| if b.eq_ignore_ascii_case("open") { Basic::Open } else { Basic::Closed })
        .collect();
    let tuple_note = tuples.iter().find_map(|t| child(*t, Some(NS_PIDF), "note").and_then(text));
    let presence_note = child(root, Some(NS_PIDF), "note").and_then(text);
    let person = child(root, Some(NS_DM), "person");

    let (note, dnd, on_the_phone) = match person {
        Some(person) => {
            let activities = child(person, Some(NS_RPID), "activities");
            let acts: Vec<&str> = activities
                .map(|a| a.children().filter(|c| c.is_element()).map(|c| c.tag_name().name()).collect())
                .unwrap_or_default();
            // The seed wrote dm:note inside rpid:activities; read it there too.
            let person_note = child(person, Some(NS_DM), "note")
                .or_else(|| activities.and_then(|a| child(a, Some(NS_DM), "note")))
                .and_then(text);
            let note = person_note.or(tuple_note).or(presence_note);
            let note_dnd = note.as_deref().is_some_and(note_means_dnd);
            let dnd = acts.iter().any(|a| matches!(*a, "busy" | "permanent-absence")) || note_dnd;
            let on_the_phone = acts.contains(&"on-the-phone");
            (note, dnd, on_the_phone)
        }
        None => {
            let note = tuple_note.or(presence_note);
            let dnd = note.as_deref().is_some_and(note_means_dnd);
            let on_the_phone = note.as_deref().is_some_and(note_means_on_the_phone);
            (note, dnd, on_the_phone)
        }
    };
    let status = if basics.contains(&Basic::Open) || (basics.is_empty() && !dnd) { Basic::Open } else { Basic::Closed };
    Ok(PresenceReport { status, note, dnd, on_the_phone })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: Basic, note: Option<&str>, dnd: bool, on_the_phone: bool) -> PresenceReport {
        PresenceReport { status, note: note.map(str::to_owned), dnd, on_the_phone }
    }

    #[test]
    fn golden_available_document() {
        let doc = PidfDocument {
            entity: "sip:1001@pbx.example.com",
            basic: Basic::Open,
            note: Some("Available"),
            activities: &[],
        };
        assert_eq!(
            write(&doc),
            r#"<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:1001@pbx.example.com"><tuple id="t1"><status><basic>open</basic></status><note>Available</note></tuple><dm:person id="p1"><dm:note>Available</dm:note></dm:person></presence>"#
        );
    }

    #[test]
    fn every_generated_state_parses_back_as_itself() {
        let cases: [(Basic, &str, &[Activity], bool, bool); 5] = [
            (Basic::Open, "Available", &[], false, false),
            (Basic::Open, "On the phone", &[Activity::OnThePhone], false, true),
            (Basic::Open, "Do not disturb", &[Activity::Busy], true, false),
            (Basic::Open, "Do not disturb", &[Activity::Busy, Activity::OnThePhone], true, true),
            (Basic::Closed, "Offline", &[], false, false),
        ];
        for (basic, note, activities, dnd, phone) in cases {
            let body = write(&PidfDocument { entity: "sip:a@b", basic, note: Some(note), activities });
            assert_eq!(parse(body.as_bytes()).unwrap(), report(basic, Some(note), dnd, phone), "{body}");
        }
    }

    #[test]
    fn seed_vector_zoiper_online() {
        let zoiper = br#"<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:1000@bling.babblevoice.com"><tuple id="z1"><status><basic>open</basic></status><note>Online</note></tuple></presence>"#;
        assert_eq!(parse(zoiper).unwrap(), report(Basic::Open, Some("Online"), false, false));
        let dnd = String::from_utf8_lossy(zoiper).replace("Online", "DND");
        assert!(parse(dnd.as_bytes()).unwrap().dnd);
        // PJSIP going offline: closed, no note. The seed read this as DND; it is offline.
        let pjsip_offline = br#"<presence entity="sip:1001@h" xmlns="urn:ietf:params:xml:ns:pidf"><tuple id="pj1"><status><basic>closed</basic></status><timestamp>2026-11-22T02:00:00Z</timestamp></tuple></presence>"#;
        assert_eq!(parse(pjsip_offline).unwrap(), report(Basic::Closed, None, false, false));
    }

    #[test]
    fn documents_the_seed_choked_on() {
        // Empty activities, no note, several tuples, unprefixed data-model namespace.
        let empty_acts = br#"<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:r="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:a@b"><tuple id="1"><status><basic>open</basic></status></tuple><dm:person id="p"><r:activities/></dm:person></presence>"#;
        assert_eq!(parse(empty_acts).unwrap(), report(Basic::Open, None, false, false));
        let two_tuples = br#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="1"><status><basic>closed</basic></status></tuple><tuple id="2"><status><basic>open</basic></status><note>1234</note></tuple></presence>"#;
        assert_eq!(parse(two_tuples).unwrap(), report(Basic::Open, Some("1234"), false, false));
        let unprefixed = br#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="1"><status><basic>open</basic></status></tuple><person xmlns="urn:ietf:params:xml:ns:pidf:data-model" id="p"><activities xmlns="urn:ietf:params:xml:ns:pidf:rpid"><on-the-phone/></activities><note xmlns="urn:ietf:params:xml:ns:pidf:data-model">Talk 2000</note></person></presence>"#;
        assert_eq!(parse(unprefixed).unwrap(), report(Basic::Open, Some("Talk 2000"), false, true));
        let freeswitch_available = br#"<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="sip:a@b"><tuple id="1"><status><basic>open</basic></status></tuple><dm:person id="p"><dm:note>Available</dm:note></dm:person></presence>"#;
        assert_eq!(parse(freeswitch_available).unwrap(), report(Basic::Open, Some("Available"), false, false));
    }

    #[test]
    fn foreign_namespaces_are_not_mistaken_for_pidf() {
        let foreign = br#"<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:x="urn:example" entity="sip:a@b"><tuple id="1"><status><basic>open</basic></status><x:note>DND</x:note></tuple></presence>"#;
        assert_eq!(parse(foreign).unwrap(), report(Basic::Open, None, false, false));
        assert!(parse(br#"<presence xmlns="urn:example"/>"#).is_err());
        assert!(parse(b"not xml").is_err());
        assert!(parse(b"").is_err());
    }
}
