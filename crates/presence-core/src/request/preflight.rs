//! The checks every request passes before its method's handling, in the order RFC 3261
//! §8.2 makes them: method (§8.2.1), Request-URI scheme (§8.2.2.1), required extensions
//! (§8.2.2.3); that a request which makes someone a subscriber, publisher or registrant names
//! them by a SIP URI (entities are SIP addresses-of-record); and the capabilities an OPTIONS
//! response lists (§11.2).

use sip_proto::uri::Uri;
use sip_proto::{HeaderName, Method, Response};

use crate::packages::PACKAGES;

use super::Incoming;

/// Methods this server serves; every other known method gets 405 with this list.
pub const ALLOWED_METHODS: &[Method] =
    &[Method::Options, Method::Subscribe, Method::Notify, Method::Publish, Method::Register];

/// A refusal, or `None` when the request may go on to its method's handling.
pub(crate) fn preflight(req: &Incoming) -> Option<Response> {
    let method = req.method();
    if !ALLOWED_METHODS.contains(method) && req.dialog.is_none() {
        let status = match method {
            Method::Other(_) => 501,
            _ => 405,
        };
        return Some(with_allow(req.answer(status)));
    }
    if !matches!(req.request.uri, Uri::Sip(_)) {
        return Some(req.answer(416));
    }
    let names_someone = matches!(method, Method::Subscribe | Method::Publish | Method::Register);
    if names_someone && !matches!(req.from.uri, Uri::Sip(_)) {
        return Some(req.answer(400).with_reason("From Is Not a SIP URI"));
    }
    // §8.2.2.3: an extension we do not support is answered 420 + Unsupported. The registrar
    // supports Path (RFC 3327) and outbound (RFC 5626); nothing else takes an extension.
    let supported: &[&str] = match method {
        Method::Register => &["path", "outbound"],
        // RFC 4662: a subscriber may require a list's NOTIFYs.
        Method::Subscribe => &["eventlist"],
        _ => &[],
    };
    let unsupported: Vec<&str> = (req.require.iter().map(String::as_str))
        .filter(|tag| !supported.iter().any(|s| s.eq_ignore_ascii_case(tag)))
        .collect();
    if !unsupported.is_empty() && *method != Method::Cancel {
        let mut response = req.answer(420);
        response.headers.push(HeaderName::Unsupported, unsupported.join(", "));
        return Some(response);
    }
    None
}

pub(crate) fn with_allow(mut response: Response) -> Response {
    let allow: Vec<&str> = ALLOWED_METHODS.iter().map(Method::as_str).collect();
    response.headers.push(HeaderName::Allow, allow.join(", "));
    response
}

pub(crate) fn with_allow_events(mut response: Response) -> Response {
    let events: Vec<&str> = PACKAGES.iter().map(|p| p.name()).collect();
    response.headers.push(HeaderName::AllowEvents, events.join(", "));
    response
}

/// Allow, Allow-Events and Accept as an OPTIONS response carries them (RFC 3261 §11.2,
/// RFC 6665 §8.2.2): Accept lists the bodies requests may carry (a PUBLISH's, and a feature
/// key's SUBSCRIBE).
pub(crate) fn capabilities(response: Response) -> Response {
    let mut response = with_allow_events(with_allow(response));
    let bodies: Vec<&str> = PACKAGES.iter().flat_map(|p| p.formats()).map(|f| f.content_type()).collect();
    response.headers.push(HeaderName::Accept, bodies.join(", "));
    response
}
