//! [`Monitor`]: the hot-path handle, its sampling, the bounded side queue and the worker.
//!
//! ```text
//! handler ── monitor.sample(ns, model, path) ──> Option<Recorder>       (atomic load, no lock)
//!         ── recorder.tee(req headers, req body, response) ──> Response<TeeBody<B>>
//!   TeeBody: frames pass through unchanged; copies kept (refcounted Bytes, up to a cap)
//!   end of body ── try_send ──> bounded queue ──> worker thread: decode, histograms, drift
//!                     └─ full: dropped, counted
//! ```
//!
//! A busy worker drains the queue in batches every [`DRAIN_INTERVAL`] without waiting on it, so
//! a request's `try_send` never wakes a thread (a futex wake and a context switch per request
//! cost the gateway a third of its requests/s at c=64 on 2 cores); an idle worker waits on the
//! queue and the first sample of a busy spell wakes it.
//!
//! The worker scores drift (PSI, JS) at most every [`SCORE_INTERVAL`] while exchanges keep
//! coming, within [`SCORE_INTERVAL`] of the last one when they stop, and before answering a
//! flush: never more stale than a tenth of a second, far below any scrape interval. The
//! `infergate_monitor_samples_total` count is published with the scores, so whoever reads a
//! count also reads the drift of those exchanges.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, TrySendError};
use http::{HeaderMap, Response};
use prometheus::{IntCounter, Registry};

use crate::config::ModelMonitoring;
use crate::extract::{self, Protocol};
use crate::metrics::{Families, Role};
use crate::state::ModelState;
use crate::tee::{Capture, TeeBody};

/// The header that gives a V2 body's JSON length when binary tensor data follows it.
const HEADER_LENGTH: &str = "inference-header-content-length";

/// How often the worker rescores drift while exchanges keep coming.
const SCORE_INTERVAL: Duration = Duration::from_millis(100);
/// How often a busy worker drains the sample queue: the queue's capacity over this is the most
/// samples per second kept (1024 / 5 ms: about 200,000/s).
const DRAIN_INTERVAL: Duration = Duration::from_millis(5);

/// How the monitor runs.
#[derive(Clone, Debug)]
pub struct MonitorConfig {
    /// Samples waiting for the worker; more are dropped and counted. Default 1024.
    pub queue_capacity: usize,
    /// Largest response body copied for monitoring, in bytes; a larger one is passed through
    /// and counted as `body_too_large`. Default 4 MiB.
    pub max_response_bytes: usize,
    /// Settings for models never configured (the standalone proxy monitors whatever passes);
    /// `None`: such models are not monitored (the gateway configures every model). Default `None`.
    pub unknown_models: Option<ModelMonitoring>,
    /// Most unconfigured models monitored; past it they are counted as `model_cap`. Default 64.
    pub max_unknown_models: usize,
}

/// Monitoring for many models. Cheap to clone; every clone records into the same families.
#[derive(Clone, Debug)]
pub struct Monitor {
    inner: Arc<Inner>,
}

/// What [`Monitor::sample`] hands out for a request it records: give it the exchange with
/// [`Recorder::tee`].
#[derive(Debug)]
pub struct Recorder {
    entry: Arc<Entry>,
    protocol: Protocol,
    monitor: Monitor,
}

#[derive(Debug)]
struct Inner {
    models: ArcSwap<Models>,
    /// Held only to add an unconfigured model (standalone proxy), never on the hot path of a
    /// known model.
    adding: Mutex<()>,
    config: MonitorConfig,
    unknown: Option<Arc<ModelMonitoring>>,
    samples: Sender<Sample>,
    control: Sender<Control>,
    families: Families,
}

/// namespace -> model -> entry (nested so lookups borrow `&str`).
type Models = HashMap<String, HashMap<String, Arc<Entry>>>;

/// One monitored model, as the hot path sees it.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) namespace: String,
    pub(crate) model: String,
    pub(crate) config: Arc<ModelMonitoring>,
    /// The sampling ratio in 1/2^32 units.
    ratio: u64,
    seen: AtomicU64,
    configured: bool,
    pub(crate) dropped_queue_full: IntCounter,
    pub(crate) dropped_too_large: IntCounter,
    pub(crate) dropped_incomplete: IntCounter,
}

