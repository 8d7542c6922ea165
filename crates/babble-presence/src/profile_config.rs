//! `[[profiles]]` in the configuration file: device profiles of the operator's own, tried
//! before the built-in ones (so one with a built-in's `name` or User-Agent replaces it), and
//! the accounts and addresses they are assigned to whatever the phone's User-Agent.

use std::net::IpAddr;

use ipnet::IpNet;
use presence_core::EntityKey;
use presence_core::bodies::Format;
use presence_core::bodies::mwi::UrgentCounts;
use presence_core::profiles::{self, DeviceProfile, ShownCall};
use serde::Deserialize;

use crate::config::ConfigError;

/// One `[[profiles]]` entry.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProfileEntry {
    /// Its name, shown in `GET /api/v1/subscriptions`.
    pub name: String,
    /// Case-insensitive pieces of `User-Agent` that select it.
    #[serde(default)]
    pub user_agents: Vec<String>,
    /// Subscribers (`user@host`) that get it whatever their User-Agent.
    #[serde(default)]
    pub subscribers: Vec<String>,
    /// Source addresses or networks (`192.0.2.7`, `10.1.0.0/16`) whose subscriptions get it
    /// whatever their User-Agent.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// 200, or 202 for devices that expect RFC 3265's answer.
    #[serde(default = "ok")]
    pub subscribe_status: u16,
    /// At most one dialog per dialog-info document (the ringing one first).
    #[serde(default)]
    pub single_dialog: bool,
    /// `ringing` (default) or `answered`: the call a single-dialog document shows.
    #[serde(default)]
    pub single_dialog_shows: ShownCallEntry,
    /// A terminated dummy dialog while idle instead of an empty document.
    #[serde(default)]
    pub idle_dummy_dialog: bool,
    /// Calls the entity places are shown confirmed while they ring.
    #[serde(default)]
    pub caller_confirmed: bool,
    /// Dialogs carry the remote target `sip:<prefix><entity>` for directed pickup (`"**"`).
    #[serde(default)]
    pub pickup_prefix: Option<String>,
    /// At least this many milliseconds between state NOTIFYs (0: no limit).
    #[serde(default)]
    pub min_notify_interval_ms: u32,
    /// For its list subscriptions, how long a member's change waits for others, in
    /// milliseconds, instead of the list's `batch_interval_ms`.
    #[serde(default)]
    pub list_batch_interval_ms: Option<u32>,
    /// Dialogs name the remote party (`<remote><identity>`); off leaves only its target.
    #[serde(default = "yes")]
    pub remote_identity: bool,
    /// PIDF notes say `Ringing` while a call to the entity rings.
    #[serde(default)]
    pub ringing_note: bool,
    /// `pidf` or `xpidf`: the presence format sent whenever the phone accepts it.
    #[serde(default)]
    pub presence_format: Option<PresenceFormat>,
    /// How MWI bodies write the urgent counts: `parenthesized` (RFC 3842), `bare`, `omitted`.
    #[serde(default)]
    pub mwi_urgent_counts: UrgentCountsEntry,
    /// The first NOTIFY waits while it would be empty (no voicemail report yet).
    #[serde(default)]
    pub hold_empty_initial_notify: bool,
    /// NOTIFY timeouts in a row over UDP before dropping the subscription (default: the
    /// server's `notifier.udp_notify_failures`).
    #[serde(default)]
    pub udp_notify_failures: Option<u8>,
    /// In-dialog SUBSCRIBE refreshes are challenged again when SUBSCRIBE needs credentials.
    #[serde(default = "yes")]
    pub challenge_refreshes: bool,
}

/// `single_dialog_shows`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ShownCallEntry {
    /// A ringing call first.
    #[default]
    Ringing,
    /// An answered call first.
    Answered,
}

/// `presence_format`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PresenceFormat {
    /// `application/pidf+xml`.
    Pidf,
    /// `application/xpidf+xml`.
    Xpidf,
}

