//! What building the graph can fail with, shared by the graph ([`crate::graph`]) and the exporter tasks it builds
//! ([`crate::runner`]), so neither has to reach into the other for it.

use std::num::NonZeroUsize;

use crate::stage::StartError;

/// The graph could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A component could not be built from its settings.
    #[error("{component}: {message}")]
    Component {
        /// The component id.
        component: String,
        /// What is wrong.
        message: String,
    },
    /// A receiver could not start (e.g. its address is taken).
    #[error(transparent)]
    Start(#[from] StartError),
    /// The config refers to something it does not define; validation should have caught it.
    #[error("{0}")]
    Invalid(String),
}

/// `n` as the non-zero size a queue or a consumer count must be; `component` and `what` name it in the error.
pub(crate) fn non_zero(component: &str, what: &str, n: usize) -> Result<NonZeroUsize, BuildError> {
    NonZeroUsize::new(n).ok_or_else(|| BuildError::Component {
        component: component.to_owned(),
        message: format!("{what}: 0: expected at least 1"),
    })
}
