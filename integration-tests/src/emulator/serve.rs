//! One answer from arrival to last byte, as a model server runs it: the request waits for its model (`models.rs`),
//! then FIFO for a parallel slot (a fair semaphore held until its body is written), then its body goes out in
//! the writes [`plan`] cuts, each after its pause; the chunk with the server's timings is rendered when it is
//! sent, from what was measured ([`Timings::Measured`](super::script::Timings)). Every phase is written into the
//! request's record. A client that goes away at any point ends it (and leaves the queue). [`Tracked`] is the
//! response body that hands the writes to the connection and records them.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Frame;
use tokio::sync::{mpsc, oneshot};

use super::formats;
use super::script::{OllamaDurations, ReasoningStyle, Script, Split, Timings};
use super::state::{Shared, lock};
use super::wire::{Event, Kind, Reply};

/// What one write sends.
#[derive(Debug)]
enum Chunk {
    /// These bytes.
    Bytes(Bytes),
    /// Event `.0` of the reply, rendered with the timings measured when it is sent.
    Timed(usize),
}

/// One write: the prompt pause it takes (the pause before the first model output; `Some` on that write only),
/// the further pause, and what it sends.
#[derive(Debug)]
struct Write {
    /// The prompt pause, on the write that takes it.
    prompt: Option<Duration>,
    /// The rest of the pause before it.
    pause: Duration,
    /// What it sends.
    chunk: Chunk,
}

/// The writes of `events` under `script`, each with the pause before it. With `timed` (measured timings), events
/// from `timed` on go one write each and event `timed` is rendered at send time. `extra` more pause goes before
/// the timed write, or the first write when none is timed.
fn plan(events: &[Event], script: &Script, timed: Option<usize>, extra: Duration) -> Vec<Write> {
    // The first event with model output waits `first_delay` (events before it, such as `response.created`, go
    // at once); a body without any waits before its first event.
    let first = events
        .iter()
        .position(|e| e.kind != Kind::Tail)
        .unwrap_or(0);
    let delays: Vec<Duration> = events
        .iter()
        .enumerate()
        .map(|(i, e)| match e.kind {
            _ if i == first => script.first_delay,
            Kind::Think => script.think_delay,
            Kind::Answer => script.answer_delay,
            Kind::Tail => Duration::ZERO,
        })
        .collect();
    let fixed = timed.map_or(events.len(), |t| t.min(events.len()));
    let mut starts = Vec::with_capacity(fixed);
    let mut body = Vec::new();
    for e in &events[..fixed] {
        starts.push(body.len());
        body.extend_from_slice(&e.bytes);
    }
    let body = Bytes::from(body);
    let limit = script
        .fail_after_bytes
        .map_or(body.len(), |n| n.min(body.len()));
    let mut cuts: Vec<usize> = match &script.split {
        Split::PerEvent => starts.clone(),
        Split::Every(n) => (0..limit).step_by((*n).max(1)).collect(),
        Split::At(offsets) => offsets.clone(),
    };
    cuts.push(0);
    cuts.retain(|&c| c < limit);
    cuts.sort_unstable();
    cuts.dedup();
    // The pause of events `range`, split into the prompt pause (if `first` is among them) and the rest.
    let pauses = |range: std::ops::Range<usize>| {
        let prompt = range.contains(&first).then_some(script.first_delay);
        let all: Duration = delays.get(range).map_or(Duration::ZERO, |d| d.iter().sum());
        (prompt, all.saturating_sub(prompt.unwrap_or_default()))
    };
    let mut writes = Vec::with_capacity(cuts.len());
    // Events whose pause has been taken: those before `next`.
    let mut next = 0;
    for (i, &a) in cuts.iter().enumerate() {
        let b = cuts.get(i + 1).copied().unwrap_or(limit);
        let event = starts.partition_point(|&s| s <= a).saturating_sub(1);
        let upto = (event + 1).max(next);
        let (prompt, pause) = pauses(next..upto);
        next = upto;
        writes.push(Write {
            prompt,
            pause,
            chunk: Chunk::Bytes(body.slice(a..b)),
        });
    }
    for (i, e) in events.iter().enumerate().skip(fixed) {
        let (prompt, pause) = pauses(i.max(next)..i + 1);
        let chunk = if Some(i) == timed {
            Chunk::Timed(i)
        } else {
            Chunk::Bytes(Bytes::from(e.bytes.clone()))
        };
        writes.push(Write {
            prompt,
            pause: pause
                + if Some(i) == timed {
                    extra
                } else {
                    Duration::ZERO
                },
            chunk,
        });
    }
    let at = writes
        .iter()
        .position(|w| matches!(w.chunk, Chunk::Timed(_)))
        .unwrap_or(0);
    if let Some(w) = writes.get_mut(at) {
        w.pause += extra;
    }
    writes
}

