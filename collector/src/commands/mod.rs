//! The commands beside `llmtel run`, each using the running pipeline from outside rather than being a stage of it:
//! `demo` starts llmtel in front of a simulated model server and sends it requests; `report` reads a Prometheus
//! endpoint and prints the think-mode baseline and the price of thinking; `load` load-tests a model server and
//! draws its decay curves. [`crate::cli`] parses the command line and calls them.

pub mod demo;
pub mod load;
pub mod report;