/// One recorded exchange, for the worker.
pub(crate) struct Sample {
    pub(crate) entry: Arc<Entry>,
    pub(crate) protocol: Protocol,
    pub(crate) request: Bytes,
    pub(crate) request_header_len: Option<usize>,
    pub(crate) response: Vec<Bytes>,
    pub(crate) response_header_len: Option<usize>,
}

enum Control {
    /// Forget the models not in the set.
    Retain(HashSet<(String, String)>),
    /// Process every queued sample, then answer.
    Flush(std::sync::mpsc::SyncSender<()>),
}

// === impl MonitorConfig ===

impl MonitorConfig {
    pub const fn default_queue_capacity() -> usize {
        1024
    }
    pub const fn default_max_response_bytes() -> usize {
        4 << 20
    }
    pub const fn default_max_unknown_models() -> usize {
        64
    }
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            queue_capacity: Self::default_queue_capacity(),
            max_response_bytes: Self::default_max_response_bytes(),
            unknown_models: None,
            max_unknown_models: Self::default_max_unknown_models(),
        }
    }
}

// === impl Monitor ===

impl Monitor {
    /// Registers the monitoring families into `registry` and starts the worker thread (it stops
    /// when the last clone of the monitor, and of its recorders, is dropped).
    pub fn new(config: MonitorConfig, registry: &Registry) -> prometheus::Result<Monitor> {
        let families = Families::register(registry)?;
        let (samples, sample_rx) = crossbeam_channel::bounded(config.queue_capacity.max(1));
        let (control, control_rx) = crossbeam_channel::unbounded();
        let worker_families = families.clone();
        std::thread::Builder::new()
            .name("infergate-monitor".to_owned())
            .spawn(move || work(&sample_rx, &control_rx, &worker_families))
            .map_err(|e| {
                prometheus::Error::Msg(format!("cannot start the monitoring worker: {e}"))
            })?;
        Ok(Monitor {
            inner: Arc::new(Inner {
                models: ArcSwap::from_pointee(Models::new()),
                adding: Mutex::new(()),
                unknown: config.unknown_models.clone().map(Arc::new),
                config,
                samples,
                control,
                families,
            }),
        })
    }

    /// Sets the monitored models, `(namespace, model, settings)`; the others are forgotten
    /// (their series removed). A model whose settings did not change keeps its state.
    pub fn configure(&self, models: impl IntoIterator<Item = (String, String, ModelMonitoring)>) {
        let current = self.inner.models.load();
        let mut next = Models::new();
        let mut keep = HashSet::new();
        for (namespace, model, config) in models {
            let entry = current
                .get(&namespace)
                .and_then(|m| m.get(&model))
                .filter(|e| e.configured && *e.config == config)
                .cloned()
                .unwrap_or_else(|| Arc::new(self.entry(&namespace, &model, config, true)));
            keep.insert((namespace.clone(), model.clone()));
            next.entry(namespace).or_default().insert(model, entry);
        }
        self.inner.models.store(Arc::new(next));
        let _ = self.inner.control.send(Control::Retain(keep));
    }

    /// Whether to record this request: `Some` for an inference path (V1 `:predict`, V2
    /// `/infer`) of a monitored model picked by its sampling ratio. Lock-free for configured
    /// models: one atomic load of the model table and, below a ratio of 1, one atomic add.
    pub fn sample(&self, namespace: &str, model: &str, path: &str) -> Option<Recorder> {
        let protocol = Protocol::of_inference_path(path)?;
        let models = self.inner.models.load();
        let entry = match models.get(namespace).and_then(|m| m.get(model)) {
            Some(entry) => Arc::clone(entry),
            None => {
                drop(models);
                self.add_unknown(namespace, model)?
            }
        };
        entry.pick().then(|| Recorder {
            entry,
            protocol,
            monitor: self.clone(),
        })
    }

    /// Waits until the worker has processed every sample queued so far (tests, shutdown).
    /// `false` when `timeout` passed first.
    pub fn flush(&self, timeout: Duration) -> bool {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        if self.inner.control.send(Control::Flush(tx)).is_err() {
            return false;
        }
        rx.recv_timeout(timeout).is_ok()
    }

    pub(crate) fn send(&self, sample: Sample) {
        match self.inner.samples.try_send(sample) {
            Ok(()) => {}
            Err(TrySendError::Full(sample) | TrySendError::Disconnected(sample)) => {
                sample.entry.dropped_queue_full.inc();
            }
        }
    }

