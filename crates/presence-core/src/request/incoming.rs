//! A request decoded once: the headers that identify it (From, To, Call-ID, CSeq) and every
//! optional header a component reads, typed, so that components do not parse those again
//! and never treat a header that does not parse as absent. A request with such a header is
//! refused with 400 naming it (RFC 3261 §8.2.6.2 lets a UAS answer what it cannot read).

use sip_proto::dialog::{Dialog, DialogId, without_tag};
use sip_proto::header::{AuthParams, CSeq, Contacts, Event, HeaderError, MediaType, NameAddr, SubscriptionState};
use sip_proto::{HeaderName, Method, Request, Response};

/// A request whose headers are decoded.
#[derive(Clone, Debug)]
pub(crate) struct Incoming {
    /// The request as received (its URI, body, and the headers a response echoes).
    pub(crate) request: Request,
    pub(crate) from: NameAddr,
    pub(crate) to: NameAddr,
    pub(crate) call_id: String,
    pub(crate) cseq: CSeq,
    /// The dialog an in-dialog request names (its To carries our tag, RFC 3261 §12.2.2).
    pub(crate) dialog: Option<DialogId>,
    pub(crate) event: Option<Event>,
    pub(crate) expires: Option<u32>,
    pub(crate) accept: Option<Vec<MediaType>>,
    pub(crate) contacts: Contacts,
    pub(crate) record_routes: Vec<NameAddr>,
    pub(crate) content_type: Option<MediaType>,
    pub(crate) sip_if_match: Option<String>,
    pub(crate) subscription_state: Option<SubscriptionState>,
    pub(crate) allow: Option<Vec<Method>>,
    pub(crate) require: Vec<String>,
    pub(crate) supported: Vec<String>,
    /// Path values (RFC 3327), the proxy nearest us first.
    pub(crate) paths: Vec<NameAddr>,
    /// Authorization and Proxy-Authorization credentials, in that order.
    pub(crate) credentials: Vec<AuthParams>,
    pub(crate) user_agent: Option<String>,
}

impl Incoming {
    /// Decodes `request`'s headers; the 400 naming the first that does not parse otherwise.
    pub(crate) fn decode(request: Request) -> Result<Incoming, Response> {
        match Self::read(&request) {
            Ok(decoded) => Ok(decoded(request)),
            Err(e) => Err(Response::to(&request, 400).with_reason(format!("Malformed {} header", e.header))),
        }
    }

    /// Everything but the request itself, which is moved in once every header has parsed.
    fn read(request: &Request) -> Result<impl FnOnce(Request) -> Incoming + use<>, HeaderError> {
        let h = &request.headers;
        let mut credentials = h.authorization()?;
        credentials.extend(h.proxy_authorization()?);
        let (from, to, call_id, cseq) = (h.from()?, h.to()?, h.call_id()?.to_owned(), h.cseq()?);
        let dialog = to.tag().map(|local_tag| DialogId {
            call_id: call_id.clone(),
            local_tag: local_tag.to_owned(),
            remote_tag: from.tag().unwrap_or_default().to_owned(),
        });
        let (event, expires, accept) = (h.event()?, h.expires()?, h.accept()?);
        let (contacts, record_routes) = (h.contacts()?, h.record_routes()?);
        let (content_type, sip_if_match) = (h.content_type()?, h.sip_if_match()?);
        let (subscription_state, allow, require) = (h.subscription_state()?, h.allow()?, h.require()?);
        let (supported, paths) = (h.supported()?, h.paths()?);
        let user_agent = h.get(&HeaderName::UserAgent).map(str::to_owned);
        Ok(move |request| Incoming {
            request,
            from,
            to,
            call_id,
            cseq,
            dialog,
            event,
            expires,
            accept,
            contacts,
            record_routes,
            content_type,
            sip_if_match,
            subscription_state,
            allow,
            require,
            supported,
            paths,
            credentials,
            user_agent,
        })
    }

    /// The dialog a 2xx carrying `local_tag` creates (RFC 3261 §12.1.1): route set from
    /// Record-Route in order, remote target from the first Contact; our CSeq space starts at
    /// `local_seq`. A request without a Contact cannot make one.
    pub(crate) fn uas_dialog(&self, local_tag: &str, local_seq: u32) -> Result<Dialog, HeaderError> {
        let target = match &self.contacts {
            Contacts::List(contacts) => contacts.first(),
            Contacts::Wildcard => None,
        };
        let Some(target) = target else { return Err(HeaderError { header: HeaderName::Contact, reason: "missing" }) };
        let remote_tag = self.from.tag().unwrap_or_default().to_owned();
        Ok(Dialog {
            id: DialogId { call_id: self.call_id.clone(), local_tag: local_tag.to_owned(), remote_tag },
            local_uri: without_tag(self.to.clone()),
            remote_uri: without_tag(self.from.clone()),
            remote_target: target.uri.clone(),
            route_set: self.record_routes.clone(),
            local_seq,
            remote_seq: Some(self.cseq.seq),
        })
    }

    /// A response to this request with `status` (RFC 3261 §8.2.6).
    pub(crate) fn answer(&self, status: u16) -> Response {
        Response::to(&self.request, status)
    }

    /// The body's media type without parameters (`""` when there is none).
    pub(crate) fn content_essence(&self) -> String {
        self.content_type.as_ref().map(MediaType::essence).unwrap_or_default()
    }

    pub(crate) fn method(&self) -> &Method {
        &self.request.method
    }
}
