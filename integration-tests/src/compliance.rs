//! The one test every receiver must pass, in the spirit of vector's `run_and_assert_source_compliance`: given a
//! receiver built from its config and a way to make it emit, [`run_receiver_compliance`] checks the contract of
//! [`llmtel_pipelines::Receiver`] from outside, through a real pipeline graph whose only exporter can be held shut:
//!
//! 1. **It refuses when the pipeline is full**: the refusal is counted as refused in [`Stats`]; a client that can
//!    be told is told with its protocol's retryable answer, and the counters agree with what clients were told; a
//!    refusal no client hears is logged; every item it accepted reaches the exporter. Nothing is lost silently.
//! 2. **It stops cleanly**: once shutdown is cancelled its serving future returns within [`STOP_BOUND`] and no
//!    handle to its [`Output`] is left, so its pipeline drains and ends.
//! 3. **It fails clearly without what it needs**: a receiver that binds a port fails to start on a taken one with
//!    a [`llmtel_pipelines::StartError`] naming itself and the address; one that reads a source (a GPU, a server
//!    it polls) starts without it, warns once, keeps serving and still stops cleanly.
//!
//! Each receiver describes itself and how it is driven with a [`Subject`]; `tests/receiver_compliance.rs` runs
//! the test for every receiver llmtel has.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use llmtel_collector::{CollectorFactory, Listeners};
use llmtel_config::{ComponentId, ExporterConfig, ReceiverConfig};
use llmtel_pipelines::{
    BoxFuture, BuildError, Exporter, Factory, Output, Receiver, Signal, Stage, StartError, Stats,
    Topology,
};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::Capture;

/// How long a receiver may take to stop once shutdown is cancelled. The OTLP receiver gives requests in flight
/// two seconds before it closes connections that are still open, so this leaves room above that.
pub const STOP_BOUND: Duration = Duration::from_secs(5);

/// How long the harness's graph gets to shut down; a receiver still serving then is aborted (and fails check 2).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the harness drives a receiver before it counts "never refused" as a failure.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(30);

/// The receiver's settings for one run of the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// Its source is there and it binds free ports.
    Normal,
    /// The address it binds is taken (check 3, for receivers that bind one).
    Taken(SocketAddr),
    /// Its source is absent (check 3, for receivers that bind no port).
    Absent,
}

/// What check 3 means for a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// It binds a port: on a taken one it must fail to start, naming the address.
    Port,
    /// It reads a source that may be absent: without it, it must warn once with a line containing `warning`, and
    /// keep serving.
    Source {
        /// Text of the one warning.
        warning: &'static str,
    },
}

/// What a receiver told the client that sent it data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The client was told its `n` items were taken.
    Accepted(usize),
    /// The client was told to retry later, with its protocol's retryable answer (gRPC UNAVAILABLE with
    /// RetryInfo, HTTP 503 with Retry-After); `n` items.
    Refused(usize),
    /// No client hears what became of the telemetry (a poller, a sampler; the LLM proxy, whose clients get their
    /// responses whatever becomes of the spans): only the receiver's counters and log tell.
    Unheard,
}

/// Where a [`Subject`] finds the receiver it drives.
#[derive(Debug, Clone, Copy)]
pub struct Running<'a> {
    /// The receiver's id in the config.
    pub id: &'a str,
    /// The addresses the receiver bound, by name (`"{id} otlp grpc"`, `"{id} listen"`).
    pub listeners: &'a Listeners,
}

/// A receiver under test, and how to drive it.
pub trait Subject: Send + Sync {
    /// Its type in the config (`otlp`, `gpu`…); the harness names it `{kind}/compliance`.
    fn kind(&self) -> &'static str;

    /// The signal of the pipeline the harness feeds from it.
    fn signal(&self) -> Signal;

    /// What check 3 is for it.
    fn needs(&self) -> Needs;

    /// Its settings for `setup`, as a YAML flow mapping.
    fn settings(&self, setup: Setup) -> String;

