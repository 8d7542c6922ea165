//! Event-package body formats, each with a writer and a parser that never panics:
//! `application/simple-message-summary` (RFC 3842), `application/pidf+xml` (RFC 3863 with
//! RPID, RFC 4480), `application/xpidf+xml` (the Polycom form) and
//! `application/dialog-info+xml` (RFC 4235), and `application/x-as-feature-event+xml`
//! (BroadWorks feature-key synchronisation). XML is parsed namespace-aware with roxmltree,
//! with DTD internal subsets, entity declarations and oversized trees refused.

pub mod dialog_info;
pub mod feature_event;
pub mod mwi;
pub mod pidf;
mod presence_words;
pub mod rlmi;
mod xml;
pub mod xpidf;

/// Longest text kept from a note or a display name, in bytes. A PIDF shows the note twice
/// (tuple and person), and a NOTIFY carrying a publisher's 33 KB note would no longer fit
/// in a datagram, cutting off every UDP watcher; a note for people needs far less.
pub const MAX_TEXT_BYTES: usize = 512;

/// `text` cut to at most [`MAX_TEXT_BYTES`], at a character boundary.
pub(crate) fn capped(text: &str) -> &str {
    if text.len() <= MAX_TEXT_BYTES {
        return text;
    }
    let end = (0..=MAX_TEXT_BYTES).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    &text[..end]
}

/// Why a body could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is not UTF-8 text.
    #[error("body is not UTF-8")]
    NotUtf8,
    /// The XML is not well-formed.
    #[error("malformed XML: {0}")]
    Xml(String),
    /// The XML declares entities or an internal DTD subset (refused: entity expansion).
    #[error("XML with entity declarations or an internal DTD subset is refused")]
    Dtd,
    /// The XML is deeper or larger than allowed.
    #[error("XML document is too deep or too large")]
    TooComplex,
    /// The root element or a required element is not what the format requires.
    #[error("not a {format} document: {detail}")]
    Shape {
        /// The format expected.
        format: &'static str,
        /// What is missing or wrong.
        detail: &'static str,
    },
}

/// A body format the server writes or reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// `application/pidf+xml`.
    Pidf,
    /// `application/xpidf+xml`.
    Xpidf,
    /// `application/dialog-info+xml`.
    DialogInfo,
    /// `application/simple-message-summary`.
    MessageSummary,
    /// `application/x-as-feature-event+xml`.
    FeatureEvent,
}

impl Format {
    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Pidf => "application/pidf+xml",
            Format::Xpidf => "application/xpidf+xml",
            Format::DialogInfo => "application/dialog-info+xml",
            Format::MessageSummary => "application/simple-message-summary",
            Format::FeatureEvent => feature_event::CONTENT_TYPE,
        }
    }
}

/// Whether a presence source is reachable (RFC 3863 `<basic>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Basic {
    /// `open`.
    Open,
    /// `closed`.
    Closed,
}

impl Basic {
    /// `open` or `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Basic::Open => "open",
            Basic::Closed => "closed",
        }
    }
}

/// A presence document distilled to what phones act on: the seed's
/// `{status, note, dnd, onthephone}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresenceReport {
    /// Reachable or not.
    pub status: Basic,
    /// A free-text note, if the document had one.
    pub note: Option<String>,
    /// Do not disturb.
    pub dnd: bool,
    /// On a call.
    pub on_the_phone: bool,
}

fn utf8(body: &[u8]) -> Result<&str, BodyError> {
    std::str::from_utf8(body).map_err(|_| BodyError::NotUtf8)
}
