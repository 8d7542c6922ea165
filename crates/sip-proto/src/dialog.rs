//! Dialog state for subscription usages (RFC 3261 §12, RFC 6665 §4.1.2.1 / §4.2.1): the
//! identifiers, route set, remote target and both CSeq spaces, from either side.

use crate::header::{HeaderError, HeaderName, NameAddr};
use crate::message::{Request, Response};
use crate::method::Method;
use crate::uri::Uri;

/// Call-ID plus both tags, seen from our side (RFC 3261 §12).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// An in-dialog request arrived with a CSeq not above the last one (RFC 3261 §12.2.2:
/// answer 500).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("CSeq {got} is not above {last}")]
pub struct CSeqOutOfOrder {
    /// The CSeq received.
    pub got: u32,
    /// The highest CSeq seen before.
    pub last: u32,
}

/// The state of one dialog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    /// The identifiers.
    pub id: DialogId,
    /// Our address (From of our requests), without tag, as header text: every request
    /// writes it out again, and parsed it would take several times the room.
    pub local_uri: String,
    /// The peer's address (To of our requests), without tag, as header text.
    pub remote_uri: String,
    /// Where in-dialog requests go: the peer's Contact.
    pub remote_target: Uri,
    /// Route set, in the order our requests carry it.
    pub route_set: Vec<NameAddr>,
    /// The CSeq of our last request in this dialog.
    pub local_seq: u32,
    /// The CSeq of the peer's last request in this dialog, if it sent any.
    pub remote_seq: Option<u32>,
}

impl Dialog {
    /// The dialog created when we answer `request` (e.g. a SUBSCRIBE) with a 2xx carrying
    /// `local_tag` (RFC 3261 §12.1.1): route set from Record-Route in order, remote target
    /// from Contact. Our CSeq space starts at `local_seq`.
    pub fn as_uas(request: &Request, local_tag: &str, local_seq: u32) -> Result<Dialog, HeaderError> {
        let h = &request.headers;
        let remote_uri = h.from()?;
        let remote_tag = remote_uri.tag().unwrap_or_default().to_owned();
        Ok(Dialog {
            id: DialogId { call_id: h.call_id()?.to_owned(), local_tag: local_tag.to_owned(), remote_tag },
            local_uri: without_tag(h.to()?),
            remote_uri: without_tag(remote_uri),
            remote_target: contact_uri(h)?,
            route_set: h.record_routes()?,
            local_seq,
            remote_seq: Some(h.cseq()?.seq),
        })
    }

    /// The dialog created when a 2xx answers our `request` (RFC 3261 §12.1.2): route set
    /// from the response's Record-Route reversed, remote target from its Contact.
    pub fn as_uac(request: &Request, response: &Response) -> Result<Dialog, HeaderError> {
        let (rq, rs) = (&request.headers, &response.headers);
        let local_uri = rq.from()?;
        let local_tag = local_uri.tag().unwrap_or_default().to_owned();
        let remote_uri = rs.to()?;
        let remote_tag = remote_uri.tag().unwrap_or_default().to_owned();
        let mut route_set = rs.record_routes()?;
        route_set.reverse();
        Ok(Dialog {
            id: DialogId { call_id: rq.call_id()?.to_owned(), local_tag, remote_tag },
            local_uri: without_tag(local_uri),
            remote_uri: without_tag(remote_uri),
            remote_target: contact_uri(rs)?,
            route_set,
            local_seq: rq.cseq()?.seq,
            remote_seq: None,
        })
    }

    /// Checks and records the CSeq of an incoming in-dialog request (RFC 3261 §12.2.2).
    pub fn accept_remote_cseq(&mut self, seq: u32) -> Result<(), CSeqOutOfOrder> {
        if let Some(last) = self.remote_seq.filter(|last| seq <= *last) {
            return Err(CSeqOutOfOrder { got: seq, last });
        }
        self.remote_seq = Some(seq);
        Ok(())
    }

    /// Builds our next in-dialog request (RFC 3261 §12.2.1.1) with a fresh CSeq: Request-URI
    /// and Route from the route set and remote target (loose or strict routing), From/To
    /// with tags, Call-ID, CSeq and Max-Forwards. The caller adds Via, Contact and body.
    pub fn request(&mut self, method: Method) -> Request {
        self.local_seq = self.local_seq.wrapping_add(1) & 0x7fff_ffff;
        let (uri, routes) = self.routing();
        let mut req = Request::new(method.clone(), uri);
        for route in routes {
            req.headers.push(HeaderName::Route, route);
        }
        // The stored addresses have no tag, so the tag goes last (RFC 3261 §20.20, §20.39).
        let from = format!("{};tag={}", self.local_uri, self.id.local_tag);
        let to = if self.id.remote_tag.is_empty() {
            self.remote_uri.clone()
        } else {
            format!("{};tag={}", self.remote_uri, self.id.remote_tag)
        };
        req.headers.push(HeaderName::From, from);
        req.headers.push(HeaderName::To, to);
        req.headers.push(HeaderName::CallId, self.id.call_id.clone());
        req.headers.push(HeaderName::CSeq, format!("{} {}", self.local_seq, method));
        req.headers.push(HeaderName::MaxForwards, "70");
        req
    }

