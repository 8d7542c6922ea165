//! What the registrar takes from RFC 5626 (outbound) and RFC 3327 (Path): which key finds a
//! binding again, whether a REGISTER registers a flow, and the headers its 200 adds.
//!
//! A phone that sends `+sip.instance` and `reg-id` (JsSIP and SIP.js always do) names its
//! binding by them, so a REGISTER over a new connection, with a new Contact, replaces the
//! binding it had instead of adding one beside a flow that is gone (RFC 5626 §6). Keying so
//! needs nothing from the path, which also keeps the key a function of the stored Contact
//! alone across a restart. Whether the REGISTER *uses* outbound (the 200 says
//! `Require: outbound`) depends on its `Supported: outbound` and on the first hop.

use sip_proto::header::{Contacts, NameAddr};
use sip_proto::{HeaderName, Response, Uri};

use crate::request::Incoming;

use super::binding::uri_key;

/// The key a binding of `contact` is found again by: its instance and registration flow
/// when it has both (RFC 5626 §6), else its URI in comparison form (RFC 3261 §10.3 step 7).
pub(crate) fn binding_key(contact: &NameAddr) -> String {
    match (contact.params.get("+sip.instance"), contact.params.get("reg-id")) {
        (Some(instance), Some(reg_id)) => format!("instance {instance} reg-id {reg_id}"),
        _ => uri_key(&contact.uri),
    }
}

/// RFC 5626 §6: whether `req` registers a flow: it supports outbound, its one Contact with
/// `reg-id` also has `+sip.instance`, and the first hop supports outbound (it is us, or the
/// edge proxy marked its Path `ob`). A REGISTER that asks for outbound through a first hop
/// that lacks it is refused 439; one listing two Contacts with `reg-id` is refused 400.
pub(crate) fn registers_flow(req: &Incoming) -> Result<bool, Response> {
    let Contacts::List(contacts) = &req.contacts else { return Ok(false) };
    let mut with_reg_id = contacts.iter().filter(|c| c.params.contains("reg-id"));
    let Some(contact) = with_reg_id.next() else { return Ok(false) };
    if with_reg_id.next().is_some() {
        return Err(req.answer(400).with_reason("More Than One Contact With reg-id"));
    }
    if !supports(req, "outbound") || !contact.params.contains("+sip.instance") {
        return Ok(false);
    }
    // One Via: the phone reached us directly and the flow is the one it came on. Through
    // proxies, the edge proxy (nearest the phone) added its Path first, so it is the last.
    let direct = req.request.headers.via().is_ok_and(|vias| vias.len() == 1);
    let edge_supports = req.paths.last().is_some_and(|edge| match &edge.uri {
        Uri::Sip(uri) => uri.params.contains("ob"),
        Uri::Other { .. } => false,
    });
    if direct || edge_supports { Ok(true) } else { Err(req.answer(439)) }
}

/// Adds to the 200 of a REGISTER what the extensions it used ask: `Require: outbound` when it
/// registered a flow (RFC 5626 §6), and its Path values when it supports `path` (RFC 3327
/// §5.3, so the phone learns the route its requests are reached by).
pub(crate) fn decorate(ok: &mut Response, req: &Incoming, flow: bool) {
    if flow {
        ok.headers.push(HeaderName::Require, "outbound");
    }
    if supports(req, "path") {
        for path in &req.paths {
            ok.headers.push(HeaderName::Path, path.to_string());
        }
    }
}

/// Whether `req` lists the option tag `tag` in Supported.
fn supports(req: &Incoming, tag: &str) -> bool {
    req.supported.iter().any(|t| t.eq_ignore_ascii_case(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_is_named_by_instance_and_reg_id_whatever_its_contact() {
        let first = NameAddr::parse(r#"<sip:a1@df7j.invalid;transport=ws>;reg-id=1;+sip.instance="<urn:uuid:0a>""#);
        let again = NameAddr::parse(r#"<sip:b2@k9z3.invalid;transport=ws>;+sip.instance="<urn:uuid:0a>";reg-id=1"#);
        let other_flow =
            NameAddr::parse(r#"<sip:a1@df7j.invalid;transport=ws>;reg-id=2;+sip.instance="<urn:uuid:0a>""#);
        let (first, again, other_flow) = (first.unwrap(), again.unwrap(), other_flow.unwrap());
        assert_eq!(binding_key(&first), binding_key(&again));
        assert_ne!(binding_key(&first), binding_key(&other_flow));
        let plain = NameAddr::parse("<sip:1001@192.0.2.10:5062>").unwrap();
        assert_eq!(binding_key(&plain), uri_key(&plain.uri));
    }
}
