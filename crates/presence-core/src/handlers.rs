//! Answers to requests that reach the engine outside any transaction, in the order
//! RFC 3261 §8.2 checks them: method (§8.2.1), Request-URI scheme (§8.2.2.1), required
//! extensions (§8.2.2.3), then the method's own handling. OPTIONS answers with our
//! capabilities (§11.2).

use sip_proto::uri::Uri;
use sip_proto::{HeaderName, Method, Request, Response};

use crate::config::EngineConfig;

/// Methods this server serves; every other known method gets 405 with this list.
pub const ALLOWED_METHODS: &[Method] = &[Method::Options];

/// The response to a request that is not a retransmission.
pub(crate) fn respond(req: &Request, _config: &EngineConfig) -> Response {
    let in_dialog = req.headers.to().is_ok_and(|to| to.tag().is_some());
    if !ALLOWED_METHODS.contains(&req.method) && !in_dialog {
        let status = match req.method {
            Method::Other(_) => 501,
            _ => 405,
        };
        return with_allow(Response::to(req, status));
    }
    if !matches!(req.uri, Uri::Sip(_)) {
        return Response::to(req, 416);
    }
    // We support no extension that a request could require (§8.2.2.3: 420 + Unsupported).
    let required = req.headers.require().unwrap_or_default();
    if !required.is_empty() && req.method != Method::Cancel {
        let mut response = Response::to(req, 420);
        response
            .headers
            .push(HeaderName::Unsupported, required.join(", "));
        return response;
    }
    match req.method {
        Method::Options => capabilities(Response::to(req, 200)),
        // An in-dialog request for a dialog we do not have (§12.2.2), or a CANCEL for a
        // transaction we do not have (§9.2).
        _ => Response::to(req, 481),
    }
}

fn with_allow(mut response: Response) -> Response {
    let allow: Vec<&str> = ALLOWED_METHODS.iter().map(Method::as_str).collect();
    response.headers.push(HeaderName::Allow, allow.join(", "));
    response
}

/// Allow and Accept as an OPTIONS response carries them (RFC 3261 §11.2). No body type is
/// accepted yet, which an empty Accept states (§20.1).
fn capabilities(response: Response) -> Response {
    let mut response = with_allow(response);
    response.headers.push(HeaderName::Accept, "");
    response
}
