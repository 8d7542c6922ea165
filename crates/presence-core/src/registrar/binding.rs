//! One contact bound to an address-of-record, and the table of bindings per AoR, with the
//! comparison form (RFC 3261 §10.3 step 7 compares contact URIs) that finds a binding again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sip_proto::header::NameAddr;
use sip_proto::{Method, Uri};

use crate::admission::Tally;
use crate::api::{RegistrationEvent, SourceAddress};
use crate::entity_key::EntityKey;
use crate::peer::Peer;

/// One contact bound to an address-of-record.
#[derive(Clone, Debug)]
pub(crate) struct Binding {
    pub(crate) contact: NameAddr,
    /// The contact URI in comparison form.
    pub(crate) key: String,
    pub(crate) call_id: String,
    pub(crate) cseq: u32,
    pub(crate) expires_at: Instant,
    /// When the last `register` event was raised, for "refreshed past half its life".
    pub(super) announced_at: Instant,
    pub(crate) granted: u32,
    pub(crate) source: Peer,
    pub(crate) user_agent: Option<String>,
    /// Methods the contact accepts: from Allow, or Polycom's Contact `methods` parameter.
    pub(crate) allow: Vec<String>,
    /// The Path it registered through (RFC 3327 §5.3), the proxy nearest us first: the
    /// route our requests to it take.
    pub(crate) path: Vec<NameAddr>,
}

impl Binding {
    pub(crate) fn allows(&self, method: &Method) -> bool {
        self.allow.iter().any(|m| m.eq_ignore_ascii_case(method.as_str()))
    }

    /// Whether a refresh now is announced again: once past half the life it was granted.
    pub(super) fn due_for_announcement(&self, now: Instant) -> bool {
        now.duration_since(self.announced_at) >= Duration::from_secs(u64::from(self.granted) / 2)
    }

    /// The `register`/`unregister` event about this binding, listing `all` of its AoR's.
    pub(super) fn event(&self, aor: &EntityKey, all: &[Binding]) -> RegistrationEvent {
        RegistrationEvent {
            entity: aor.to_string(),
            contacts: all.iter().map(|b| b.contact.uri.to_string()).collect(),
            contact: self.contact.uri.to_string(),
            expires: self.granted,
            user_agent: self.user_agent.clone(),
            allow: self.allow.clone(),
            source: SourceAddress::of(self.source),
        }
    }
}

/// Bindings per address-of-record. Whatever adds, removes or moves a binding keeps `tally`
/// with it, for the per-source and total quotas.
#[derive(Debug, Default)]
pub(crate) struct Bindings {
    pub(super) by_aor: HashMap<EntityKey, Vec<Binding>>,
    /// Bindings per source address, and in all.
    pub(super) tally: Tally,
}

impl Bindings {
    pub(crate) fn of(&self, aor: &EntityKey) -> &[Binding] {
        self.by_aor.get(aor).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn len(&self) -> usize {
        self.tally.total()
    }

    /// Every binding with its address-of-record.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&EntityKey, &Binding)> {
        self.by_aor.iter().flat_map(|(aor, bindings)| bindings.iter().map(move |b| (aor, b)))
    }
}

/// RFC 3261 §19.1.4-style comparison form: scheme, user, lowercased host, port, transport.
pub(super) fn uri_key(uri: &Uri) -> String {
    match uri {
        Uri::Sip(u) => format!(
            "{}:{}@{}:{}:{}",
            if u.secure { "sips" } else { "sip" },
            u.user.as_deref().unwrap_or_default(),
            u.host.canonical(),
            u.port.unwrap_or(if u.secure { 5061 } else { 5060 }),
            u.params.get("transport").unwrap_or("udp").to_ascii_lowercase()
        ),
        Uri::Other { .. } => uri.to_string(),
    }
}

/// Polycom lists its methods in the Contact instead of an Allow header.
pub(super) fn methods_param(contact: &NameAddr) -> Vec<String> {
    contact.params.get("methods").map(|m| m.split(',').map(|s| s.trim().to_owned()).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_comparison_form() {
        let a = Uri::parse("sip:1001@Phone.example.com;transport=UDP").unwrap();
        let b = Uri::parse("sip:1001@phone.example.com:5060").unwrap();
        assert_eq!(uri_key(&a), uri_key(&b));
        assert_ne!(uri_key(&a), uri_key(&Uri::parse("sip:1001@phone.example.com;transport=tcp").unwrap()));
    }

    #[test]
    fn polycom_methods_parameter() {
        let c = NameAddr::parse(r#"<sip:1001@192.0.2.5>;methods="INVITE, SUBSCRIBE, NOTIFY""#).unwrap();
        assert_eq!(methods_param(&c), vec!["INVITE", "SUBSCRIBE", "NOTIFY"]);
    }
}