    /// Builds it; llmtel's own factory unless a test double stands in for its source.
    fn build(
        &self,
        setup: Setup,
        id: &ComponentId,
        cfg: &ReceiverConfig,
        listeners: &Listeners,
    ) -> Result<Box<dyn Receiver>, BuildError> {
        let _ = setup;
        CollectorFactory::new(listeners.clone()).receiver(id, cfg)
    }

    /// Makes the receiver emit once (a client request, or one sampling interval) and says what its client was
    /// told.
    fn emit(&mut self, receiver: Running<'_>) -> impl Future<Output = Answer> + Send;
}

/// Runs the three checks of this module's docs for `subject`; panics with the receiver and the check that failed.
pub async fn run_receiver_compliance<S: Subject>(mut subject: S) {
    refuses_when_full_and_stops_cleanly(&mut subject).await;
    match subject.needs() {
        Needs::Port => fails_clearly_on_a_taken_port(&subject).await,
        Needs::Source { warning } => warns_once_without_its_source(&subject, warning).await,
    }
}

/// Checks 1 and 2.
async fn refuses_when_full_and_stops_cleanly<S: Subject>(subject: &mut S) {
    let id = format!("{}/compliance", subject.kind());
    let capture = Capture::gated();
    let run = Harness::start(subject, Setup::Normal, &id, capture.clone())
        .await
        .unwrap_or_else(|e| panic!("{id}: cannot start: {e}"));

    // 1. Drive it until the full pipeline makes it refuse.
    let (mut told_accepted, mut told_refused, mut unheard) = (0usize, 0usize, false);
    let end = Instant::now() + REFUSAL_DEADLINE;
    loop {
        let receiver = Running {
            id: &id,
            listeners: &run.listeners,
        };
        match subject.emit(receiver).await {
            Answer::Accepted(n) => told_accepted += n,
            Answer::Refused(n) => told_refused += n,
            Answer::Unheard => unheard = true,
        }
        // A receiver counts a refusal before it answers, so the answer to this emit is in the tallies already.
        let counted = (run.counters)();
        if counted.refused > 0 {
            break;
        }
        assert!(
            Instant::now() < end,
            "{id}: never refused in {REFUSAL_DEADLINE:?} although its pipeline was full: {counted:?}"
        );
    }
    let counted = (run.counters)();
    if unheard {
        // No client can be told, so the log must say it.
        assert!(
            logged_warnings(&id, "is full") >= 1,
            "{id}: refused data without logging it:\n{}",
            log_lines(&id).join("\n")
        );
    } else {
        assert_eq!(
            (counted.accepted as usize, counted.refused as usize),
            (told_accepted, told_refused),
            "{id}: the counters (accepted, refused) differ from what clients were told"
        );
    }

    // 2. The backend recovers and llmtel shuts down: it stops in time and lets go of its output.
    capture.open();
    let shutdown_at = Instant::now();
    let Harness {
        topology,
        stopped,
        counters,
        ..
    } = run;
    let report = topology.shutdown(SHUTDOWN_TIMEOUT).await;
    let stopped = stopped
        .await
        .unwrap_or_else(|_| panic!("{id}: its serving future never returned"));
    let took = stopped.at.duration_since(shutdown_at);
    assert!(
        took <= STOP_BOUND,
        "{id}: took {took:?} to stop after shutdown was cancelled (at most {STOP_BOUND:?})"
    );
    assert_eq!(
        stopped.handles_left, 0,
        "{id}: still held handles to its output after it stopped"
    );
    assert!(
        report.drained,
        "{id}: the pipeline did not drain: {report:?}"
    );

    // Nothing it accepted was lost on the way (shutdown's final flush included).
    let accepted = counters().accepted as usize;
    assert_eq!(
        capture.items(subject.signal()),
        accepted,
        "{id}: the exporter got other than the {accepted} items the receiver accepted"
    );
    if !unheard {
        assert_eq!(
            accepted, told_accepted,
            "{id}: accepted more than clients were told"
        );
    }
}

/// Check 3 for a receiver that binds a port.
async fn fails_clearly_on_a_taken_port<S: Subject>(subject: &S) {
    let id = format!("{}/taken", subject.kind());
    let holder = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("{id}: bind a port to hold: {e}"));
    let taken = holder
        .local_addr()
        .unwrap_or_else(|e| panic!("{id}: the held port's address: {e}"));
    let (component, message) =
        match Harness::start(subject, Setup::Taken(taken), &id, Capture::default()).await {
            Err(BuildError::Start(StartError { component, message })) => (component, message),
            Err(other) => panic!("{id}: on the taken address {taken}, not a StartError: {other}"),
            Ok(_) => panic!("{id}: started although its address {taken} is taken"),
        };
    assert_eq!(component, id, "the error names the receiver");
    assert!(
        message.contains(&taken.to_string()),
        "{id}: the error does not name the taken address {taken}: {message}"
    );
    drop(holder);
}

