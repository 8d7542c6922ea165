//! What a component is handed to act: the settings, the resource lists they define, the
//! effect sink, the client transactions its requests travel in, and the time. The engine
//! builds one per input.

use std::time::Instant;

use crate::client_transactions::ClientTransactions;
use crate::config::EngineConfig;
use crate::effects::Effects;
use crate::lists::Lists;

/// A component's view of the engine while it handles one input.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a EngineConfig,
    pub(crate) lists: &'a Lists,
    pub(crate) fx: &'a mut Effects,
    pub(crate) client: &'a mut ClientTransactions,
    pub(crate) now: Instant,
}
