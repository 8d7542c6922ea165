//! Requests as the engine receives them: the checks every request passes before it is
//! routed to the component that owns it (`preflight`), and the capability headers several
//! answers carry.

mod preflight;

pub use preflight::ALLOWED_METHODS;
pub(crate) use preflight::{capabilities, preflight, with_allow_events};
