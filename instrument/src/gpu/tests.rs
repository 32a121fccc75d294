use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A scripted GPU: each field answers what the map says; reads are counted; it can vanish.
struct Fake {
    id: DeviceId,
    fields: HashMap<Field, Result<f64, ReadError>>,
    reads: Arc<Mutex<HashMap<Field, usize>>>,
    gone_after: Option<usize>,
    samples: Arc<AtomicUsize>,
}

impl Device for Fake {
    fn id(&self) -> &DeviceId {
        &self.id
    }
    fn read(&mut self, field: Field) -> Result<f64, ReadError> {
        *self.reads.lock().unwrap().entry(field).or_default() += 1;
        if field == Field::Utilization {
            let n = self.samples.fetch_add(1, Ordering::SeqCst);
            if self.gone_after.is_some_and(|g| n >= g) {
                return Err(ReadError::Gone);
            }
        }
        self.fields
            .get(&field)
            .cloned()
            .unwrap_or(Err(ReadError::NotSupported))
    }
    fn throttle_reasons(&mut self) -> Result<Vec<&'static str>, ReadError> {
        Ok(vec!["sw_power_cap"])
    }
    fn processes(&mut self) -> Result<Vec<(u32, u64)>, ReadError> {
        Ok(vec![(std::process::id(), 9 << 30)])
    }
}

fn h100(index: u32, gone_after: Option<usize>) -> (Fake, Arc<Mutex<HashMap<Field, usize>>>) {
    let fields = HashMap::from([
        (Field::Utilization, Ok(0.42)),
        (Field::MemoryControllerUtilization, Ok(0.1)),
        (Field::MemoryUsed, Ok(60e9)),
        (Field::MemoryFree, Ok(20e9)),
        (Field::MemoryTotal, Ok(80e9)),
        (Field::Temperature, Ok(61.0)),
        (Field::PowerDraw, Ok(312.5)),
        (Field::PowerLimit, Ok(700.0)),
        (Field::Energy, Ok(123_456.0)),
        (Field::SmClock, Ok(1.98e9)),
        (Field::MemoryClock, Ok(2.6e9)),
        // No fan on a data-centre card; PCIe counters time out now and then.
        (Field::FanSpeed, Err(ReadError::NotSupported)),
        (Field::PcieTransmit, Err(ReadError::Other("timeout".into()))),
        (Field::PcieReceive, Ok(1024.0)),
    ]);
    let reads = Arc::new(Mutex::new(HashMap::new()));
    let fake = Fake {
        id: DeviceId {
            index,
            uuid: format!("GPU-{index}"),
            name: "NVIDIA H100 80GB HBM3".into(),
        },
        fields,
        reads: reads.clone(),
        gone_after,
        samples: Arc::default(),
    };
    (fake, reads)
}

fn value(
    readings: &[Reading],
    metric: &str,
    index: u32,
    extra: Option<(&str, &str)>,
) -> Option<f64> {
    readings
        .iter()
        .filter(|r| r.metric == metric)
        .filter(|r| r.attributes.contains(&("gpu.index", index.to_string())))
        .find(|r| extra.is_none_or(|(k, v)| r.attributes.iter().any(|(a, b)| *a == k && b == v)))
        .map(|r| r.value)
}

#[test]
fn every_field_in_its_unit_with_the_device_attributes() {
    let (fake, _) = h100(0, None);
    let mut sampler = Sampler::new(vec![Box::new(fake)]);
    let r = sampler.sample();
    assert_eq!(
        value(
            &r,
            "hw.gpu.utilization",
            0,
            Some(("hw.gpu.task", "general"))
        ),
        Some(0.42)
    );
    assert_eq!(
        value(&r, "hw.gpu.memory_controller.utilization", 0, None),
        Some(0.1)
    );
    assert_eq!(value(&r, "hw.gpu.memory.usage", 0, None), Some(60e9));
    assert_eq!(value(&r, "hw.gpu.memory.limit", 0, None), Some(80e9));
    assert_eq!(value(&r, "hw.gpu.memory.utilization", 0, None), Some(0.75));
    assert_eq!(value(&r, "hw.gpu.power.draw", 0, None), Some(312.5));
    assert_eq!(
        value(&r, "hw.gpu.energy.consumed", 0, None),
        Some(123_456.0)
    );
    assert_eq!(
        value(
            &r,
            "hw.gpu.pcie.throughput",
            0,
            Some(("network.io.direction", "receive"))
        ),
        Some(1024.0)
    );
    assert_eq!(
        value(
            &r,
            "hw.gpu.pcie.throughput",
            0,
            Some(("network.io.direction", "transmit"))
        ),
        None
    );
    assert_eq!(
        value(
            &r,
            "hw.gpu.throttle",
            0,
            Some(("hw.gpu.throttle_reason", "sw_power_cap"))
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &r,
            "hw.gpu.throttle",
            0,
            Some(("hw.gpu.throttle_reason", "hw_slowdown"))
        ),
        Some(0.0)
    );
    let me = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    let proc = r
        .iter()
        .find(|x| x.metric == "hw.gpu.process.memory.usage")
        .unwrap();
    assert_eq!(proc.value, (9u64 << 30) as f64);
    assert!(
        proc.attributes
            .contains(&("process.executable.name", me.trim().to_owned()))
            || me.is_empty()
    );
    let dev = &r[0].attributes;
    assert!(dev.contains(&("hw.id", "GPU-0".to_owned())));
    assert!(dev.contains(&("hw.name", "NVIDIA H100 80GB HBM3".to_owned())));
    for reading in &r {
        assert!(
            METRICS.iter().any(|(m, ..)| *m == reading.metric),
            "{} is not declared",
            reading.metric
        );
    }
}

#[test]
fn an_unsupported_field_is_read_once_and_a_failing_one_again() {
    let (fake, reads) = h100(0, None);
    let mut sampler = Sampler::new(vec![Box::new(fake)]);
    for _ in 0..5 {
        let r = sampler.sample();
        assert_eq!(value(&r, "hw.gpu.fan_speed", 0, None), None);
    }
    let reads = reads.lock().unwrap();
    assert_eq!(
        reads[&Field::FanSpeed],
        1,
        "NotSupported: skipped after the first try"
    );
    assert_eq!(
        reads[&Field::PcieTransmit],
        5,
        "a transient error is tried again"
    );
}

#[test]
fn a_vanished_device_is_dropped_and_the_others_go_on() {
    let (a, _) = h100(0, None);
    let (b, _) = h100(1, Some(2));
    let mut sampler = Sampler::new(vec![Box::new(a), Box::new(b)]);
    for _ in 0..2 {
        let r = sampler.sample();
        assert!(value(&r, "hw.gpu.temperature", 1, None).is_some());
    }
    let r = sampler.sample();
    assert_eq!(sampler.devices(), 1);
    assert!(
        r.iter()
            .all(|x| !x.attributes.contains(&("gpu.index", "1".to_owned()))),
        "no half sample of a gone GPU"
    );
    assert_eq!(value(&r, "hw.gpu.temperature", 0, None), Some(61.0));
}