/// `mwi_urgent_counts`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UrgentCountsEntry {
    /// `Voice-Message: 2/8 (0/2)`.
    #[default]
    Parenthesized,
    /// `Voice-Message: 2/8 0/2`.
    Bare,
    /// `Voice-Message: 2/8`.
    Omitted,
}

/// An address or network; a bare address is a network of one.
pub(crate) fn network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

fn ok() -> u16 {
    200
}

fn yes() -> bool {
    true
}

/// Checks what serde cannot.
pub(crate) fn validate(entries: &[ProfileEntry]) -> Result<(), ConfigError> {
    for entry in entries {
        if ![200, 202].contains(&entry.subscribe_status) {
            return Err(ConfigError::Invalid(format!("profile {}: subscribe_status must be 200 or 202", entry.name)));
        }
        if entry.user_agents.iter().any(String::is_empty) {
            return Err(ConfigError::Invalid(format!(
                "profile {}: an empty user_agents piece matches everyone",
                entry.name
            )));
        }
        if let Some(bad) = entry.addresses.iter().find(|a| network(a).is_none()) {
            return Err(ConfigError::Invalid(format!(
                "profile {}: {bad:?} is neither an address nor a network",
                entry.name
            )));
        }
        // The prefix goes into the user part of a SIP URI (RFC 3261 §25.1 `user`): unreserved
        // and user-unreserved characters only, so the remote target stays a valid URI.
        let user_char = |c: char| c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/".contains(c);
        if entry.pickup_prefix.as_deref().is_some_and(|p| p.is_empty() || !p.chars().all(user_char)) {
            return Err(ConfigError::Invalid(format!(
                "profile {}: pickup_prefix must be characters a SIP user part may hold, like \"**\"",
                entry.name
            )));
        }
        if entry.udp_notify_failures == Some(0) {
            return Err(ConfigError::Invalid(format!(
                "profile {}: udp_notify_failures must be at least 1",
                entry.name
            )));
        }
    }
    Ok(())
}

