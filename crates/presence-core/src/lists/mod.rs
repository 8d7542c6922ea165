//! Resource lists (RFC 4662): owns the lists that phones subscribe to once instead of once per
//! member, as the configuration defines them, and which lists each entity is a member of, so
//! a member's change reaches its lists' subscriptions at the cost of the lists it is in. The
//! subscriptions themselves are the notifier's; what their NOTIFYs carry is `packages/rlmi.rs`.

use std::collections::HashMap;

use crate::config::EngineConfig;
use crate::entity_key::EntityKey;
use crate::packages::Package;

/// A list as the configuration defines it (`[[lists]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListConfig {
    /// The list's URI, an entity name phones subscribe to (`sip:blf-sales@pbx.example.com`).
    pub uri: String,
    /// A name for people (RLMI `<name>`).
    pub name: Option<String>,
    /// The members, in the order phones show them: SIP URIs of entities.
    pub members: Vec<String>,
    /// The event packages it serves (`dialog`, `presence`).
    pub events: Vec<String>,
    /// How long a change to one member waits for changes to others, so that they go in one
    /// NOTIFY, in milliseconds (0: sent at once).
    pub batch_interval_ms: u32,
}

/// One list, keyed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct List {
    pub(crate) name: Option<String>,
    pub(crate) members: Vec<EntityKey>,
    pub(crate) packages: Vec<Package>,
    pub(crate) batch_interval_ms: u32,
}

/// The lists component.
#[derive(Debug, Default)]
pub(crate) struct Lists {
    by_uri: HashMap<EntityKey, List>,
    /// For each member, the lists it is in.
    containing: HashMap<EntityKey, Vec<EntityKey>>,
}

impl Lists {
    /// The lists `config` defines, keyed as it keys entities. A package name it does not
    /// serve is left out (the shell's configuration check refuses one).
    pub(crate) fn new(config: &EngineConfig) -> Self {
        let mut lists = Lists::default();
        for defined in &config.lists {
            let uri = config.entity_key(&defined.uri);
            let members: Vec<EntityKey> = defined.members.iter().map(|m| config.watched_key(m)).collect();
            for member in &members {
                let of = lists.containing.entry(member.clone()).or_default();
                if !of.contains(&uri) {
                    of.push(uri.clone());
                }
            }
            let packages = defined.events.iter().filter_map(|e| Package::from_event(e)).collect();
            let batch_interval_ms = defined.batch_interval_ms;
            lists.by_uri.insert(uri, List { name: defined.name.clone(), members, packages, batch_interval_ms });
        }
        lists
    }

    /// The list named `uri`, if it is one.
    pub(crate) fn get(&self, uri: &EntityKey) -> Option<&List> {
        self.by_uri.get(uri)
    }

    /// The lists `member` is in.
    pub(crate) fn containing(&self, member: &EntityKey) -> &[EntityKey] {
        self.containing.get(member).map_or(&[], Vec::as_slice)
    }
}

/// Why a configured list is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("list {uri:?}: {problem}")]
pub struct ListError {
    uri: String,
    problem: String,
}

/// Most members one list may have: a full-state NOTIFY carries a document per member and has
/// to fit in a datagram.
pub const MAX_MEMBERS: usize = 100;

/// Checks the configured lists: each a distinct URI, members that are entities and not lists
/// (nested lists are not served yet), at most [`MAX_MEMBERS`], packages it serves.
pub fn check(config: &EngineConfig) -> Result<(), ListError> {
    let uris: Vec<EntityKey> = config.lists.iter().map(|l| config.entity_key(&l.uri)).collect();
    for (i, list) in config.lists.iter().enumerate() {
        let refused = |problem: String| Err(ListError { uri: list.uri.clone(), problem });
        if uris[..i].contains(&uris[i]) {
            return refused("defined twice".into());
        }
        if list.members.len() > MAX_MEMBERS {
            return refused(format!("more than {MAX_MEMBERS} members"));
        }
        if let Some(nested) = list.members.iter().find(|m| uris.contains(&config.watched_key(m))) {
            return refused(format!("member {nested:?} is a list: nested lists are not served yet"));
        }
        if let Some(bad) = list.members.iter().find(|m| config.entity_key(m).user().is_none()) {
            return refused(format!("member {bad:?} is not user@host"));
        }
        let served = |e: &String| matches!(Package::from_event(e), Some(Package::Dialog | Package::Presence));
        if let Some(bad) = list.events.iter().find(|e| !served(e)) {
            return refused(format!("event {bad:?}: a list serves dialog and presence"));
        }
    }
    Ok(())
}