/// The generation time of `script`'s stream after its first model output: what a whole body waits besides the
/// prompt pause when timings are measured (tool calls counted as a name event and one per arguments piece).
fn stream_generation(script: &Script) -> Duration {
    let thoughts = if script.reasoning == ReasoningStyle::None {
        0
    } else {
        script.thinking.len()
    };
    let answers = script.answer.len()
        + script
            .tool_calls
            .iter()
            .map(|c| 1 + c.arguments.len())
            .sum::<usize>();
    let (thoughts, answers) = match (thoughts, answers) {
        (0, 0) => (0, 0),
        (0, a) => (0, a - 1),
        (t, a) => (t - 1, a),
    };
    let n = |k: usize| u32::try_from(k).unwrap_or(u32::MAX);
    script.think_delay * n(thoughts) + script.answer_delay * n(answers)
}

/// A message from [`serve`] to the response body.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Body bytes; `true` when they are the last.
    Data(Bytes, bool),
    /// The (empty) body is complete.
    End,
    /// Abort the body.
    Fail,
}

/// The request being answered.
#[derive(Debug)]
pub(crate) struct Request {
    /// Its index in `shared.requests`.
    pub index: usize,
    /// Its path.
    pub path: String,
    /// Its body.
    pub body: Bytes,
    /// Its content type.
    pub content_type: Option<String>,
    /// The model it asked for.
    pub model: String,
    /// When the handler got it.
    pub arrival: Instant,
}

/// Decrements a counter when dropped.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    /// Increments `c` until dropped.
    fn new(c: &'a AtomicUsize) -> Self {
        c.fetch_add(1, Ordering::SeqCst);
        Self(c)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Sleeps `d` unless the body goes away first; whether it is still there.
async fn pause(d: Duration, tx: &mpsc::Sender<Msg>) -> bool {
    if d.is_zero() {
        return !tx.is_closed();
    }
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = tx.closed() => false,
    }
}

