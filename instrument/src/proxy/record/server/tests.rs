use opentelemetry::Value;

use super::*;
use crate::stream::TimingsSource;

const TH: Thresholds = Thresholds {
    queued: Duration::from_millis(50),
    cold_load: Duration::from_millis(250),
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn ollama(load: u64, prefill: u64, decode: u64) -> ServerTimings {
    ServerTimings {
        total: Some(ms(load + prefill + decode + 3)),
        load: Some(ms(load)),
        prefill: Some(ms(prefill)),
        prefill_tokens: Some(26),
        decode: Some(ms(decode)),
        decode_tokens: Some(290),
        ..ServerTimings::new(TimingsSource::Ollama)
    }
}

fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

fn f(attrs: &[KeyValue], key: &str) -> f64 {
    match get(attrs, key) {
        Some(Value::F64(v)) => *v,
        other => panic!("{key}: {other:?}"),
    }
}

fn b(attrs: &[KeyValue], key: &str) -> Option<bool> {
    match get(attrs, key)? {
        Value::Bool(v) => Some(*v),
        other => panic!("{key}: {other:?}"),
    }
}

/// Each phase as (name, start and end in ms after the arrival).
fn layout(v: &ServerView, start: Instant) -> Vec<(&'static str, u128, u128)> {
    v.phases
        .iter()
        .map(|p| {
            let at = |i: Instant| i.duration_since(start).as_millis();
            (p.name, at(p.from), at(p.to))
        })
        .collect()
}

#[test]
fn a_queued_cold_request_gets_every_phase_laid_back_from_the_timings_frame() {
    let start = Instant::now();
    // 2 s of wall time; the server was busy 300 + 100 + 500 ms of it: 1.1 s waiting.
    let v = view(
        &ollama(300, 100, 500),
        start,
        start + ms(2000),
        TH,
        &mut |_| true,
    );
    assert_eq!(v.queue_wait, ms(1100));
    assert!((f(&v.attrs, attr::SERVER_QUEUE_WAIT) - 1.1).abs() < 1e-9);
    assert_eq!(b(&v.attrs, attr::SERVER_QUEUED), Some(true));
    assert_eq!(b(&v.attrs, attr::MODEL_COLD_LOAD), Some(true));
    assert_eq!(
        get(&v.attrs, attr::SERVER_TIMINGS),
        Some(&Value::from("ollama"))
    );
    assert!((f(&v.attrs, attr::SERVER_LOAD_DURATION) - 0.3).abs() < 1e-9);
    assert_eq!(
        get(&v.attrs, attr::SERVER_DECODE_TOKENS),
        Some(&Value::I64(290))
    );
    assert_eq!(
        layout(&v, start),
        [
            ("load", 0, 300),
            ("queue", 300, 1400),
            ("prefill", 1400, 1500),
            ("decode", 1500, 2000)
        ]
    );
    for p in &v.phases {
        assert_eq!(
            get(&p.attrs, attr::PHASE),
            Some(&Value::from(p.name)),
            "skipped by genai_metrics"
        );
        assert_eq!(
            get(&p.attrs, attr::SERVER_TIMINGS),
            Some(&Value::from("ollama")),
            "marked derived"
        );
    }
    assert_eq!(
        get(&v.phases[3].attrs, attr::SERVER_DECODE_TOKENS),
        Some(&Value::I64(290))
    );
}

#[test]
fn a_warm_request_that_did_not_wait_has_no_queue_or_load_phase_and_says_so() {
    let start = Instant::now();
    // 30 ms spare: below the 50 ms threshold.
    let v = view(
        &ollama(5, 100, 500),
        start,
        start + ms(635),
        TH,
        &mut |_| true,
    );
    assert_eq!(v.queue_wait, ms(30));
    assert_eq!(b(&v.attrs, attr::SERVER_QUEUED), Some(false));
    assert_eq!(
        b(&v.attrs, attr::MODEL_COLD_LOAD),
        Some(false),
        "the timings show a warm model"
    );
    // The warm load still takes its 5 ms (30–35) without a span of its own.
    assert_eq!(
        layout(&v, start),
        [("prefill", 35, 135), ("decode", 135, 635)]
    );
}

#[test]
fn queue_wait_is_never_negative_and_phases_never_start_before_the_arrival() {
    let start = Instant::now();
    // The server says it worked longer than the sidecar saw (clocks, a client-side cut): no wait, not a negative.
    let v = view(
        &ollama(0, 400, 900),
        start,
        start + ms(1000),
        TH,
        &mut |_| true,
    );
    assert_eq!(v.queue_wait, Duration::ZERO);
    assert_eq!(f(&v.attrs, attr::SERVER_QUEUE_WAIT), 0.0);
    assert_eq!(b(&v.attrs, attr::SERVER_QUEUED), Some(false));
    assert_eq!(
        layout(&v, start),
        [("prefill", 0, 100), ("decode", 100, 1000)]
    );
}

#[test]
fn llama_cpp_has_no_load_so_no_cold_load_claim() {
    let start = Instant::now();
    let t = ServerTimings {
        prefill: Some(ms(18)),
        prefill_tokens: Some(1),
        decode: Some(ms(68)),
        decode_tokens: Some(5),
        cached_tokens: Some(30),
        ..ServerTimings::new(TimingsSource::LlamaCpp)
    };
    let v = view(&t, start, start + ms(386), TH, &mut |_| true);
    assert_eq!(v.queue_wait, ms(300));
    assert_eq!(
        get(&v.attrs, attr::SERVER_TIMINGS),
        Some(&Value::from("llama.cpp"))
    );
    assert_eq!(b(&v.attrs, attr::MODEL_COLD_LOAD), None);
    assert_eq!(get(&v.attrs, attr::SERVER_LOAD_DURATION), None);
    assert_eq!(
        layout(&v, start),
        [
            ("queue", 0, 300),
            ("prefill", 300, 318),
            ("decode", 318, 386)
        ]
    );
}

#[test]
fn without_prefill_or_decode_the_servers_total_is_its_busy_time() {
    let start = Instant::now();
    // Ollama `/api/embed`: total and load only.
    let t = ServerTimings {
        total: Some(ms(14)),
        load: Some(ms(1)),
        ..ServerTimings::new(TimingsSource::Ollama)
    };
    let v = view(&t, start, start + ms(100), TH, &mut |_| true);
    assert_eq!(v.queue_wait, ms(86));
    assert_eq!(layout(&v, start), [("queue", 0, 86)]);
}

#[test]
fn absurd_durations_from_a_server_give_no_wait_and_no_panic() {
    let start = Instant::now();
    let huge = Some(Duration::from_nanos(u64::MAX));
    let t = ServerTimings {
        total: huge,
        load: huge,
        prefill: huge,
        decode: huge,
        ..ServerTimings::new(TimingsSource::Ollama)
    };
    let v = view(&t, start, start + ms(10), TH, &mut |_| true);
    assert_eq!(v.queue_wait, Duration::ZERO);
    assert!(
        v.phases
            .iter()
            .all(|p| p.from >= start && p.to <= start + ms(10))
    );
    let only_total = ServerTimings {
        prefill: None,
        decode: None,
        ..t
    };
    let v = view(&only_total, start, start + ms(10), TH, &mut |_| true);
    assert!(
        v.phases
            .iter()
            .all(|p| p.from >= start && p.to <= start + ms(10))
    );
}

#[test]
fn requests_that_waited_for_the_same_load_count_it_once() {
    let log = LoadLog::default();
    let start = Instant::now();
    // The first arrives and makes the model load for 2 s; the second arrives 0.5 s later and waits for the same
    // load (Ollama reports 1.5 s for it: from its own arrival); a third comes much later and loads again.
    let first = view(
        &ollama(2000, 10, 100),
        start,
        start + ms(2110),
        TH,
        &mut |end| log.is_new("m", end),
    );
    let second_start = start + ms(500);
    let second = view(
        &ollama(1500, 10, 100),
        second_start,
        second_start + ms(1660),
        TH,
        &mut |end| log.is_new("m", end),
    );
    let later = start + ms(60_000);
    let third = view(
        &ollama(2000, 10, 100),
        later,
        later + ms(2110),
        TH,
        &mut |end| log.is_new("m", end),
    );
    assert_eq!(b(&first.attrs, attr::MODEL_COLD_LOAD), Some(true));
    assert_eq!(
        b(&second.attrs, attr::MODEL_COLD_LOAD),
        Some(false),
        "a load it waited for, counted already"
    );
    assert_eq!(b(&third.attrs, attr::MODEL_COLD_LOAD), Some(true));
    // The second still shows the load it waited through.
    assert_eq!(layout(&second, second_start)[0], ("load", 0, 1500));
    // Another model's load at the same instant is its own.
    assert!(log.is_new("other", start + ms(2000)));
}