/// Check 3 for a receiver that reads a source.
async fn warns_once_without_its_source<S: Subject>(subject: &S, warning: &str) {
    let id = format!("{}/absent", subject.kind());
    let run = Harness::start(subject, Setup::Absent, &id, Capture::default())
        .await
        .unwrap_or_else(|e| {
            panic!("{id}: a missing source must not stop llmtel from starting: {e}")
        });
    // Time passes on purpose: twenty sampling intervals (50 ms in the subjects' settings), in which a warning per
    // attempt would show.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut stopped = run.stopped;
    assert!(
        stopped.try_recv().is_err(),
        "{id}: stopped serving because its source is absent"
    );
    assert_eq!(
        logged_warnings(&id, warning),
        1,
        "{id}: expected one warning containing {warning:?}:\n{}",
        log_lines(&id).join("\n")
    );
    let shutdown_at = Instant::now();
    let report = run.topology.shutdown(SHUTDOWN_TIMEOUT).await;
    let stopped = stopped
        .await
        .unwrap_or_else(|_| panic!("{id}: its serving future never returned"));
    assert!(
        stopped.at.duration_since(shutdown_at) <= STOP_BOUND && stopped.handles_left == 0,
        "{id}: did not stop cleanly without its source: {stopped:?}"
    );
    assert!(report.drained, "{id}: {report:?}");
}

// === the graph around the receiver ===

/// A running graph of one pipeline: the receiver under test, wrapped in a [`Probe`], into a [`Capture`].
struct Harness {
    topology: Topology,
    listeners: Listeners,
    /// The receiver's counters now.
    counters: Box<dyn Fn() -> llmtel_pipelines::Snapshot + Send>,
    stopped: oneshot::Receiver<Stopped>,
}

impl Harness {
    /// Starts the pipeline; the smallest queues there are (one batch in the pipeline, one at the exporter), so
    /// that a held exporter fills everything in a few batches.
    async fn start<S: Subject>(
        subject: &S,
        setup: Setup,
        id: &str,
        capture: Capture,
    ) -> Result<Harness, BuildError> {
        init_log_capture();
        let signal = subject.signal();
        let yaml = format!(
            "receivers:\n  {id}: {settings}\n\
             exporters:\n  debug/capture: {{sending_queue: {{queue_size: 1}}}}\n\
             service:\n  pipelines:\n    {signal}: {{receivers: [{id}], exporters: [debug/capture], queue_size: 1}}\n  \
             telemetry: {{admin: {{enabled: false}}}}\n",
            settings = subject.settings(setup),
        );
        let cfg = llmtel_config::parse(&yaml, &|_| None)
            .unwrap_or_else(|e| panic!("{id}: the harness's config is not valid: {e:?}\n{yaml}"));
        let (tx, stopped) = oneshot::channel();
        let listeners = Listeners::default();
        let factory = HarnessFactory {
            subject,
            setup,
            listeners: listeners.clone(),
            capture,
            stopped: Mutex::new(Some(tx)),
        };
        let stats = Stats::default();
        let topology = Topology::start(&cfg, &factory, stats.clone()).await?;
        let id = id.to_owned();
        let counters = Box::new(move || {
            stats
                .get(Stage::Receiver, &id, signal)
                .unwrap_or_else(|| panic!("{id}: the graph keeps no counters for it"))
        });
        Ok(Harness {
            topology,
            listeners,
            counters,
            stopped,
        })
    }
}