    pub(crate) fn max_response_bytes(&self) -> usize {
        self.inner.config.max_response_bytes
    }

    fn entry(
        &self,
        namespace: &str,
        model: &str,
        config: ModelMonitoring,
        configured: bool,
    ) -> Entry {
        let dropped = |reason: &str| {
            self.inner
                .families
                .dropped
                .with_label_values(&[namespace, model, reason])
        };
        Entry {
            namespace: namespace.to_owned(),
            model: model.to_owned(),
            ratio: (config.sample_ratio.clamp(0.0, 1.0) * (1u64 << 32) as f64).round() as u64,
            config: Arc::new(config),
            seen: AtomicU64::new(0),
            configured,
            dropped_queue_full: dropped("queue_full"),
            dropped_too_large: dropped("body_too_large"),
            dropped_incomplete: dropped("body_incomplete"),
        }
    }

    /// Adds a model nobody configured, with the unknown-model settings, up to the cap.
    fn add_unknown(&self, namespace: &str, model: &str) -> Option<Arc<Entry>> {
        let settings = self.inner.unknown.as_ref()?;
        let _adding = self.inner.adding.lock().ok()?;
        let current = self.inner.models.load();
        if let Some(entry) = current.get(namespace).and_then(|m| m.get(model)) {
            return Some(Arc::clone(entry));
        }
        let unknown = current
            .values()
            .flat_map(HashMap::values)
            .filter(|e| !e.configured)
            .count();
        if unknown >= self.inner.config.max_unknown_models {
            self.inner
                .families
                .dropped
                .with_label_values(&[namespace, "", "model_cap"])
                .inc();
            return None;
        }
        let entry = Arc::new(self.entry(namespace, model, (**settings).clone(), false));
        let mut next = (**current).clone();
        next.entry(namespace.to_owned())
            .or_default()
            .insert(model.to_owned(), Arc::clone(&entry));
        self.inner.models.store(Arc::new(next));
        Some(entry)
    }
}

// === impl Entry ===

impl Entry {
    /// Picks exactly `ratio` of the calls, evenly spread (no RNG): call `n` is picked when
    /// `floor((n + 1) · ratio)` passes `floor(n · ratio)`.
    fn pick(&self) -> bool {
        match self.ratio {
            0 => false,
            r if r >= 1 << 32 => true,
            r => {
                let n = u128::from(self.seen.fetch_add(1, Ordering::Relaxed));
                let r = u128::from(r);
                ((n + 1) * r) >> 32 != (n * r) >> 32
            }
        }
    }
}

// === impl Recorder ===

impl Recorder {
    /// Wraps `response`'s body so that, once it has been streamed to the client, the exchange
    /// (`request_body` as sent upstream, the response body as received) goes to the worker.
    /// Only 2xx responses are recorded; others pass through untouched.
    pub fn tee<B: hyper::body::Body>(
        self,
        request_headers: &HeaderMap,
        request_body: Bytes,
        response: Response<B>,
    ) -> Response<TeeBody<B>> {
        let (parts, body) = response.into_parts();
        let capture = parts.status.is_success().then(|| Capture {
            sample: Sample {
                entry: self.entry,
                protocol: self.protocol,
                request: request_body,
                request_header_len: header_len(request_headers),
                response: Vec::new(),
                response_header_len: header_len(&parts.headers),
            },
            len: 0,
            monitor: self.monitor,
        });
        Response::from_parts(parts, TeeBody::new(body, capture))
    }
}

