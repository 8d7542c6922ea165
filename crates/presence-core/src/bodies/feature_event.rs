//! `application/x-as-feature-event+xml`, BroadWorks device feature-key synchronisation: the
//! CSTA (ECMA-323 edition 3) documents phones exchange with the server, as
//! docs/feature-keys.md describes them. A phone asks with `SetDoNotDisturb` or
//! `SetForwarding` in a SUBSCRIBE body; the server answers with `DoNotDisturbEvent` and
//! `ForwardingEvent` in NOTIFYs, several of them as the parts of one `multipart/mixed` body
//! (RFC 2046 §5.1).

use crate::features::{FeatureChange, FeatureError, ForwardKind, Forwarding};

use super::xml::{self, escape};
use super::{BodyError, utf8};

/// The media type.
pub const CONTENT_TYPE: &str = "application/x-as-feature-event+xml";

/// The namespace written: Polycom phones stop reading a document without it.
const NAMESPACE: &str = "http://www.ecma-international.org/standards/ecma-323/csta/ed3";
/// The same without the hyphen, as the BroadWorks specification's examples (and so some
/// phones) spell it; read like the other.
const NAMESPACE_UNHYPHENATED: &str = "http://www.ecmainternational.org/standards/ecma-323/csta/ed3";

/// One event a NOTIFY reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureEvent<'a> {
    /// `DoNotDisturbEvent`.
    Dnd(bool),
    /// `ForwardingEvent` for one kind.
    Forward(ForwardKind, &'a Forwarding),
}

/// A body written: its media type and text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// `application/x-as-feature-event+xml`, or `multipart/mixed` with its boundary.
    pub content_type: String,
    /// The body.
    pub text: String,
}

