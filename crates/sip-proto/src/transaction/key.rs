//! Transaction matching: RFC 3261 §17.2.3 for requests arriving at a server transaction
//! (with the RFC 2543 fallback for branches lacking the magic cookie) and §17.1.3 for
//! responses arriving at a client transaction.

use crate::header::HeaderError;
use crate::message::{Request, Response};
use crate::method::Method;

/// Identifies the server transaction a request belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerKey {
    /// §17.2.3: the top Via branch (with magic cookie), its sent-by, and the method, ACK
    /// counting as INVITE.
    Rfc3261 {
        /// The branch parameter.
        branch: String,
        /// `host[:port]` of the top Via.
        sent_by: String,
        /// The method (INVITE for ACK).
        method: String,
    },
    /// RFC 2543 matching: Request-URI, From tag, To tag, Call-ID, CSeq and the top Via.
    Rfc2543 {
        /// Request-URI text.
        request_uri: String,
        /// From tag, if any.
        from_tag: Option<String>,
        /// To tag, if any.
        to_tag: Option<String>,
        /// Call-ID.
        call_id: String,
        /// CSeq number.
        cseq: u32,
        /// The method (INVITE for ACK).
        method: String,
        /// The whole top Via value.
        top_via: String,
    },
}

impl ServerKey {
    /// The key for an incoming request.
    pub fn for_request(req: &Request) -> Result<ServerKey, HeaderError> {
        let via = req.headers.top_via()?;
        let method = match req.method {
            Method::Ack => Method::Invite,
            ref m => m.clone(),
        };
        if let (true, Some(branch)) = (via.has_rfc3261_branch(), via.branch()) {
            return Ok(ServerKey::Rfc3261 {
                branch: branch.to_owned(),
                sent_by: via.sent_by(),
                method: method.to_string(),
            });
        }
        Ok(ServerKey::Rfc2543 {
            request_uri: req.uri.to_string(),
            from_tag: req.headers.from()?.tag().map(str::to_owned),
            to_tag: req.headers.to()?.tag().map(str::to_owned),
            call_id: req.headers.call_id()?.to_owned(),
            cseq: req.headers.cseq()?.seq,
            method: method.to_string(),
            top_via: via.to_string(),
        })
    }
}

/// Identifies the client transaction a response belongs to (§17.1.3): the top Via branch
/// and the CSeq method.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey {
    /// The branch we put in our Via.
    pub branch: String,
    /// The CSeq method.
    pub method: String,
}

impl ClientKey {
    /// The key of a request we send.
    pub fn for_request(req: &Request) -> Result<ClientKey, HeaderError> {
        let via = req.headers.top_via()?;
        let branch = via.branch().ok_or(HeaderError { header: crate::header::HeaderName::Via, reason: "no branch" })?;
        Ok(ClientKey { branch: branch.to_owned(), method: req.method.to_string() })
    }

    /// The key of a response we receive.
    pub fn for_response(resp: &Response) -> Result<ClientKey, HeaderError> {
        let via = resp.headers.top_via()?;
        let branch = via.branch().ok_or(HeaderError { header: crate::header::HeaderName::Via, reason: "no branch" })?;
        Ok(ClientKey { branch: branch.to_owned(), method: resp.headers.cseq()?.method.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::parse::parse_message;

    fn request(via: &str, method: &str) -> Request {
        let raw = format!(
            "{method} sip:a@b SIP/2.0\r\nVia: {via}\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 {method}\r\n\r\n"
        );
        match parse_message(raw.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    #[test]
    fn rfc3261_keys_use_branch_sent_by_and_method() {
        let a = ServerKey::for_request(&request("SIP/2.0/UDP h:5060;branch=z9hG4bKabc", "OPTIONS")).unwrap();
        let b = ServerKey::for_request(&request("SIP/2.0/UDP H:5060;branch=z9hG4bKabc;rport", "OPTIONS")).unwrap();
        let c = ServerKey::for_request(&request("SIP/2.0/UDP h:5061;branch=z9hG4bKabc", "OPTIONS")).unwrap();
        let d = ServerKey::for_request(&request("SIP/2.0/UDP h:5060;branch=z9hG4bKabc", "CANCEL")).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        let ack = ServerKey::for_request(&request("SIP/2.0/UDP h:5060;branch=z9hG4bKinv", "ACK")).unwrap();
        let inv = ServerKey::for_request(&request("SIP/2.0/UDP h:5060;branch=z9hG4bKinv", "INVITE")).unwrap();
        assert_eq!(ack, inv);
    }

    #[test]
    fn rfc2543_fallback_without_cookie() {
        let a = ServerKey::for_request(&request("SIP/2.0/UDP h:5060;branch=old1", "OPTIONS")).unwrap();
        assert!(matches!(a, ServerKey::Rfc2543 { .. }));
        assert_eq!(a, ServerKey::for_request(&request("SIP/2.0/UDP h:5060;branch=old1", "OPTIONS")).unwrap());
        assert_ne!(a, ServerKey::for_request(&request("SIP/2.0/UDP h:5060;branch=old2", "OPTIONS")).unwrap());
    }
}