    /// Where the next request is physically sent: the first route, or the remote target
    /// when there is no route set (RFC 3261 §8.1.2).
    pub fn next_hop(&self) -> &Uri {
        self.route_set.first().map_or(&self.remote_target, |r| &r.uri)
    }

    fn routing(&self) -> (Uri, Vec<String>) {
        let routes = self.route_set.iter().map(ToString::to_string);
        match self.route_set.first() {
            // Strict routing (first route lacks ;lr): the first route becomes the
            // Request-URI and the remote target goes last in Route.
            Some(first) if !first.uri.as_sip().is_some_and(|u| u.params.contains("lr")) => {
                let mut rest: Vec<String> = routes.skip(1).collect();
                rest.push(NameAddr::new(self.remote_target.clone()).to_string());
                (first.uri.clone(), rest)
            }
            _ => (self.remote_target.clone(), routes.collect()),
        }
    }
}

/// A From or To address as a dialog keeps it: without its tag, as header text.
pub fn without_tag(mut address: NameAddr) -> String {
    address.params.remove("tag");
    address.to_string()
}

fn contact_uri(h: &crate::header::Headers) -> Result<Uri, HeaderError> {
    match h.contacts()? {
        crate::header::Contacts::List(list) if !list.is_empty() => Ok(list[0].uri.clone()),
        _ => Err(HeaderError { header: HeaderName::Contact, reason: "missing" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::parse::parse_message;

    fn subscribe(extra: &str) -> Request {
        let raw = format!(
            "SUBSCRIBE sip:1001@pbx SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK1\r\n\
             From: \"Bob\" <sip:1002@pbx>;tag=ft\r\nTo: <sip:1001@pbx>\r\nCall-ID: c1\r\nCSeq: 7 SUBSCRIBE\r\n\
             Contact: <sip:1002@192.0.2.5:5062>\r\n{extra}\r\n"
        );
        match parse_message(raw.as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    #[test]
    fn uas_dialog_with_loose_routes() {
        let req = subscribe("Record-Route: <sip:p1;lr>, <sip:p2;lr>\r\n");
        let mut d = Dialog::as_uas(&req, "ours", 100).unwrap();
        assert_eq!(d.id, DialogId { call_id: "c1".into(), local_tag: "ours".into(), remote_tag: "ft".into() });
        assert_eq!(d.next_hop().to_string(), "sip:p1;lr");
        let notify = d.request(Method::Notify);
        assert_eq!(notify.uri.to_string(), "sip:1002@192.0.2.5:5062");
        assert_eq!(notify.headers.get_all(&HeaderName::Route).collect::<Vec<_>>(), vec!["<sip:p1;lr>", "<sip:p2;lr>"]);
        assert_eq!(notify.headers.cseq().unwrap().seq, 101);
        assert_eq!(notify.headers.from().unwrap().tag(), Some("ours"));
        assert_eq!(notify.headers.to().unwrap().tag(), Some("ft"));
        assert_eq!(d.request(Method::Notify).headers.cseq().unwrap().seq, 102);
    }

    #[test]
    fn strict_route_becomes_request_uri() {
        let req = subscribe("Record-Route: <sip:strict.example.com>\r\n");
        let mut d = Dialog::as_uas(&req, "ours", 1).unwrap();
        let notify = d.request(Method::Notify);
        assert_eq!(notify.uri.to_string(), "sip:strict.example.com");
        assert_eq!(notify.headers.get(&HeaderName::Route), Some("<sip:1002@192.0.2.5:5062>"));
    }

    #[test]
    fn remote_cseq_must_increase() {
        let mut d = Dialog::as_uas(&subscribe(""), "ours", 1).unwrap();
        assert_eq!(d.accept_remote_cseq(7), Err(CSeqOutOfOrder { got: 7, last: 7 }));
        assert!(d.accept_remote_cseq(8).is_ok());
        assert!(d.accept_remote_cseq(3).is_err());
    }

    #[test]
    fn uas_dialog_needs_contact() {
        let raw = "SUBSCRIBE sip:1001@pbx SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 SUBSCRIBE\r\n\r\n";
        let Message::Request(req) = parse_message(raw.as_bytes()).unwrap() else { panic!() };
        assert_eq!(Dialog::as_uas(&req, "t", 1).unwrap_err().header, HeaderName::Contact);
    }
}
