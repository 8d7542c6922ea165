//! Out-of-dialog NOTIFYs to registered phones: message-waiting for phones that do not
//! subscribe to it (many desk phones expect the PBX to push MWI), and `check-sync` asking a
//! phone to resynchronise or reboot. Nobody waits for their outcome. MWI bodies follow the
//! phone's device profile as a subscription of its would.

use std::time::Instant;

use sip_proto::transaction::ClientKey;
use sip_proto::{HeaderName, Method, Request, Uri};

use crate::bodies::Format;
use crate::bodies::mwi::{self, UrgentCounts};
use crate::engine::Engine;
use crate::outgoing::Purpose;
use crate::peer::Peer;
use crate::profiles::{self, Subscriber};
use crate::watching::host_text;

impl Engine {
    /// Pushes the entity's message counts to each registered contact that has no MWI
    /// subscription from the same address.
    pub(crate) fn unsolicited_mwi(&mut self, entity_key: &str, now: Instant) {
        let counts = self.entities.get(entity_key).and_then(|e| e.voicemail).unwrap_or_default();
        let subscribed: Vec<_> = self
            .subscriptions
            .of_entity(entity_key)
            .into_iter()
            .filter_map(|id| self.subscriptions.get(id))
            .filter(|s| s.format == Format::MessageSummary)
            .map(|s| s.peer.addr)
            .collect();
        // Each phone's device profile, chosen as for a subscription it would have made:
        // the one it registered from, with the User-Agent it registered with.
        let profiles = &self.config.profiles;
        let targets: Vec<(Uri, Peer, UrgentCounts)> = self
            .registrations
            .of(entity_key)
            .iter()
            .filter(|b| !subscribed.contains(&b.source.addr))
            .map(|b| {
                let phone =
                    Subscriber { key: entity_key, source: b.source.addr.ip(), user_agent: b.user_agent.as_deref() };
                let urgent = profiles::select(profiles, phone)
                    .map_or(UrgentCounts::Parenthesized, |p| profiles[p].mwi_urgent_counts);
                (b.contact.uri.clone(), b.source, urgent)
            })
            .collect();
        for (target, peer, urgent) in targets {
            let body = mwi::write(&format!("sip:{entity_key}"), &counts, urgent);
            self.send_unsolicited(entity_key, target, peer, "message-summary", Some(&body), now);
        }
    }

    /// Sends `Event: check-sync` to each registered contact of the entity.
    pub(crate) fn unsolicited_check_sync(&mut self, entity_key: &str, now: Instant) {
        let targets: Vec<(Uri, Peer)> =
            self.registrations.of(entity_key).iter().map(|b| (b.contact.uri.clone(), b.source)).collect();
        for (target, peer) in targets {
            self.send_unsolicited(entity_key, target, peer, "check-sync", None, now);
        }
    }

    fn send_unsolicited(
        &mut self,
        entity: &str,
        target: Uri,
        peer: Peer,
        event: &str,
        body: Option<&str>,
        now: Instant,
    ) {
        let branch = self.ids.branch();
        let tag = self.ids.token();
        let host = if peer.local.ip().is_unspecified() {
            entity.rsplit_once('@').map_or(entity, |(_, h)| h).to_owned()
        } else {
            host_text(peer)
        };
        let mut req = Request::new(Method::Notify, target);
        let h = &mut req.headers;
        h.push(HeaderName::Via, peer.via(&host, &branch));
        h.push(HeaderName::MaxForwards, "70");
        h.push(HeaderName::From, format!("<sip:{entity}>;tag={tag}"));
        h.push(HeaderName::To, format!("<sip:{entity}>"));
        h.push(HeaderName::CallId, format!("{}@{host}", self.ids.token()));
        h.push(HeaderName::CSeq, "1 NOTIFY");
        h.push(HeaderName::Contact, peer.contact(None, &host));
        h.push(HeaderName::Event, event);
        // What the original sent, and what the phones it served accept.
        h.push(HeaderName::SubscriptionState, "terminated;reason=noresource");
        h.push(HeaderName::UserAgent, self.config.server_name.clone());
        if let Some(body) = body {
            h.push(HeaderName::ContentType, Format::MessageSummary.content_type());
            req.body = body.to_owned().into();
        }
        self.stats.unsolicited_notifies += 1;
        let key = ClientKey { branch, method: Method::Notify.to_string() };
        self.send_request(key, req.encode(), peer, Purpose::Unsolicited, now);
    }
}
