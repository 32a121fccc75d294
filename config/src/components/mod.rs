//! Settings of each component type, one file per stage in the order data travels: [`receivers`], [`processors`],
//! [`connectors`], [`exporters`]; [`signal`] and [`common`] hold what they share, [`listen`] what every listener shares (TLS, auth). Everything is re-exported here
//! and at the crate root.
//!
//! The `///` docs on each field are the user manual: `docs/config.md` points here.

pub mod common;
pub mod connectors;
pub mod exporters;
pub mod host;
pub mod listen;
pub mod processors;
pub mod receivers;
pub mod scrape;
pub mod signal;

pub use common::*;
pub use connectors::*;
pub use exporters::*;
pub use host::*;
pub use listen::*;
pub use processors::*;
pub use receivers::*;
pub use scrape::*;
pub use signal::*;
