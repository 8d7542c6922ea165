//! Event-framework headers: `Event` (RFC 6665 §8.2.1) and `Subscription-State`
//! (RFC 6665 §8.2.3).

use std::fmt;

use crate::params::Params;

/// `Event: dialog;id=5`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The package name (`presence`, `dialog`, `message-summary`, ...), lowercased so that
    /// a phone that capitalises it (`Presence`) still names the package it means.
    pub package: String,
    /// Parameters, including `id` (RFC 6665 §8.2.1).
    pub params: Params,
}

impl Event {
    /// Parses an Event value.
    pub fn parse(s: &str) -> Result<Event, &'static str> {
        let (package, params) =
            Params::parse_token_value(s).map_err(|_| "Event type is not a token with parameters")?;
        Ok(Event { package: package.to_ascii_lowercase(), params })
    }

    /// The `id` parameter, which tells several subscriptions in one dialog apart.
    pub fn id(&self) -> Option<&str> {
        self.params.get("id")
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.package, self.params)
    }
}

/// The state named in `Subscription-State` (RFC 6665 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubState {
    /// `active`.
    Active,
    /// `pending`.
    Pending,
    /// `terminated`.
    Terminated,
    /// An extension value, kept as received.
    Other(String),
}

/// `Subscription-State: active;expires=3600`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionState {
    /// The state.
    pub state: SubState,
    /// Parameters: `expires`, `reason`, `retry-after`.
    pub params: Params,
}

impl SubscriptionState {
    /// Parses a Subscription-State value.
    pub fn parse(s: &str) -> Result<SubscriptionState, &'static str> {
        let (word, params) =
            Params::parse_token_value(s).map_err(|_| "Subscription-State is not a token with parameters")?;
        let state = match word.to_ascii_lowercase().as_str() {
            "active" => SubState::Active,
            "pending" => SubState::Pending,
            "terminated" => SubState::Terminated,
            _ => SubState::Other(word.to_owned()),
        };
        if params.contains("expires") && params.get("expires").and_then(crate::scan::parse_u32).is_none() {
            return Err("Subscription-State expires is not a number");
        }
        Ok(SubscriptionState { state, params })
    }

    /// The `expires` parameter in seconds.
    pub fn expires(&self) -> Option<u32> {
        self.params.get("expires").and_then(crate::scan::parse_u32)
    }

    /// The `reason` parameter (`timeout`, `noresource`, `deactivated`, `rejected` ...).
    pub fn reason(&self) -> Option<&str> {
        self.params.get("reason")
    }
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match &self.state {
            SubState::Active => "active",
            SubState::Pending => "pending",
            SubState::Terminated => "terminated",
            SubState::Other(w) => w,
        };
        write!(f, "{word}{}", self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_with_id_folds_case() {
        let e = Event::parse("Presence ; id=7").unwrap();
        assert_eq!(e.package, "presence");
        assert_eq!(e.id(), Some("7"));
        assert_eq!(e.to_string(), "presence;id=7");
        assert!(Event::parse("").is_err());
        assert!(Event::parse("a b").is_err());
    }

    #[test]
    fn subscription_state_params() {
        let s = SubscriptionState::parse("terminated;reason=timeout").unwrap();
        assert_eq!(s.state, SubState::Terminated);
        assert_eq!(s.reason(), Some("timeout"));
        let a = SubscriptionState::parse("ACTIVE;expires=599").unwrap();
        assert_eq!(a.state, SubState::Active);
        assert_eq!(a.expires(), Some(599));
        assert!(SubscriptionState::parse("active;expires=soon").is_err());
    }
}
