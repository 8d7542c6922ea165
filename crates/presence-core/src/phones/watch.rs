//! One subscription we hold to a registered phone, and the table of them, found by the
//! phone's NOTIFYs (Call-ID and our tag), by the binding they watch, and by id.

use std::collections::HashMap;

use sip_proto::dialog::Dialog;
use sip_proto::header::NameAddr;
use sip_proto::{Request, Uri};

use crate::entities::Status;
use crate::entity_key::EntityKey;
use crate::ids::WatchId;
use crate::packages::Package;
use crate::peer::Peer;

/// One subscription we hold to a phone.
#[derive(Clone, Debug)]
pub(crate) struct Watch {
    pub(crate) entity: EntityKey,
    /// The binding's Contact, as stored with the binding.
    pub(crate) contact: String,
    /// The binding's key.
    pub(crate) binding_key: String,
    pub(crate) package: Package,
    pub(crate) peer: Peer,
    pub(crate) target: Uri,
    /// The Route of requests before the dialog exists (the binding's Path); the dialog's
    /// route set replaces it.
    pub(crate) route: Vec<NameAddr>,
    pub(crate) call_id: String,
    pub(crate) local_tag: String,
    pub(crate) our_host: String,
    /// CSeq of our last request before the dialog exists.
    pub(crate) cseq: u32,
    pub(crate) dialog: Option<Dialog>,
    pub(crate) auth_tries: u8,
    pub(crate) ending: bool,
    pub(crate) last_request: Request,
    /// What the phone last reported of its presence.
    pub(crate) reported: Option<Status>,
}

/// Every subscription we hold to phones.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    by_id: HashMap<WatchId, Watch>,
    /// (Call-ID, our tag): how a phone's NOTIFY finds its subscription.
    by_call: HashMap<(String, String), WatchId>,
    /// (address-of-record, binding key): the watches of one binding.
    by_binding: HashMap<(EntityKey, String), Vec<WatchId>>,
}

impl Watches {
    /// Adds a watch (new, or restored from storage under its old id).
    pub(crate) fn insert(&mut self, id: WatchId, watch: Watch) {
        self.by_call.insert((watch.call_id.clone(), watch.local_tag.clone()), id);
        self.by_binding.entry((watch.entity.clone(), watch.binding_key.clone())).or_default().push(id);
        self.by_id.insert(id, watch);
    }

    pub(crate) fn get(&self, id: WatchId) -> Option<&Watch> {
        self.by_id.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: WatchId) -> Option<&mut Watch> {
        self.by_id.get_mut(&id)
    }

    /// The watch a phone's NOTIFY belongs to.
    pub(crate) fn by_dialog(&self, call_id: &str, local_tag: &str) -> Option<WatchId> {
        self.by_call.get(&(call_id.to_owned(), local_tag.to_owned())).copied()
    }

    /// The watches of one binding.
    pub(crate) fn of_binding(&self, aor: &EntityKey, key: &str) -> &[WatchId] {
        self.by_binding.get(&(aor.clone(), key.to_owned())).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn remove(&mut self, id: WatchId) -> Option<Watch> {
        let w = self.by_id.remove(&id)?;
        self.by_call.remove(&(w.call_id.clone(), w.local_tag.clone()));
        let binding = (w.entity.clone(), w.binding_key.clone());
        if let Some(ids) = self.by_binding.get_mut(&binding) {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                self.by_binding.remove(&binding);
            }
        }
        Some(w)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}
