//! The free-text conventions phones use in presence notes: Zoiper and others publish DND or
//! "on the phone" as a note rather than as an RPID activity (the seed's §5.4 rules).

/// Notes that mean do-not-disturb (compared case-insensitively).
const DND_NOTES: &[&str] = &["dnd", "busy", "do not disturb", "do-not-disturb"];

/// Notes that mean on a call. "away" is the seed's reading of Zoiper's note while on a
/// call, kept for compatibility.
const PHONE_NOTES: &[&str] = &["on the phone", "on-the-phone", "talking", "away"];

pub(super) fn note_means_dnd(note: &str) -> bool {
    DND_NOTES.iter().any(|w| note.trim().eq_ignore_ascii_case(w))
}

pub(super) fn note_means_on_the_phone(note: &str) -> bool {
    PHONE_NOTES.iter().any(|w| note.trim().eq_ignore_ascii_case(w))
}