/// Nanoseconds of `d`, saturated.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Answers `req` with `reply` (rendered with fixed timings) under `script`, into `tx`; the length of a whole body
/// rendered at send time goes to `length` first.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    req: Request,
    script: Script,
    reply: Reply,
    tx: mpsc::Sender<Msg>,
    mut length: Option<oneshot::Sender<usize>>,
) {
    let index = req.index;
    let queues = formats::is_model_path(&req.path) && script.status == 200;
    let mut held = None;
    let mut start = Instant::now();
    if queues {
        // As Ollama's `load_duration`: from the handler's arrival until the model is ready.
        let acquired = tokio::select! {
            a = shared.models.acquire(&req.model, &script) => Some(a),
            () = tx.closed() => None,
        };
        let Some((cold, use_)) = acquired else {
            shared.phases(index, |p| p.left_queue = true);
            return;
        };
        // One instant ends a phase and starts the next, so the phases tile the request exactly.
        let t = Instant::now();
        let load = t - req.arrival;
        shared.phases(index, |p| {
            p.cold_load = cold;
            p.load = load;
        });
        let permit = match script.slots {
            None => None,
            Some(n) => {
                let sem = shared.semaphore(n);
                let _queued = Counted::new(&shared.queued);
                tokio::select! {
                    p = sem.acquire_owned() => p.ok(),
                    () = tx.closed() => {
                        shared.phases(index, |p| {
                            p.left_queue = true;
                            p.slot_wait = t.elapsed();
                        });
                        return;
                    }
                }
            }
        };
        start = Instant::now();
        let wait = start - t;
        shared.phases(index, |p| p.slot_wait = wait);
        held = Some((use_, permit));
    }
    let _running = queues.then(|| Counted::new(&shared.running));
    let measured = script.timings == Timings::Measured && script.fail_after_bytes.is_none();
    let timed = reply.timed.filter(|_| measured);
    let extra = if measured && !reply.streaming && formats::generates(&req.path) {
        stream_generation(&script)
    } else {
        Duration::ZERO
    };
    let writes = plan(&reply.events, &script, timed, extra);
    let fail = script.fail_after_bytes.is_some();
    let hold = !script.end_delay.is_zero();
    let n = writes.len();
    let mut prompt_end = start;
    let mut took_measure = false;
    for (i, w) in writes.into_iter().enumerate() {
        if let Some(p) = w.prompt {
            if !pause(p, &tx).await {
                return;
            }
            prompt_end = Instant::now();
            let prompt = prompt_end - start;
            shared.phases(index, |ph| ph.prompt = prompt);
        }
        if !pause(w.pause, &tx).await {
            return;
        }
        let last = i + 1 == n;
        let already = took_measure;
        let mut measure = || {
            took_measure = true;
            let now = Instant::now();
            let (total, generation) = (now - req.arrival, now - prompt_end);
            let mut phases = Default::default();
            shared.phases(index, |p| {
                p.total = total;
                p.generation = generation;
                phases = *p;
            });
            phases
        };
        let bytes = match w.chunk {
            Chunk::Bytes(b) => {
                if last && !already {
                    measure();
                }
                b
            }
            Chunk::Timed(e) => {
                let p = measure();
                let d = OllamaDurations {
                    total: nanos(p.total),
                    load: nanos(p.load),
                    prompt_eval: nanos(p.prompt),
                    eval: nanos(p.generation),
                };
                let ct = req.content_type.as_deref();
                let again = formats::reply(&req.path, &req.body, ct, &script, &d);
                again
                    .events
                    .get(e)
                    .map(|ev| Bytes::from(ev.bytes.clone()))
                    .unwrap_or_default()
            }
        };
        if let Some(l) = length.take() {
            let _ = l.send(bytes.len());
        }
        if tx
            .send(Msg::Data(bytes, last && !fail && !hold))
            .await
            .is_err()
        {
            return;
        }
    }
    // The generation is over: the slot and the model are free again.
    drop(held);
    if fail {
        let _ = tx.send(Msg::Fail).await;
    } else if n == 0 || hold {
        if !pause(script.end_delay, &tx).await {
            return;
        }
        let _ = tx.send(Msg::End).await;
    }
}

/// A response body fed by [`serve`] that records what it hands over, and notices being dropped early.
#[derive(Debug)]
pub(crate) struct Tracked {
    /// From the producer.
    pub rx: mpsc::Receiver<Msg>,
    /// Where to record.
    pub shared: Arc<Shared>,
    /// The request's index in `shared.requests`.
    pub index: usize,
    /// Whether the body ended (completely, or by the deliberate abort).
    pub done: bool,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let msg = match self.rx.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(msg) => msg,
        };
        let this = &mut *self;
        let mut requests = lock(&this.shared.requests);
        let entry = requests.get_mut(this.index);
        match msg {
            Some(Msg::Data(bytes, last)) => {
                if let Some(e) = entry {
                    e.sent.extend_from_slice(&bytes);
                    e.rec.completed = last;
                }
                this.done = last;
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Some(Msg::End) => {
                if let Some(e) = entry {
                    e.rec.completed = true;
                }
                this.done = true;
                Poll::Ready(None)
            }
            Some(Msg::Fail) | None => {
                this.done = true;
                Poll::Ready(Some(Err(io::Error::other("emulated failure mid-body"))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.done {
            self.shared
                .cancelled
                .store(true, std::sync::atomic::Ordering::SeqCst);
            if let Some(e) = lock(&self.shared.requests).get_mut(self.index) {
                e.rec.cancelled = true;
            }
        }
    }
}
