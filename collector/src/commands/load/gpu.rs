//! The GPU while a level runs: `--metrics URL` names the Prometheus endpoint of a llmtel whose `gpu` receiver
//! samples NVML (`hw_gpu_utilization_ratio`, `hw_gpu_memory_usage_bytes`, `hw_gpu_power_draw_watts`, one series
//! per GPU); a sampler reads it once a second during the level and [`GpuFigures`] sums them up (utilisation
//! averaged over GPUs, memory and power summed over them).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::client::HttpClient;
use crate::commands::report::parse_exposition;

/// What the GPUs did during one level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GpuFigures {
    /// Reads that had GPU series.
    pub samples: u32,
    /// Mean utilisation (0–1), averaged over GPUs and reads.
    pub utilization_mean: Option<f64>,
    /// Highest utilisation read.
    pub utilization_max: Option<f64>,
    /// Most memory used, summed over GPUs, in bytes.
    pub memory_max_bytes: Option<f64>,
    /// Mean power, summed over GPUs, in watts.
    pub power_mean_w: Option<f64>,
}

#[derive(Debug, Default)]
struct Read {
    util: Option<f64>,
    memory: Option<f64>,
    power: Option<f64>,
}

/// The GPU values in one exposition text, `None` when it has no GPU series.
fn read(text: &str) -> Option<Read> {
    let samples = parse_exposition(text);
    let values = |name: &str| -> Vec<f64> {
        samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.value)
            .collect()
    };
    let util = values("hw_gpu_utilization_ratio");
    let memory = values("hw_gpu_memory_usage_bytes");
    let power = values("hw_gpu_power_draw_watts");
    if util.is_empty() && memory.is_empty() && power.is_empty() {
        return None;
    }
    let sum = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>());
    Some(Read {
        util: sum(&util).map(|s| s / util.len() as f64),
        memory: sum(&memory),
        power: sum(&power),
    })
}

/// Sums up the reads.
fn figures(reads: &[Read]) -> Option<GpuFigures> {
    if reads.is_empty() {
        return None;
    }
    let of = |f: fn(&Read) -> Option<f64>| reads.iter().filter_map(f).collect::<Vec<f64>>();
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let max = |v: Vec<f64>| v.into_iter().reduce(f64::max);
    Some(GpuFigures {
        samples: reads.len() as u32,
        utilization_mean: mean(of(|r| r.util)),
        utilization_max: max(of(|r| r.util)),
        memory_max_bytes: max(of(|r| r.memory)),
        power_mean_w: mean(of(|r| r.power)),
    })
}

/// Reads `url` once a second until `stop`; the level's GPU figures (`None` when no read had GPU series). A
/// read that fails is skipped: the load goes on.
pub async fn sample(
    client: HttpClient,
    url: String,
    stop: CancellationToken,
) -> Option<GpuFigures> {
    let mut reads = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let Ok(req) = http::Request::get(&url).body(Full::new(Bytes::new())) else {
            break;
        };
        let text = async {
            let resp = client.request(req).await.ok()?;
            let body = resp.into_body().collect().await.ok()?.to_bytes();
            String::from_utf8(body.to_vec()).ok()
        };
        let text = tokio::time::timeout(Duration::from_secs(2), text)
            .await
            .ok()
            .flatten();
        if let Some(r) = text.as_deref().and_then(read) {
            reads.push(r);
        }
    }
    figures(&reads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_gpus_are_averaged_for_utilisation_and_summed_for_memory_and_power() {
        let text = "hw_gpu_utilization_ratio{id=\"0\"} 0.5\nhw_gpu_utilization_ratio{id=\"1\"} 1\n\
                    hw_gpu_memory_usage_bytes{id=\"0\"} 100\nhw_gpu_memory_usage_bytes{id=\"1\"} 50\n\
                    hw_gpu_power_draw_watts{id=\"0\"} 200\nhw_gpu_power_draw_watts{id=\"1\"} 100\n";
        let r = read(text).unwrap();
        assert_eq!(
            (r.util, r.memory, r.power),
            (Some(0.75), Some(150.0), Some(300.0))
        );
        let f = figures(&[r, read(&text.replace("0.5", "0.1")).unwrap()]).unwrap();
        assert_eq!(f.samples, 2);
        assert_eq!(f.utilization_max, Some(0.75));
        assert!((f.utilization_mean.unwrap() - 0.65).abs() < 1e-9);
        assert!(read("llmtel_up 1\n").is_none());
    }
}
