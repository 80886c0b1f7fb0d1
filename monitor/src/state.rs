//! One model's distributions and drift, owned by the monitoring worker (no locks).
//!
//! Each series (a feature or an output, see [`crate::extract`]) goes through two phases:
//!
//! ```text
//! Collecting: its first `reference-size` values are kept ──> Ready: the reference is binned,
//!   (skipped when the reference file gives the series)       histograms get its bin edges,
//!                                                            later values fill the window;
//!                                                            drift is scored once it is full
//! ```
//!
//! Recording only marks a series whose window changed; [`ModelState::score`] recomputes PSI and
//! JS for the marked ones (the worker calls it at most every 100 ms, and when idle or flushed).
//!
//! Values seen while collecting are observed into the histogram once its buckets are known, so
//! nothing is lost. Class counters need no reference and count from the first value.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use prometheus::{Gauge, Histogram, IntCounter};

use crate::bins::{Bins, Reference};
use crate::config::{MAX_CLASSES, MAX_SERIES, ModelMonitoring, OTHER_CLASS};
use crate::drift;
use crate::extract::{Names, Series, Values};
use crate::metrics::{Families, Role};
use crate::names::{METHOD_JS, METHOD_PSI};

/// One model's series.
pub(crate) struct ModelState {
    namespace: String,
    model: String,
    pub(crate) config: Arc<ModelMonitoring>,
    /// This model's series names, made once.
    pub(crate) names: Names,
    /// `infergate_monitor_samples_total` for this model, added to when drift is scored (so a
    /// reader that sees the count also sees the drift of those exchanges).
    samples: IntCounter,
    /// Exchanges recorded since the last [`ModelState::score`].
    unpublished: u64,
    features: BTreeMap<Arc<str>, SeriesState>,
    outputs: BTreeMap<Arc<str>, SeriesState>,
    /// Whether some series' window changed since the last [`ModelState::score`].
    dirty: bool,
    /// Whether the series cap was hit (logged once).
    capped: bool,
}

struct SeriesState {
    phase: Phase,
    /// Numeric series: `None` until the buckets are known.
    histogram: Option<Histogram>,
    /// Class series: one counter per class, at most [`MAX_CLASSES`] plus [`OTHER_CLASS`].
    classes: HashMap<String, IntCounter>,
    /// A full window changed since its drift was last scored.
    dirty: bool,
}

enum Phase {
    Collecting {
        numbers: Vec<f64>,
        classes: BTreeMap<String, u64>,
        count: usize,
    },
    Ready {
        reference: Reference,
        window: Window,
        /// PSI and JS gauges, created once the window is first full (no score before that).
        gauges: Option<(Gauge, Gauge)>,
    },
}

/// The last `capacity` values' bins, with counts per bin.
struct Window {
    bins: VecDeque<u16>,
    counts: Vec<u64>,
    capacity: usize,
}

// === impl ModelState ===

impl ModelState {
    pub(crate) fn new(
        families: &Families,
        namespace: &str,
        model: &str,
        config: Arc<ModelMonitoring>,
    ) -> ModelState {
        for (level, value) in [
            ("warning", config.drift_warning),
            ("drift", config.drift_threshold),
        ] {
            families
                .threshold
                .with_label_values(&[namespace, model, level])
                .set(value);
        }
        ModelState {
            namespace: namespace.to_owned(),
            model: model.to_owned(),
            config,
            names: Names::default(),
            samples: families.samples.with_label_values(&[namespace, model]),
            unpublished: 0,
            features: BTreeMap::new(),
            outputs: BTreeMap::new(),
            dirty: false,
            capped: false,
        }
    }

    /// Records one request's series.
    pub(crate) fn record(&mut self, families: &Families, role: Role, series: Vec<Series>) {
        for Series { name, values } in series {
            let known = self.map(role).len();
            if !self.map(role).contains_key(&name) {
                if known >= MAX_SERIES {
                    if !self.capped {
                        self.capped = true;
                        tracing::warn!(namespace = %self.namespace, model = %self.model, series = %name, max = MAX_SERIES, "Too many monitored series; further ones are not recorded.");
                    }
                    continue;
                }
                let state = self.new_series(families, role, &name, &values);
                self.map(role).insert(Arc::clone(&name), state);
            }
            let (namespace, model, config) = (&self.namespace, &self.model, &self.config);
            let ctx = Ctx {
                families,
                role,
                namespace,
                model,
                name: &name,
                config,
            };
            let state = match role {
                Role::Feature => self.features.get_mut(&name),
                Role::Output => self.outputs.get_mut(&name),
            }
            .expect("inserted above");
            state.record(&ctx, values);
            self.dirty |= state.dirty;
        }
    }

