//! Out-of-dialog NOTIFYs to registered phones: message-waiting for phones that do not
//! subscribe to it (many desk phones expect the PBX to push MWI), and `check-sync` asking a
//! phone to resynchronise or reboot. Owns no state, and nobody waits for their outcome. MWI
//! bodies follow the phone's device profile as a subscription of its would.

use std::net::SocketAddr;

use sip_proto::transaction::ClientKey;
use sip_proto::{HeaderName, Method, Request};

use crate::bodies::Format;
use crate::bodies::mwi::{self, MessageCounts, UrgentCounts};
use crate::client_transactions::Purpose;
use crate::context::Ctx;
use crate::entity_key::EntityKey;
use crate::profiles::{self, Subscriber};
use crate::registrar::Binding;

/// Pushes `counts` to each of `phones` (the entity's bindings) that has no MWI subscription
/// from the same address (`subscribed`).
pub(crate) fn mwi(
    entity: &EntityKey,
    counts: MessageCounts,
    phones: &[Binding],
    subscribed: &[SocketAddr],
    cx: &mut Ctx<'_>,
) {
    // Each phone's device profile, chosen as for a subscription it would have made: the one
    // it registered from, with the User-Agent it registered with.
    let profiles = &cx.config.profiles;
    let targets: Vec<(&Binding, UrgentCounts)> = phones
        .iter()
        .filter(|b| !subscribed.contains(&b.source.addr))
        .map(|b| {
            let phone = Subscriber { key: entity, source: b.source.addr.ip(), user_agent: b.user_agent.as_deref() };
            let urgent = profiles::select(profiles, phone)
                .map_or(UrgentCounts::Parenthesized, |p| profiles[p].mwi_urgent_counts);
            (b, urgent)
        })
        .collect();
    for (phone, urgent) in targets {
        let body = mwi::write(&entity.uri(), &counts, urgent);
        send(entity, phone, "message-summary", Some(&body), cx);
    }
}

/// Sends `Event: check-sync` to each of `phones` (the entity's bindings).
pub(crate) fn check_sync(entity: &EntityKey, phones: &[Binding], cx: &mut Ctx<'_>) {
    for b in phones {
        send(entity, b, "check-sync", None, cx);
    }
}

/// Sends the NOTIFY to `phone`'s contact, over the flow it registered from, through the
/// Path it registered through (RFC 3327 §5.3).
fn send(entity: &EntityKey, phone: &Binding, event: &str, body: Option<&str>, cx: &mut Ctx<'_>) {
    let peer = phone.source;
    let ids = &mut cx.fx.ids;
    let branch = ids.branch();
    let tag = ids.token();
    let host = if peer.local.ip().is_unspecified() { entity.domain().to_owned() } else { peer.local_host() };
    let mut req = Request::new(Method::Notify, phone.contact.uri.clone());
    let h = &mut req.headers;
    h.push(HeaderName::Via, peer.via(&host, &branch));
    h.push(HeaderName::MaxForwards, "70");
    for route in &phone.path {
        h.push(HeaderName::Route, route.to_string());
    }
    h.push(HeaderName::From, format!("<sip:{entity}>;tag={tag}"));
    h.push(HeaderName::To, format!("<sip:{entity}>"));
    h.push(HeaderName::CallId, format!("{}@{host}", ids.token()));
    h.push(HeaderName::CSeq, "1 NOTIFY");
    h.push(HeaderName::Contact, peer.contact(None, &host));
    h.push(HeaderName::Event, event);
    // What the original sent, and what the phones it served accept.
    h.push(HeaderName::SubscriptionState, "terminated;reason=noresource");
    h.push(HeaderName::UserAgent, cx.config.server_name.clone());
    if let Some(body) = body {
        h.push(HeaderName::ContentType, Format::MessageSummary.content_type());
        req.body = body.to_owned().into();
    }
    cx.fx.stats.unsolicited_notifies += 1;
    let key = ClientKey { branch, method: Method::Notify.to_string() };
    cx.client.send(key, req.encode(), peer, Purpose::Unsolicited, cx.config, cx.fx, cx.now);
}
