//! `[[profiles]]` in the configuration file: device profiles of the operator's own, tried
//! before the built-in ones (so one with a built-in's `name` or User-Agent replaces it).

use presence_core::profiles::{self, DeviceProfile};
use serde::Deserialize;

use crate::config::ConfigError;

/// One `[[profiles]]` entry.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProfileEntry {
    /// Its name, shown in `GET /api/v1/subscriptions`.
    pub name: String,
    /// Case-insensitive pieces of `User-Agent` that select it.
    pub user_agents: Vec<String>,
    /// 200, or 202 for devices that expect RFC 3265's answer.
    #[serde(default = "ok")]
    pub subscribe_status: u16,
    /// At most one dialog per dialog-info document (the ringing one first).
    #[serde(default)]
    pub single_dialog: bool,
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
}

fn ok() -> u16 {
    200
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
    }
    Ok(())
}

/// The engine's profiles: the configured ones, then the built-in ones not replaced by name.
pub(crate) fn engine_profiles(entries: &[ProfileEntry]) -> Vec<DeviceProfile> {
    let configured = entries.iter().map(|e| DeviceProfile {
        name: e.name.clone(),
        user_agents: e.user_agents.clone(),
        subscribe_status: e.subscribe_status,
        single_dialog: e.single_dialog,
        idle_dummy_dialog: e.idle_dummy_dialog,
        caller_confirmed: e.caller_confirmed,
        pickup_prefix: e.pickup_prefix.clone(),
        min_notify_interval_ms: e.min_notify_interval_ms,
    });
    let builtin = profiles::builtin().into_iter().filter(|b| entries.iter().all(|e| e.name != b.name));
    configured.chain(builtin).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_profiles_come_first_and_replace_builtins_by_name() {
        let entry = |name: &str, status| ProfileEntry {
            name: name.into(),
            user_agents: vec!["Acme".into()],
            subscribe_status: status,
            single_dialog: false,
            idle_dummy_dialog: false,
            caller_confirmed: false,
            pickup_prefix: None,
            min_notify_interval_ms: 0,
        };
        let profiles = engine_profiles(&[entry("acme", 202), entry("bria", 200)]);
        let names: Vec<&str> = profiles.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["acme", "bria", "linksys-spa962", "zoiper"]);
        assert!(validate(&[entry("odd", 204)]).is_err());
        assert!(validate(&[ProfileEntry { user_agents: vec![String::new()], ..entry("everyone", 200) }]).is_err());
        assert!(validate(&[entry("fine", 202)]).is_ok());
    }

    #[test]
    fn a_profiles_table_in_the_file_reaches_the_engine() {
        let config: crate::config::Config = toml::from_str(
            "[[profiles]]\nname = \"desk\"\nuser_agents = [\"Desk\"]\nsubscribe_status = 202\nsingle_dialog = true\n",
        )
        .unwrap();
        config.validate().unwrap();
        let profiles = config.engine(1).profiles;
        assert_eq!(
            (profiles[0].name.as_str(), profiles[0].subscribe_status, profiles[0].single_dialog),
            ("desk", 202, true)
        );
    }
}
