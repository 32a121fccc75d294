//! The request explorer page in headless Chromium (DevTools protocol) against `llmtel demo`: it loads with no
//! console error, requests in flight appear and leave, a click on a sample opens a timeline whose think and answer
//! bars are as long as the request's think and answer times (from the debug exporter's line for that trace, which
//! reads the request span's own attributes), the pipeline view's counts match the admin `/metrics`, and a
//! screenshot is saved as `target/explorer.png`. Skips with a message when no Chromium is installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use integration_tests::cdp::{Browser, chromium_binary};
use integration_tests::{
    LlmtelProcess, default_config_on_port_zero, http_request, sample_value, write_temp,
};

/// A `key=1.23s` value of a debug exporter line.
fn seconds_in(line: &str, key: &str) -> Option<f64> {
    let rest = line.split(&format!(" {key}=")).nth(1)?;
    rest.split('s').next()?.parse().ok()
}

#[tokio::test]
async fn the_page_shows_in_flight_requests_timelines_to_scale_and_the_pipeline() {
    let Some(chromium) = chromium_binary() else {
        eprintln!("SKIPPED: no chromium installed (scripts/test.sh installs Debian's `chromium`)");
        return;
    };
    let file = write_temp(&default_config_on_port_zero());
    let llmtel = LlmtelProcess::spawn(&[
        "demo",
        "--interval",
        "0.5",
        "--config",
        file.path().to_str().unwrap(),
    ]);
    let base = format!("http://{}", llmtel.endpoint("admin endpoint listening"));
    let mut page = Browser::launch(&chromium, 1400, 1100).await;
    page.navigate(&format!("{base}/")).await;

    // In flight: rows appear, and a row seen once is gone a while later (demo requests take at most ~8 s).
    let end = Instant::now() + Duration::from_secs(30);
    let first_ids = loop {
        let ids = page
            .eval("Array.from(document.querySelectorAll('[data-inflight]')).map(r => r.dataset.inflight)")
            .await;
        if ids.as_array().is_some_and(|a| !a.is_empty()) {
            break ids;
        }
        assert!(
            Instant::now() < end,
            "no request in flight shown within 30 s\n{}",
            llmtel.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let now = page
            .eval("Array.from(document.querySelectorAll('[data-inflight]')).map(r => r.dataset.inflight)")
            .await;
        let gone = first_ids
            .as_array()
            .unwrap()
            .iter()
            .all(|id| !now.as_array().unwrap().contains(id));
        if gone {
            break;
        }
        assert!(
            Instant::now() < end,
            "requests {first_ids} still in flight after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Filter to thinking qwen3 chats, open a bucket, then a sample.
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let picked = page
            .eval(
                "(() => { const m = document.getElementById('f-model'), t = document.getElementById('f-think');
                  if (![...m.options].some(o => o.value === 'qwen3:14b') || ![...t.options].some(o => o.value === 'on')) return false;
                  m.value = 'qwen3:14b'; t.value = 'on'; m.dispatchEvent(new Event('change')); return true; })()",
            )
            .await;
        if picked == true {
            break;
        }
        assert!(
            Instant::now() < end,
            "no thinking qwen3 request in the buckets within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    page.eval("document.querySelector('button.count[data-key$=\":s:0\"]:not([disabled])').click()")
        .await;
    let id = page
        .eval("(() => { const a = document.querySelector('a.sample[data-id]'); a.click(); return a.dataset.id; })()")
        .await;
    let id = id.as_str().expect("a sample id").to_owned();
    let end = Instant::now() + Duration::from_secs(10);
    while page
        .eval("!!document.querySelector('#bars [data-phase=answer]')")
        .await
        != true
    {
        assert!(Instant::now() < end, "no timeline opened for {id}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bars = page
        .eval(
            "(() => { const px = Number(document.getElementById('bars').dataset.pxPerS);
              const w = (n) => { const e = document.querySelector('#bars [data-phase=' + n + ']'); return e ? e.getBoundingClientRect().width : null; };
              return {px, think: w('think'), answer: w('answer'), trace: document.querySelector('.mono').textContent}; })()",
        )
        .await;
    let trace_id = bars["trace"].as_str().unwrap().to_owned();
    let line = llmtel
        .log()
        .lines()
        .find(|l| l.contains(&trace_id) && l.contains(" think="))
        .unwrap_or_else(|| panic!("no debug line for trace {trace_id}"))
        .to_owned();
    let px = bars["px"].as_f64().unwrap();
    for name in ["think", "answer"] {
        let want = seconds_in(&line, name).unwrap() * px;
        let got = bars[name]
            .as_f64()
            .unwrap_or_else(|| panic!("no {name} bar: {bars}"));
        // The line rounds to 10 ms; a few pixels besides.
        let slack = 3.0 + 0.005 * px;
        assert!(
            (got - want).abs() <= slack,
            "{name} bar {got:.1}px, span says {want:.1}px ({line})"
        );
    }

    // The pipeline view's counts are the admin endpoint's /metrics, read at the same moment (the page refreshes
    // every second: read both until they agree on a quiet moment).
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let shown = page
            .eval(
                "(() => { const r = document.querySelector('[data-component=\"exporter/explorer/traces\"]');
                  const q = document.querySelector('[data-component=\"receiver/llm_proxy/traces\"]');
                  return r && q ? [Number(r.querySelector('[data-k=sent]').textContent), Number(q.querySelector('[data-k=accepted]').textContent)] : null; })()",
            )
            .await;
        let metrics = String::from_utf8_lossy(
            &http_request("GET", &format!("{base}/metrics"), &[], vec![])
                .await
                .body,
        )
        .into_owned();
        let sent = sample_value(
            &metrics,
            "llmtel_exporter_sent_items_total",
            &["exporter=\"explorer\"", "signal=\"traces\""],
        );
        let accepted = sample_value(
            &metrics,
            "llmtel_receiver_accepted_items_total",
            &["receiver=\"llm_proxy\"", "signal=\"traces\""],
        );
        let shown = shown.as_array().map(|a| (a[0].as_f64(), a[1].as_f64()));
        if shown.is_some() && shown == Some((sent, accepted)) {
            break;
        }
        assert!(
            Instant::now() < end,
            "pipeline view {shown:?} never matched /metrics ({sent:?}, {accepted:?})"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    let shot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/explorer.png");
    page.screenshot(&shot).await;
    let errors = page.errors.clone();
    drop(page);
    llmtel.terminate();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}