/// The engine's profiles: the configured ones, then the built-in ones not replaced by name.
/// `entity_key` writes subscribers as the engine keys entities.
pub(crate) fn engine_profiles(entries: &[ProfileEntry], entity_key: impl Fn(&str) -> EntityKey) -> Vec<DeviceProfile> {
    let configured = entries.iter().map(|e| DeviceProfile {
        name: e.name.clone(),
        user_agents: e.user_agents.clone(),
        subscribers: e.subscribers.iter().map(|s| entity_key(s)).collect(),
        addresses: e.addresses.iter().filter_map(|a| network(a)).collect(),
        subscribe_status: e.subscribe_status,
        single_dialog: e.single_dialog,
        single_dialog_shows: match e.single_dialog_shows {
            ShownCallEntry::Ringing => ShownCall::Ringing,
            ShownCallEntry::Answered => ShownCall::Answered,
        },
        idle_dummy_dialog: e.idle_dummy_dialog,
        caller_confirmed: e.caller_confirmed,
        pickup_prefix: e.pickup_prefix.clone(),
        min_notify_interval_ms: e.min_notify_interval_ms,
        list_batch_interval_ms: e.list_batch_interval_ms,
        remote_identity: e.remote_identity,
        ringing_note: e.ringing_note,
        presence_format: e.presence_format.map(|f| match f {
            PresenceFormat::Pidf => Format::Pidf,
            PresenceFormat::Xpidf => Format::Xpidf,
        }),
        mwi_urgent_counts: match e.mwi_urgent_counts {
            UrgentCountsEntry::Parenthesized => UrgentCounts::Parenthesized,
            UrgentCountsEntry::Bare => UrgentCounts::Bare,
            UrgentCountsEntry::Omitted => UrgentCounts::Omitted,
        },
        hold_empty_initial_notify: e.hold_empty_initial_notify,
        udp_notify_failures: e.udp_notify_failures,
        challenge_refreshes: e.challenge_refreshes,
    });
    let builtin = profiles::builtin().into_iter().filter(|b| entries.iter().all(|e| e.name != b.name));
    configured.chain(builtin).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_profiles_come_first_and_replace_builtins_by_name() {
        // An entry as the file gives it: the serde defaults for everything else.
        let entry = |name: &str, status: u16| -> ProfileEntry {
            toml::from_str(&format!("name = \"{name}\"\nuser_agents = [\"Acme\"]\nsubscribe_status = {status}\n"))
                .unwrap()
        };
        let keys = presence_core::EngineConfig::default();
        let profiles = engine_profiles(&[entry("acme", 202), entry("bria", 200)], |s| keys.entity_key(s));
        let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names[..3], ["acme", "bria", "linksys-spa962"]);
        assert_eq!(names.iter().filter(|n| **n == "bria").count(), 1, "the configured bria replaced the built-in");
        assert_eq!(names.len(), 1 + profiles::builtin().len());
        assert!(validate(&[entry("odd", 204)]).is_err());
        assert!(validate(&[ProfileEntry { user_agents: vec![String::new()], ..entry("everyone", 200) }]).is_err());
        assert!(validate(&[entry("fine", 202)]).is_ok());
        assert!(validate(&[ProfileEntry { addresses: vec!["10.0.0.0/33".into()], ..entry("net", 200) }]).is_err());
        assert!(validate(&[ProfileEntry { addresses: vec!["10.0.0.7".into()], ..entry("one", 200) }]).is_ok());
        assert!(validate(&[ProfileEntry { udp_notify_failures: Some(0), ..entry("never", 200) }]).is_err());
        assert!(validate(&[ProfileEntry { pickup_prefix: Some("**".into()), ..entry("stars", 200) }]).is_ok());
        assert!(validate(&[ProfileEntry { pickup_prefix: Some("* *".into()), ..entry("space", 200) }]).is_err());
        assert!(validate(&[ProfileEntry { pickup_prefix: Some("<".into()), ..entry("angle", 200) }]).is_err());
    }

    #[test]
    fn a_profiles_table_in_the_file_reaches_the_engine() {
        let config: crate::config::Config = toml::from_str(
            "[notifier.domain_aliases]\n\"10.0.0.5\" = \"pbx.example.com\"\n\
             [[profiles]]\nname = \"desk\"\nuser_agents = [\"Desk\"]\nsubscribe_status = 202\nsingle_dialog = true\nsingle_dialog_shows = \"answered\"\n\
             subscribers = [\"sip:1003@10.0.0.5\"]\naddresses = [\"192.0.2.0/24\"]\npresence_format = \"xpidf\"\n\
             mwi_urgent_counts = \"bare\"\nhold_empty_initial_notify = true\nudp_notify_failures = 6\n\
             remote_identity = false\nringing_note = true\nchallenge_refreshes = false\n",
        )
        .unwrap();
        config.validate().unwrap();
        let profiles = config.engine(1).profiles;
        let desk = &profiles[0];
        assert_eq!((desk.name.as_str(), desk.subscribe_status, desk.single_dialog), ("desk", 202, true));
        assert_eq!(desk.single_dialog_shows, ShownCall::Answered);
        let subscribers: Vec<&str> = desk.subscribers.iter().map(|k| k.as_str()).collect();
        assert_eq!(subscribers, ["1003@pbx.example.com"], "keyed as the engine keys From");
        assert_eq!(desk.addresses, vec!["192.0.2.0/24".parse::<IpNet>().unwrap()]);
        assert_eq!(desk.presence_format, Some(Format::Xpidf));
        assert_eq!(desk.mwi_urgent_counts, UrgentCounts::Bare);
        assert!(desk.hold_empty_initial_notify);
        assert_eq!(desk.udp_notify_failures, Some(6));
        assert!(!desk.remote_identity && desk.ringing_note && !desk.challenge_refreshes);
    }
}
