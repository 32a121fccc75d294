//! Processors: synchronous, I/O-free transforms inside one pipeline, run in the order the pipeline lists them.
//! Batches come from the pipeline's input queue (fed by its receivers) or from the previous processor; what a
//! processor returns goes to the next one, and after the last to the queue of every exporter and connector of the
//! pipeline.

pub mod attributes;
pub mod batch;
pub mod memory_limiter;
pub mod metric_transform;