    /// Counts one exchange (published by the next [`ModelState::score`]).
    pub(crate) fn count_exchange(&mut self) {
        self.unpublished += 1;
    }

    /// Sets the PSI and JS gauges of every series whose full window changed since last time,
    /// then adds the exchanges recorded since to `infergate_monitor_samples_total`.
    pub(crate) fn score(&mut self, families: &Families) {
        if std::mem::take(&mut self.dirty) {
            self.score_series(families);
        }
        self.samples.inc_by(std::mem::take(&mut self.unpublished));
    }

    fn score_series(&mut self, families: &Families) {
        for (role, map) in [
            (Role::Feature, &mut self.features),
            (Role::Output, &mut self.outputs),
        ] {
            for (name, state) in map.iter_mut().filter(|(_, s)| s.dirty) {
                let ctx = Ctx {
                    families,
                    role,
                    namespace: &self.namespace,
                    model: &self.model,
                    name,
                    config: &self.config,
                };
                state.score(&ctx);
            }
        }
    }

    fn map(&mut self, role: Role) -> &mut BTreeMap<Arc<str>, SeriesState> {
        match role {
            Role::Feature => &mut self.features,
            Role::Output => &mut self.outputs,
        }
    }

    /// A series' initial state: ready at once when the reference file gives it (and agrees on
    /// its kind), else collecting.
    fn new_series(
        &self,
        families: &Families,
        role: Role,
        name: &str,
        values: &Values,
    ) -> SeriesState {
        let from_file = self.config.reference.as_ref().and_then(|file| match role {
            Role::Feature => file.features.get(name),
            Role::Output => file.outputs.get(name),
        });
        let from_file = from_file.filter(|r| match (&r.bins, values) {
            (Bins::Numeric { .. }, Values::Numbers(_)) | (Bins::Classes { .. }, Values::Classes(_)) => true,
            _ => {
                tracing::warn!(model = %self.model, series = %name, "The reference file gives this series the wrong kind (numbers vs classes); using its first values instead.");
                false
            }
        });
        let mut state = SeriesState {
            phase: Phase::Collecting {
                numbers: Vec::new(),
                classes: BTreeMap::new(),
                count: 0,
            },
            histogram: None,
            classes: HashMap::new(),
            dirty: false,
        };
        let ctx = Ctx {
            families,
            role,
            namespace: &self.namespace,
            model: &self.model,
            name,
            config: &self.config,
        };
        if let Some(reference) = from_file {
            state.become_ready(&ctx, reference.clone());
        } else if role == Role::Output
            && matches!(values, Values::Numbers(_))
            && let Some(buckets) = &self.config.output_buckets
        {
            state.histogram = ctx.histogram(buckets);
        }
        state
    }

    /// Removes every series of this model from the families (after publishing its count).
    pub(crate) fn remove(mut self, families: &Families) {
        self.samples.inc_by(std::mem::take(&mut self.unpublished));
        let (ns, model) = (self.namespace.as_str(), self.model.as_str());
        for (role, map) in [(Role::Feature, self.features), (Role::Output, self.outputs)] {
            for (name, state) in map {
                if let Some(h) = state.histogram {
                    let _ = families.registry.unregister(Box::new(h));
                }
                for class in state.classes.keys() {
                    let _ = families
                        .classes
                        .remove_label_values(&[ns, model, &name, class]);
                }
                for method in [METHOD_PSI, METHOD_JS] {
                    let _ = families
                        .drift(role)
                        .remove_label_values(&[ns, model, &name, method]);
                }
            }
        }
        for level in ["warning", "drift"] {
            let _ = families.threshold.remove_label_values(&[ns, model, level]);
        }
    }
}

/// What a series needs to know about where it is.
struct Ctx<'a> {
    families: &'a Families,
    role: Role,
    namespace: &'a str,
    model: &'a str,
    name: &'a str,
    config: &'a ModelMonitoring,
}

impl Ctx<'_> {
    fn histogram(&self, buckets: &[f64]) -> Option<Histogram> {
        match self
            .families
            .histogram(self.role, self.namespace, self.model, self.name, buckets)
        {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(model = %self.model, series = %self.name, error = %e, "Cannot register a value histogram.");
                None
            }
        }
    }
}

// === impl SeriesState ===