fn header_len(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(HEADER_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

// === the worker ===

fn work(samples: &Receiver<Sample>, control: &Receiver<Control>, families: &Families) {
    let mut models = ModelStates::new();
    let mut scored = Instant::now();
    // Whether exchanges were recorded since drift was last scored.
    let mut pending = false;
    // Whether the last wait ended with a sample: the start of a busy spell.
    let mut woken = false;
    loop {
        // Drain what queued since the last round: under load the worker takes samples in
        // batches every DRAIN_INTERVAL, so a request never pays for waking it.
        let mut drained = usize::from(std::mem::take(&mut woken));
        loop {
            match samples.try_recv() {
                Ok(sample) => {
                    record(&mut models, families, sample);
                    drained += 1;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        // Publish the batch's histograms and class counts before sleeping.
        flush(&mut models);
        pending |= drained > 0;
        if pending && scored.elapsed() >= SCORE_INTERVAL {
            score(&mut models, families);
            (pending, scored) = (false, Instant::now());
        }
        let msg = if drained > 0 {
            // Busy (samples came since the last round, or one just woke the worker): sleep a
            // round unless a control message comes first. Senders never wake the worker here
            // (nobody waits on the sample queue). Going back to the queue right after a wake
            // would make every sample of a slow, steady stream (c=1) wake the worker again.
            match control.recv_timeout(DRAIN_INTERVAL) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        } else {
            // Idle: block until the next sample (one wake-up per idle spell), a control message,
            // or the time to score what is pending.
            let wait = match pending {
                true => SCORE_INTERVAL.saturating_sub(scored.elapsed()),
                false => Duration::from_secs(3600),
            };
            crossbeam_channel::select! {
                recv(samples) -> sample => match sample {
                    Ok(sample) => {
                        // Flushed with the rest of its batch at the top of the loop.
                        record(&mut models, families, sample);
                        (pending, woken) = (true, true);
                        None
                    }
                    Err(_) => return,
                },
                recv(control) -> msg => match msg {
                    Ok(msg) => Some(msg),
                    Err(_) => return,
                },
                default(wait) => None,
            }
        };
        match msg {
            Some(Control::Retain(keep)) => {
                for (namespace, states) in &mut models {
                    let gone: Vec<String> = states
                        .keys()
                        .filter(|m| !keep.contains(&(namespace.clone(), (*m).clone())))
                        .cloned()
                        .collect();
                    for model in gone {
                        if let Some(state) = states.remove(&model) {
                            state.remove(families);
                        }
                    }
                }
                models.retain(|_, states| !states.is_empty());
            }
            Some(Control::Flush(done)) => {
                while let Ok(sample) = samples.try_recv() {
                    record(&mut models, families, sample);
                }
                score(&mut models, families);
                (pending, scored) = (false, Instant::now());
                let _ = done.send(());
            }
            None => {}
        }
    }
}

/// The worker's models: namespace -> model -> state (nested so lookups borrow `&str`).
type ModelStates = HashMap<String, HashMap<String, ModelState>>;

fn states(models: &mut ModelStates) -> impl Iterator<Item = &mut ModelState> {
    models.values_mut().flat_map(HashMap::values_mut)
}

fn flush(models: &mut ModelStates) {
    states(models).for_each(ModelState::flush);
}

/// Flushes and scores every model (see [`ModelState::score`]).
fn score(models: &mut ModelStates, families: &Families) {
    for state in states(models) {
        state.score(families);
    }
}

fn record(models: &mut ModelStates, families: &Families, sample: Sample) {
    let entry = &sample.entry;
    let (ns, model) = (entry.namespace.as_str(), entry.model.as_str());
    if !models.contains_key(ns) {
        models.insert(ns.to_owned(), HashMap::new());
    }
    let states = models.get_mut(ns).expect("inserted above");
    let reset = states.get(model).is_some_and(|state| {
        !Arc::ptr_eq(state.config(), &entry.config) && **state.config() != *entry.config
    });
    if reset && let Some(old) = states.remove(model) {
        old.remove(families);
    }
    if !states.contains_key(model) {
        let state = ModelState::new(families, ns, model, Arc::clone(&entry.config));
        states.insert(model.to_owned(), state);
    }
    let state = states.get_mut(model).expect("inserted above");
    state.count_exchange();
    let unparsable = |part: &str, reason: &str| {
        families
            .unparsable
            .with_label_values(&[ns, model, part, reason])
            .inc();
    };
    // The batch is the state's, lent out while the state records from it.
    let mut batch = std::mem::take(&mut state.batch);
    let features = extract::features_into(
        sample.protocol,
        &sample.request,
        sample.request_header_len,
        &mut state.names,
        &mut batch,
    );
    match features {
        Ok(()) => state.record(families, Role::Feature, &batch),
        Err(e) => unparsable("request", e.0),
    }
    let response = match sample.response.as_slice() {
        [one] => one.clone(),
        many => Bytes::from(many.concat()),
    };
    let outputs = extract::outputs_into(
        sample.protocol,
        &response,
        sample.response_header_len,
        &entry.config,
        &mut state.names,
        &mut batch,
    );
    match outputs {
        Ok(()) => state.record(families, Role::Output, &batch),
        Err(e) => unparsable("response", e.0),
    }
    batch.trim();
    state.batch = batch;
}

#[cfg(test)]
mod tests;
