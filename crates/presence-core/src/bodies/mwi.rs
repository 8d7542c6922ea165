//! `application/simple-message-summary` (RFC 3842 §5): message-waiting status and counts.

use super::{BodyError, utf8};

/// Voice-message counts for one account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// New messages.
    pub new: u32,
    /// Old (heard) messages.
    pub old: u32,
    /// New urgent messages.
    pub new_urgent: u32,
    /// Old urgent messages.
    pub old_urgent: u32,
}

/// How the urgent counts follow `Voice-Message: new/old`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UrgentCounts {
    /// ` (urgent-new/urgent-old)`, as RFC 3842 §5.2 writes them.
    #[default]
    Parenthesized,
    /// ` urgent-new/urgent-old` without parentheses, as babble-drachtio-presence wrote them
    /// (phones set up against it may read only that).
    Bare,
    /// Left out, for devices that read only `new/old`.
    Omitted,
}

/// Writes the body: `Messages-Waiting`, `Message-Account` and `Voice-Message` with the
/// urgent counts as `urgent` says, CRLF line ends (RFC 3842 §5.2).
pub fn write(account: &str, counts: &MessageCounts, urgent: UrgentCounts) -> String {
    let urgent = match urgent {
        UrgentCounts::Parenthesized => format!(" ({}/{})", counts.new_urgent, counts.old_urgent),
        UrgentCounts::Bare => format!(" {}/{}", counts.new_urgent, counts.old_urgent),
        UrgentCounts::Omitted => String::new(),
    };
    format!(
        "Messages-Waiting: {}\r\nMessage-Account: {account}\r\nVoice-Message: {}/{}{urgent}\r\n",
        if counts.new > 0 { "yes" } else { "no" },
        counts.new,
        counts.old,
    )
}

/// A parsed body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// `Messages-Waiting: yes`.
    pub waiting: bool,
    /// `Message-Account`, if present.
    pub account: Option<String>,
    /// `Voice-Message` counts, if present.
    pub voice: Option<MessageCounts>,
}

/// Parses a body. Unknown message classes (`Fax-Message` ...) and headers are ignored.
pub fn parse(body: &[u8]) -> Result<Summary, BodyError> {
    let shape = |detail| BodyError::Shape { format: "simple-message-summary", detail };
    let mut waiting = None;
    let mut account = None;
    let mut voice = None;
    for line in utf8(body)?.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "messages-waiting" => {
                waiting = Some(match value.to_ascii_lowercase().as_str() {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(shape("Messages-Waiting is neither yes nor no")),
                })
            }
            "message-account" => account = Some(value.to_owned()),
            "voice-message" => voice = Some(parse_counts(value).ok_or(shape("malformed Voice-Message counts"))?),
            _ => {}
        }
    }
    Ok(Summary { waiting: waiting.ok_or(shape("no Messages-Waiting line"))?, account, voice })
}

/// `new/old` optionally followed by `(urgent-new/urgent-old)`; the parentheses are
/// optional on input since some systems omit them.
fn parse_counts(value: &str) -> Option<MessageCounts> {
    let mut parts = value.split_whitespace();
    let (new, old) = pair(parts.next()?)?;
    let (new_urgent, old_urgent) = match parts.next() {
        Some(urgent) => pair(urgent.trim_start_matches('(').trim_end_matches(')'))?,
        None => (0, 0),
    };
    parts.next().is_none().then_some(MessageCounts { new, old, new_urgent, old_urgent })
}

fn pair(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('/')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_rfc_3842_exactly() {
        let counts = MessageCounts { new: 2, old: 8, new_urgent: 0, old_urgent: 2 };
        assert_eq!(
            write("sip:1001@pbx.example.com", &counts, UrgentCounts::Parenthesized),
            "Messages-Waiting: yes\r\nMessage-Account: sip:1001@pbx.example.com\r\nVoice-Message: 2/8 (0/2)\r\n"
        );
        assert!(
            write("sip:a@b", &MessageCounts::default(), UrgentCounts::Parenthesized)
                .starts_with("Messages-Waiting: no\r\n")
        );
        assert!(write("sip:a@b", &counts, UrgentCounts::Bare).ends_with("Voice-Message: 2/8 0/2\r\n"));
        assert!(write("sip:a@b", &counts, UrgentCounts::Omitted).ends_with("Voice-Message: 2/8\r\n"));
    }

    #[test]
    fn round_trips_and_reads_variants() {
        let counts = MessageCounts { new: 3, old: 1, new_urgent: 1, old_urgent: 0 };
        let parsed = parse(write("sip:a@b", &counts, UrgentCounts::Parenthesized).as_bytes()).unwrap();
        assert_eq!(parsed, Summary { waiting: true, account: Some("sip:a@b".into()), voice: Some(counts) });
        // The seed's form without parentheses, and RFC 3842's example with other classes.
        let seed = parse(b"Messages-Waiting: yes\r\nVoice-Message: 2/5 0/1\r\n").unwrap();
        assert_eq!(seed.voice, Some(MessageCounts { new: 2, old: 5, new_urgent: 0, old_urgent: 1 }));
        let rfc = parse(b"Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\nVoice-Message: 4/8 (1/2)\r\nFax-Message: 1/0\r\n").unwrap();
        assert_eq!(rfc.voice.unwrap().new, 4);
    }

    #[test]
    fn refuses_broken_bodies() {
        assert!(parse(b"Voice-Message: 1/2\r\n").is_err());
        assert!(parse(b"Messages-Waiting: maybe\r\n").is_err());
        assert!(parse(b"Messages-Waiting: yes\r\nVoice-Message: x/2\r\n").is_err());
        assert_eq!(parse(&[0xff, 0xfe]).unwrap_err(), BodyError::NotUtf8);
    }
}
