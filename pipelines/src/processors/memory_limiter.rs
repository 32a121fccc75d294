//! The `memory_limiter` processor in a pipeline. Its refusals happen before the pipeline's input queue, at the
//! inlet, through the [`crate::memory_gate::MemoryGate`] the graph builds from the same settings; by the time a
//! batch reaches the processor it was admitted, so the processor passes it on.

use crate::payload::Payload;
use crate::stage::Processor;

/// The processor in the pipeline: admission was decided at the inlet, so it passes every batch on.
#[derive(Debug)]
pub struct MemoryLimiterProcessor;

impl Processor for MemoryLimiterProcessor {
    fn process(&mut self, batch: Payload, out: &mut Vec<Payload>) {
        out.push(batch);
    }
}
