//! The in-flight gauge's share of one request: up when the request starts, down when its telemetry ends, however
//! it ends (the guard's drop).

use opentelemetry::KeyValue;
use opentelemetry::metrics::UpDownCounter;

/// Decrements the in-flight gauge when the request's telemetry ends, however it ends.
#[derive(Debug)]
pub struct InFlight {
    counter: UpDownCounter<i64>,
    attrs: Vec<KeyValue>,
}

impl InFlight {
    /// Counts one more request with `attrs` in `counter` until the guard is dropped.
    pub fn start(counter: &UpDownCounter<i64>, attrs: Vec<KeyValue>) -> Self {
        counter.add(1, &attrs);
        Self {
            counter: counter.clone(),
            attrs,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.counter.add(-1, &self.attrs);
    }
}