/// Writes `events` for `device` (the user part, which phones echo and do not act on): one
/// event as a plain document, several as the parts of a `multipart/mixed` body.
pub fn write(device: &str, events: &[FeatureEvent<'_>]) -> Written {
    let documents: Vec<String> = events.iter().map(|e| document(device, *e)).collect();
    if let [one] = documents.as_slice() {
        return Written { content_type: CONTENT_TYPE.to_owned(), text: one.clone() };
    }
    // RFC 2046 §5.1.1: the boundary must not occur in any part. Ours is fixed text the
    // parts can only hold inside a forwarding target, so it grows until it does not.
    let mut boundary = String::from("babble-feature-event");
    while documents.iter().any(|d| d.contains(&boundary)) {
        boundary.push('x');
    }
    let mut text = String::new();
    for d in &documents {
        text.push_str(&format!("--{boundary}\r\nContent-Type: {CONTENT_TYPE}\r\n\r\n{d}\r\n"));
    }
    text.push_str(&format!("--{boundary}--\r\n"));
    Written { content_type: format!("multipart/mixed;boundary={boundary}"), text }
}

fn document(device: &str, event: FeatureEvent<'_>) -> String {
    let head = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
    let device = escape(device);
    match event {
        FeatureEvent::Dnd(on) => format!(
            r#"{head}<DoNotDisturbEvent xmlns="{NAMESPACE}"><device>{device}</device><doNotDisturbOn>{on}</doNotDisturbOn></DoNotDisturbEvent>"#
        ),
        FeatureEvent::Forward(kind, f) => {
            let to = f.to.as_deref().map(escape).unwrap_or_default();
            let rings = match (kind, f.ring_count) {
                (ForwardKind::NoAnswer, Some(n)) => format!("<ringCount>{n}</ringCount>"),
                _ => String::new(),
            };
            format!(
                r#"{head}<ForwardingEvent xmlns="{NAMESPACE}"><device>{device}</device><forwardingType>{}</forwardingType><forwardStatus>{}</forwardStatus><forwardTo>{to}</forwardTo>{rings}</ForwardingEvent>"#,
                kind.csta_name(),
                f.active
            )
        }
    }
}

/// Reads a phone's `SetDoNotDisturb` or `SetForwarding`. A `SetForwarding` that turns
/// forwarding off may leave the target out; one that turns it on must name it.
pub fn parse(body: &[u8]) -> Result<FeatureChange, BodyError> {
    let shape = |detail| BodyError::Shape { format: "as-feature-event", detail };
    let doc = xml::parse(utf8(body)?)?;
    let root = doc.root_element();
    let ns = root.tag_name().namespace();
    if !matches!(ns, Some(NAMESPACE | NAMESPACE_UNHYPHENATED) | None) {
        return Err(shape("not in the CSTA namespace"));
    }
    let field = |name| xml::child(root, ns, name).and_then(xml::text);
    let flag = |name, missing| match field(name).as_deref() {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(shape("a flag is neither true nor false")),
        None => Err(shape(missing)),
    };
    match root.tag_name().name() {
        "SetDoNotDisturb" => Ok(FeatureChange::Dnd(flag("doNotDisturbOn", "missing doNotDisturbOn")?)),
        "SetForwarding" => {
            let kind = field("forwardingType").ok_or(shape("missing forwardingType"))?;
            let kind = ForwardKind::from_csta(&kind).ok_or(shape("unknown forwardingType"))?;
            let active = flag("activateForward", "missing activateForward")?;
            let ring_count = match field("ringCount") {
                None => None,
                Some(n) => Some(n.parse().map_err(|_| shape("ringCount is not a number"))?),
            };
            let forwarding = Forwarding { active, to: field("forwardDN"), ring_count };
            let forwarding = forwarding.checked().map_err(|e| {
                shape(match e {
                    FeatureError::Target => "forwardDN is not a SIP URI or a number",
                    FeatureError::RingCount => "ringCount is not 1 to 100",
                    FeatureError::MissingTarget => "forwardDN is required to turn forwarding on",
                })
            })?;
            Ok(FeatureChange::Forward(kind, forwarding))
        }
        _ => Err(shape("root is neither SetDoNotDisturb nor SetForwarding")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_phones_send() {
        let dnd = r#"<?xml version="1.0" encoding="ISO-8859-1"?>
<SetDoNotDisturb xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3">
<device>1001</device><doNotDisturbOn>true</doNotDisturbOn></SetDoNotDisturb>"#;
        assert_eq!(parse(dnd.as_bytes()), Ok(FeatureChange::Dnd(true)));
        let forward = r#"<SetForwarding xmlns="http://www.ecmainternational.org/standards/ecma-323/csta/ed3">
<device>1001</device><activateForward>true</activateForward><forwardingType>forwardNoAns</forwardingType>
<forwardDN>2002</forwardDN><ringCount>4</ringCount></SetForwarding>"#;
        let want = Forwarding { active: true, to: Some("2002".into()), ring_count: Some(4) };
        assert_eq!(parse(forward.as_bytes()), Ok(FeatureChange::Forward(ForwardKind::NoAnswer, want)));
        let off = r#"<SetForwarding xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3"><device/>
<activateForward>false</activateForward><forwardingType>forwardImmediate</forwardingType><forwardDN></forwardDN>
<ringCount></ringCount></SetForwarding>"#;
        assert_eq!(parse(off.as_bytes()), Ok(FeatureChange::Forward(ForwardKind::Always, Forwarding::default())));
    }

    #[test]
    fn refuses_what_it_cannot_act_on() {
        let shaped = |body: &str| matches!(parse(body.as_bytes()), Err(BodyError::Shape { .. }));
        assert!(shaped("<SetDoNotDisturb><doNotDisturbOn>maybe</doNotDisturbOn></SetDoNotDisturb>"));
        assert!(shaped("<SetDoNotDisturb/>"));
        assert!(shaped(
            r#"<SetDoNotDisturb xmlns="urn:other"><doNotDisturbOn>true</doNotDisturbOn></SetDoNotDisturb>"#
        ));
        assert!(shaped("<SetForwarding><forwardingType>forwardAll</forwardingType></SetForwarding>"));
        let on_nowhere = "<SetForwarding><forwardingType>forwardBusy</forwardingType><activateForward>true</activateForward></SetForwarding>";
        assert!(shaped(on_nowhere));
        assert!(shaped("<GetDoNotDisturb/>"));
        assert!(parse(b"\xff").is_err());
    }

    #[test]
    fn one_event_is_a_document_and_several_are_parts() {
        let one = write("1001", &[FeatureEvent::Dnd(true)]);
        assert_eq!(one.content_type, CONTENT_TYPE);
        assert!(one.text.contains(r#"<DoNotDisturbEvent xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3"><device>1001</device><doNotDisturbOn>true</doNotDisturbOn>"#));
        let target = Forwarding { active: true, to: Some("--babble-feature-event".into()), ring_count: Some(3) };
        let both = write("1001", &[FeatureEvent::Dnd(false), FeatureEvent::Forward(ForwardKind::NoAnswer, &target)]);
        let boundary = both.content_type.strip_prefix("multipart/mixed;boundary=").unwrap();
        assert_eq!(boundary, "babble-feature-eventx", "not found in any part");
        let parts: Vec<&str> = both.text.split(&format!("--{boundary}")).collect();
        assert_eq!(parts.len(), 4, "preamble, two parts, and the close");
        assert!(parts[2].contains("<forwardingType>forwardNoAns</forwardingType><forwardStatus>true</forwardStatus><forwardTo>--babble-feature-event</forwardTo><ringCount>3</ringCount>"));
        assert_eq!(parts[3], "--\r\n");
    }
}
