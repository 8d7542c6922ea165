//! Our subscriptions to registered phones (RFC 6665 §4.1, as subscriber): owns them. After a
//! contact that accepts SUBSCRIBE registers, we subscribe to its presence (and optionally
//! dialog state), keep the subscription refreshed, answer a digest challenge with the
//! configured credentials (`subscribe`), answer every NOTIFY and turn what the phone reports
//! into an `Update` of its entity (`notify`), and keep them across restarts (`store`). The
//! subscription ends (`Expires: 0`) when the binding goes.

mod notify;
mod store;
mod subscribe;
mod watch;

use sip_proto::Uri;
use sip_proto::header::NameAddr;

use crate::api::SourceAddress;
use crate::context::Ctx;
use crate::entities::{Source, Update};
use crate::entity_key::EntityKey;
use crate::ids::WatchId;
use crate::peer::Peer;
use crate::views::WatchView;
use watch::Watches;

/// A registered contact, as the registrar describes it for subscribing to the phone.
#[derive(Clone, Debug)]
pub(crate) struct Phone {
    /// Its address-of-record.
    pub(crate) aor: EntityKey,
    /// Its binding's key.
    pub(crate) key: String,
    /// The Contact as registered.
    pub(crate) contact: String,
    /// Where our SUBSCRIBEs are addressed.
    pub(crate) target: Uri,
    /// Where they are sent: the address and flow it registered from.
    pub(crate) peer: Peer,
    /// The Route our first SUBSCRIBE carries: the Path it registered through (RFC 3327 §5.3).
    pub(crate) route: Vec<NameAddr>,
    /// Whether it accepts SUBSCRIBE.
    pub(crate) accepts_subscribe: bool,
}

/// The component.
#[derive(Debug, Default)]
pub(crate) struct Phones {
    watches: Watches,
}

impl Phones {
    /// The phone's binding went: unsubscribes from it in every package; returns what its
    /// reports leave behind in the entity.
    pub(crate) fn unwatch(&mut self, aor: &EntityKey, key: &str, cx: &mut Ctx<'_>) -> Vec<(EntityKey, Update)> {
        let ids = self.watches.of_binding(aor, key).to_vec();
        ids.into_iter().filter_map(|id| self.stop(id, true, cx)).collect()
    }

    /// The phone's binding was refreshed from another source or connection: its watches
    /// follow it there (their dialogs go on over the new flow, RFC 5626 §6), and a package
    /// whose watch ended with the old connection is subscribed to again.
    pub(crate) fn moved(&mut self, phone: &Phone, cx: &mut Ctx<'_>) {
        for id in self.watches.of_binding(&phone.aor, &phone.key).to_vec() {
            let Some(w) = self.watches.get_mut(id).filter(|w| !w.ending) else { continue };
            (w.peer, w.contact) = (phone.peer, phone.contact.clone());
            // In a dialog, the dialog's remote target and route set stand (RFC 3261 §12.2.1.1).
            if w.dialog.is_none() {
                (w.target, w.route) = (phone.target.clone(), phone.route.clone());
            }
            self.store(id, cx.fx);
        }
        self.watch(phone, cx);
    }

    /// How many subscriptions to phones are held.
    pub(crate) fn len(&self) -> usize {
        self.watches.len()
    }

    /// Our subscriptions to the phones of `aor` whose bindings have these keys.
    pub(crate) fn views_of<'k>(&self, aor: &EntityKey, binding_keys: impl Iterator<Item = &'k str>) -> Vec<WatchView> {
        let ids = binding_keys.flat_map(|key| self.watches.of_binding(aor, key).iter().copied());
        let watches = ids.filter_map(|id| self.watches.get(id));
        watches
            .map(|w| WatchView {
                event: w.package.name(),
                contact: w.contact.clone(),
                state: match (w.ending, &w.dialog) {
                    (true, _) => "ending",
                    (false, Some(_)) => "active",
                    (false, None) => "subscribing",
                },
                reported: w.reported.as_ref().map(|r| {
                    let dnd = if r.dnd { ", dnd" } else { "" };
                    format!("{}{dnd}", r.basic.as_str())
                }),
                peer: SourceAddress::of(w.peer),
            })
            .collect()
    }

    /// Ends a watch: with `unsubscribe`, an `Expires: 0` SUBSCRIBE in its dialog first (the
    /// watch is kept to answer the final NOTIFY). What the phone reported leaves its entity;
    /// returns that update, unless the watch was already ending.
    fn stop(&mut self, id: WatchId, unsubscribe: bool, cx: &mut Ctx<'_>) -> Option<(EntityKey, Update)> {
        cx.fx.store(|_| crate::store::Change::DeleteWatch(id.0));
        let w = self.watches.get_mut(id)?;
        let keep_for_unsubscribe = unsubscribe && w.dialog.is_some() && !w.ending;
        let already_ending = w.ending;
        w.ending = true;
        let entity = w.entity.clone();
        cx.fx.set_deadline(crate::effects::TimerKey::WatchRefresh(id), None);
        if keep_for_unsubscribe {
            self.send_subscribe(id, None, cx);
        } else {
            self.watches.remove(id);
        }
        (!already_ending).then_some((entity, Update::Status(Source::Device(id), None)))
    }
}
