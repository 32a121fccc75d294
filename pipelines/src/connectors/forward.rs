//! Connector `forward`: passes batches unchanged from the pipelines that export to it into the pipelines that
//! receive from it (same signal), e.g. to share one receiver's data between differently processed pipelines.

use crate::stage::{BoxFuture, Connector, Inbox, Output};

/// The forward connector.
#[derive(Debug, Default)]
pub struct ForwardConnector;

impl Connector for ForwardConnector {
    fn run(self: Box<Self>, mut input: Inbox, output: Output) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            while let Some(batch) = input.recv().await {
                // Waiting here is the backpressure; an error means the downstream pipelines are gone (shutdown).
                if let Err(e) = output.send(batch).await {
                    tracing::warn!(connector = output.component(), error = %e, "forward connector stopped");
                    break;
                }
            }
        })
    }
}
