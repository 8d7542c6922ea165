//! Requests as the engine receives them: decoded once (`incoming`), then checked as every
//! request is before it is routed to the component that owns it (`preflight`); and the
//! capability headers several answers carry.

mod incoming;
mod preflight;

pub(crate) use incoming::Incoming;
pub use preflight::ALLOWED_METHODS;
pub(crate) use preflight::{capabilities, preflight, with_allow_events};