impl SeriesState {
    fn record(&mut self, ctx: &Ctx<'_>, values: Values) {
        match values {
            Values::Numbers(numbers) => {
                for v in numbers.into_iter().filter(|v| v.is_finite()) {
                    self.add(ctx, Value::Number(v));
                }
            }
            Values::Classes(classes) => {
                for class in classes {
                    let class = self.count_class(ctx, class);
                    self.add(ctx, Value::Class(class));
                }
            }
        }
        if let Phase::Ready { window, .. } = &self.phase
            && window.bins.len() == window.capacity
        {
            self.dirty = true;
        }
    }

    /// Scores drift now, when the window is full.
    fn score(&mut self, ctx: &Ctx<'_>) {
        self.dirty = false;
        if let Phase::Ready {
            reference,
            window,
            gauges,
        } = &mut self.phase
            && window.bins.len() == window.capacity
        {
            let (psi, js) = gauges.get_or_insert_with(|| {
                let gauge = |method| {
                    ctx.families.drift(ctx.role).with_label_values(&[
                        ctx.namespace,
                        ctx.model,
                        ctx.name,
                        method,
                    ])
                };
                (gauge(METHOD_PSI), gauge(METHOD_JS))
            });
            psi.set(drift::psi(&reference.counts, &window.counts));
            js.set(drift::js_distance(&reference.counts, &window.counts));
        }
    }

    /// Counts a class (bounded) and returns the label it was counted under.
    fn count_class(&mut self, ctx: &Ctx<'_>, class: String) -> String {
        let class = if self.classes.contains_key(&class) || self.classes.len() < MAX_CLASSES {
            class
        } else {
            OTHER_CLASS.to_owned()
        };
        self.classes
            .entry(class.clone())
            .or_insert_with(|| {
                ctx.families.classes.with_label_values(&[
                    ctx.namespace,
                    ctx.model,
                    ctx.name,
                    &class,
                ])
            })
            .inc();
        class
    }

    fn add(&mut self, ctx: &Ctx<'_>, value: Value) {
        match &mut self.phase {
            Phase::Collecting {
                numbers,
                classes,
                count,
            } => {
                match value {
                    Value::Number(v) => {
                        if let Some(h) = &self.histogram {
                            h.observe(v);
                        }
                        numbers.push(v);
                    }
                    Value::Class(c) => *classes.entry(c).or_default() += 1,
                }
                *count += 1;
                if *count >= ctx.config.reference_size {
                    let reference = match numbers.is_empty() {
                        false => Reference::from_values(numbers),
                        true => Some(Reference::from_classes(classes, MAX_CLASSES)),
                    };
                    let replay = std::mem::take(numbers);
                    if let Some(reference) = reference {
                        let had_histogram = self.histogram.is_some();
                        self.become_ready(ctx, reference);
                        if !had_histogram
                            && let Some(h) = &self.histogram
                            && let Phase::Ready { reference, .. } = &self.phase
                        {
                            replay
                                .iter()
                                .for_each(|&v| h.observe(reference.bins.snap(v)));
                        }
                    }
                }
            }
            Phase::Ready {
                reference, window, ..
            } => {
                let bin = match &value {
                    Value::Number(v) => {
                        if let Some(h) = &self.histogram {
                            h.observe(reference.bins.snap(*v));
                        }
                        reference.bins.of_value(*v)
                    }
                    Value::Class(c) => reference.bins.of_class(c),
                };
                window.push(bin);
            }
        }
    }

    fn become_ready(&mut self, ctx: &Ctx<'_>, reference: Reference) {
        if self.histogram.is_none()
            && let Some(edges) = reference.edges()
        {
            let buckets = match (ctx.role, &ctx.config.output_buckets) {
                (Role::Output, Some(buckets)) => buckets.as_slice(),
                _ => edges,
            };
            self.histogram = ctx.histogram(buckets);
        }
        self.phase = Phase::Ready {
            window: Window::new(reference.bins.len(), ctx.config.window),
            reference,
            gauges: None,
        };
    }
}

enum Value {
    Number(f64),
    Class(String),
}

// === impl Window ===

impl Window {
    fn new(bins: usize, capacity: usize) -> Window {
        Window {
            bins: VecDeque::with_capacity(capacity),
            counts: vec![0; bins],
            capacity,
        }
    }

    fn push(&mut self, bin: usize) {
        if self.bins.len() == self.capacity
            && let Some(old) = self.bins.pop_front()
        {
            self.counts[usize::from(old)] -= 1;
        }
        // At most MAX_CLASSES + 1 or 10 bins.
        self.bins.push_back(bin as u16);
        self.counts[bin] += 1;
    }
}

#[cfg(test)]
mod tests;