/// Builds the subject's receiver, wrapped in a [`Probe`], and a [`Capture`] for the one exporter.
struct HarnessFactory<'a, S> {
    subject: &'a S,
    setup: Setup,
    listeners: Listeners,
    capture: Capture,
    stopped: Mutex<Option<oneshot::Sender<Stopped>>>,
}

impl<S: Subject> Factory for HarnessFactory<'_, S> {
    fn receiver(
        &self,
        id: &ComponentId,
        cfg: &ReceiverConfig,
    ) -> Result<Box<dyn Receiver>, BuildError> {
        let inner = self.subject.build(self.setup, id, cfg, &self.listeners)?;
        let stopped = self
            .stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| BuildError::Component {
                component: id.to_string(),
                message: "the harness builds one receiver".to_owned(),
            })?;
        Ok(Box::new(Probe { inner, stopped }))
    }

    fn exporter(
        &self,
        _id: &ComponentId,
        _cfg: &ExporterConfig,
    ) -> Result<Box<dyn Exporter>, BuildError> {
        Ok(Box::new(self.capture.clone()))
    }
}

/// When the receiver's serving future returned, and how many handles to its output it still held then.
#[derive(Debug)]
struct Stopped {
    at: Instant,
    handles_left: usize,
}

/// The receiver under test, seen from outside: it keeps one handle to the receiver's output of its own, and when
/// the serving future returns, reports when and how many other handles are left.
struct Probe {
    inner: Box<dyn Receiver>,
    stopped: oneshot::Sender<Stopped>,
}

impl Receiver for Probe {
    fn start(
        self: Box<Self>,
        output: Output,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, Result<BoxFuture<'static, ()>, StartError>> {
        let Probe { inner, stopped } = *self;
        let witness = output.clone();
        Box::pin(async move {
            let serve = inner.start(output, shutdown).await?;
            let probed: BoxFuture<'static, ()> = Box::pin(async move {
                serve.await;
                let at = Instant::now();
                // Tasks the receiver spawned may let go of their handles a moment after it returns; within the
                // bound that is still a clean stop.
                while witness.handles() > 1 && at.elapsed() < STOP_BOUND {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let handles_left = witness.handles() - 1;
                drop(witness);
                let _ = stopped.send(Stopped { at, handles_left });
            });
            Ok(probed)
        })
    }
}

// === the log ===

/// Everything logged in this test process, for the checks on warnings. Tests in one process run in parallel and
/// share it: lines are told apart by the receiver id they carry.
static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// Sends this process's `tracing` output to [`LOG`] (once; later calls do nothing).
fn init_log_capture() {
    LOG.get_or_init(|| {
        let buf: Arc<Mutex<Vec<u8>>> = Arc::default();
        let writer = LogWriter(buf.clone());
        // Fails only if the process has a subscriber already; then the log checks say what is missing.
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || writer.clone())
            .try_init();
        buf
    });
}

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Lines logged so far that name receiver `id`.
fn log_lines(id: &str) -> Vec<String> {
    let Some(buf) = LOG.get() else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&buf.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    // `id` ends a field value: `receiver=gpu/absent` or `component="gpu/absent"`.
    let named = [format!("={id} "), format!("={id}\n"), format!("=\"{id}\"")];
    text.lines()
        .filter(|l| {
            let l = format!("{l}\n");
            named.iter().any(|n| l.contains(n.as_str()))
        })
        .map(str::to_owned)
        .collect()
}

/// Warnings logged so far that name receiver `id` and contain `text`.
fn logged_warnings(id: &str, text: &str) -> usize {
    log_lines(id)
        .iter()
        .filter(|l| l.contains(" WARN ") && l.contains(text))
        .count()
}
