//! A list subscription's NOTIFY (RFC 4662 §5): a `multipart/related` body whose root is the
//! list document, with each resource's state as a part, written in the subscription's format
//! by the package that writes it for a single watcher. The first NOTIFY, and one after a
//! refresh or a loss, is full state; later ones are partial, with only the members that
//! changed since the subscription's last NOTIFY, and none is sent when none changed.

use crate::bodies::Format;
use crate::bodies::rlmi::{self, Part, Resource};
use crate::entities::{Entities, RenderOptions};
use crate::entity_key::EntityKey;
use crate::lists::List;

use super::{Body, Watcher, render};

/// What one list NOTIFY is for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ListNotify<'a> {
    pub(crate) uri: &'a EntityKey,
    pub(crate) list: &'a List,
    pub(crate) format: Format,
    /// Makes the Content-IDs of this subscription's parts unique (its To tag).
    pub(crate) tag: &'a str,
    pub(crate) host: &'a str,
}

/// The change number a member's part shows (0 for an entity not known).
fn now_of(entities: &Entities, member: &EntityKey) -> u64 {
    entities.get(member).map_or(0, |e| e.change() + 1)
}

/// The body for `n`, given what each member's last part showed (`sent`, by member; all `None`
/// or the wrong length: full state), which it updates; `None` when no member changed.
pub(crate) fn list_body(
    n: ListNotify<'_>,
    entities: &Entities,
    watcher: Watcher<'_>,
    sent: &mut Box<[Option<u64>]>,
    options: RenderOptions,
) -> Option<Body> {
    let members = &n.list.members;
    let full = sent.len() != members.len() || sent.iter().all(Option::is_none);
    if sent.len() != members.len() {
        *sent = vec![None; members.len()].into_boxed_slice();
    }
    let changed: Vec<usize> =
        (0..members.len()).filter(|&i| full || sent[i] != Some(now_of(entities, &members[i]))).collect();
    if !full && changed.is_empty() {
        return None;
    }
    let version = watcher.version;
    let uris: Vec<String> = changed.iter().map(|&i| members[i].uri()).collect();
    let instances: Vec<String> = changed.iter().map(|i| (i + 1).to_string()).collect();
    let cids: Vec<String> = changed.iter().map(|i| format!("{}.{version}.{}@{}", i + 1, n.tag, n.host)).collect();
    let mut documents = Vec::with_capacity(changed.len());
    for &i in &changed {
        let member = &members[i];
        // Ended calls are shown once, to a part that showed them live.
        let seen = sent[i].unwrap_or(0);
        let part = Watcher { seen_change: seen, features_sent: None, ..watcher };
        documents.push(render(&member.uri(), entities.get(member), n.format, part, options).map(|b| b.text));
        sent[i] = Some(now_of(entities, member));
    }
    let resources: Vec<Resource<'_>> = (0..changed.len())
        .map(|k| Resource {
            uri: &uris[k],
            instance: &instances[k],
            cid: documents[k].as_ref().map(|_| cids[k].as_str()),
        })
        .collect();
    let root = format!("rlmi.{version}.{}@{}", n.tag, n.host);
    let list_doc = rlmi::write(&n.uri.uri(), n.list.name.as_deref(), version, full, &resources);
    let mut parts = vec![Part { cid: &root, content_type: rlmi::CONTENT_TYPE, text: &list_doc }];
    for k in 0..changed.len() {
        if let Some(text) = &documents[k] {
            parts.push(Part { cid: &cids[k], content_type: n.format.content_type(), text });
        }
    }
    let related = rlmi::related(&parts);
    Some(Body { text: related.text, calls_left_out: 0, content_type: Some(related.content_type) })
}
