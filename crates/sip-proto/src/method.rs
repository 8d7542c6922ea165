//! SIP request methods (RFC 3261 §7.1, plus the extension methods a presence server meets).

use std::fmt;
use std::str::FromStr;

use crate::scan::is_token;

/// A request method. Method names are case-sensitive (RFC 3261 §7.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// INVITE (RFC 3261).
    Invite,
    /// ACK (RFC 3261).
    Ack,
    /// BYE (RFC 3261).
    Bye,
    /// CANCEL (RFC 3261).
    Cancel,
    /// OPTIONS (RFC 3261).
    Options,
    /// REGISTER (RFC 3261).
    Register,
    /// SUBSCRIBE (RFC 6665).
    Subscribe,
    /// NOTIFY (RFC 6665).
    Notify,
    /// PUBLISH (RFC 3903).
    Publish,
    /// MESSAGE (RFC 3428).
    Message,
    /// INFO (RFC 6086).
    Info,
    /// PRACK (RFC 3262).
    Prack,
    /// UPDATE (RFC 3311).
    Update,
    /// REFER (RFC 3515).
    Refer,
    /// Any other token.
    Other(String),
}

/// A method name that is not an RFC 3261 token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("method is not a token")]
pub struct InvalidMethod;

impl Method {
    /// The method name as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Subscribe => "SUBSCRIBE",
            Method::Notify => "NOTIFY",
            Method::Publish => "PUBLISH",
            Method::Message => "MESSAGE",
            Method::Info => "INFO",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Refer => "REFER",
            Method::Other(m) => m,
        }
    }
}

impl FromStr for Method {
    type Err = InvalidMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "SUBSCRIBE" => Method::Subscribe,
            "NOTIFY" => Method::Notify,
            "PUBLISH" => Method::Publish,
            "MESSAGE" => Method::Message,
            "INFO" => Method::Info,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "REFER" => Method::Refer,
            other if is_token(other) => Method::Other(other.to_owned()),
            _ => return Err(InvalidMethod),
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_case_sensitive_tokens() {
        assert_eq!("SUBSCRIBE".parse(), Ok(Method::Subscribe));
        assert_eq!("subscribe".parse(), Ok(Method::Other("subscribe".into())));
        assert_eq!("NEWMETHOD".parse::<Method>().unwrap().as_str(), "NEWMETHOD");
        assert!("BAD METHOD".parse::<Method>().is_err());
        assert!("".parse::<Method>().is_err());
    }
}
