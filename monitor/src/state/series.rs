//! One series' state: its phase (collecting its reference, or ready with a window), its value
//! histogram and its class counters, each accumulated in the worker until flushed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use prometheus::{Gauge, IntCounter};

use crate::bins::Reference;
use crate::config::{MAX_CLASSES, ModelMonitoring, OTHER_CLASS};
use crate::drift;
use crate::extract::{Class, ValuesRef};
use crate::metrics::{Families, Role, ValueHistogram};
use crate::names::{METHOD_JS, METHOD_PSI};

use super::Place;

/// Integer classes below this are found by index, without making their label.
const INDEXED_CLASSES: i64 = 4096;

/// What a series needs to know about where it is.
pub(super) struct Ctx<'a> {
    families: &'a Families,
    role: Role,
    namespace: &'a str,
    model: &'a str,
    config: &'a ModelMonitoring,
}

pub(super) struct SeriesState {
    pub(super) name: Arc<str>,
    phase: Phase,
    /// Numeric series: `None` until the buckets are known.
    histogram: Option<ValueHistogram>,
    /// Whether the histogram's buckets are the reference's bin edges (bin `i` is bucket `i`).
    buckets_are_bins: bool,
    /// Class series: at most [`MAX_CLASSES`] plus [`OTHER_CLASS`].
    classes: Classes,
    /// A full window changed since its drift was last scored.
    pub(super) dirty: bool,
}

enum Phase {
    Collecting {
        numbers: Vec<f64>,
        /// Values per class, by class slot.
        classes: Vec<u64>,
        count: usize,
    },
    Ready {
        reference: Reference,
        window: Window,
        /// PSI and JS gauges, created once the window is first full (no score before that).
        gauges: Option<(Gauge, Gauge)>,
    },
}

/// A class series' counters, one slot per class label.
#[derive(Default)]
struct Classes {
    slots: Vec<ClassSlot>,
    by_label: HashMap<String, usize>,
    /// The slot of integer class `i` (its label made once), for `0 <= i < INDEXED_CLASSES`.
    by_index: Vec<Option<usize>>,
}

struct ClassSlot {
    label: String,
    counter: IntCounter,
    /// Counted since the last flush.
    pending: u64,
    /// Its window bin, once the series is ready.
    bin: Option<usize>,
}

/// The last `capacity` values' bins, with counts per bin.
struct Window {
    bins: VecDeque<u16>,
    counts: Vec<u64>,
    capacity: usize,
}

// === impl Ctx ===

impl<'a> Ctx<'a> {
    pub(super) fn new(families: &'a Families, role: Role, place: &'a Place) -> Ctx<'a> {
        Ctx {
            families,
            role,
            namespace: &place.namespace,
            model: &place.model,
            config: &place.config,
        }
    }

    fn histogram(&self, name: &str, buckets: &[f64]) -> Option<ValueHistogram> {
        match self
            .families
            .histogram(self.role, self.namespace, self.model, name, buckets)
        {
            Ok(histogram) => Some(histogram),
            Err(e) => {
                tracing::warn!(model = %self.model, series = %name, error = %e, "Cannot register a value histogram.");
                None
            }
        }
    }
}

// === impl SeriesState ===

impl SeriesState {
    /// A series, ready at once with `reference` (from the reference file), else collecting. A
    /// numeric output with configured buckets gets its histogram at once.
    pub(super) fn new(
        ctx: &Ctx<'_>,
        name: Arc<str>,
        reference: Option<Reference>,
        numbers: bool,
    ) -> SeriesState {
        let mut state = SeriesState {
            name,
            phase: Phase::Collecting {
                numbers: Vec::new(),
                classes: Vec::new(),
                count: 0,
            },
            histogram: None,
            buckets_are_bins: false,
            classes: Classes::default(),
            dirty: false,
        };
        if let Some(reference) = reference {
            state.become_ready(ctx, reference);
        } else if ctx.role == Role::Output
            && numbers
            && let Some(buckets) = &ctx.config.output_buckets
        {
            state.histogram = ctx.histogram(&state.name, buckets);
        }
        state
    }

    pub(super) fn record(&mut self, ctx: &Ctx<'_>, values: ValuesRef<'_>) {
        match values {
            ValuesRef::Numbers(numbers) => {
                for &v in numbers.iter().filter(|v| v.is_finite()) {
                    self.add_number(ctx, v);
                }
            }
            ValuesRef::Classes(classes) => {
                for class in classes {
                    let slot = self.classes.slot(ctx, &self.name, class);
                    self.classes.slots[slot].pending += 1;
                    self.add_class(ctx, slot);
                }
            }
        }
        if let Phase::Ready { window, .. } = &self.phase
            && window.bins.len() == window.capacity
        {
            self.dirty = true;
        }
    }

    /// Publishes what was recorded since the last flush.
    pub(super) fn flush(&mut self) {
        if let Some(h) = &mut self.histogram {
            h.flush();
        }
        for slot in &mut self.classes.slots {
            if slot.pending > 0 {
                slot.counter.inc_by(std::mem::take(&mut slot.pending));
            }
        }
    }

    /// Scores drift now, when the window is full.
    pub(super) fn score(&mut self, ctx: &Ctx<'_>) {
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
                        &self.name,
                        method,
                    ])
                };
                (gauge(METHOD_PSI), gauge(METHOD_JS))
            });
            psi.set(drift::psi(&reference.counts, &window.counts));
            js.set(drift::js_distance(&reference.counts, &window.counts));
        }
    }

    /// Unregisters its histogram; returns its class labels (whose counters the caller removes).
    pub(super) fn remove(self, families: &Families) -> impl Iterator<Item = String> {
        if let Some(h) = self.histogram {
            h.unregister(&families.registry);
        }
        self.classes.slots.into_iter().map(|slot| slot.label)
    }

    fn add_number(&mut self, ctx: &Ctx<'_>, v: f64) {
        match &mut self.phase {
            Phase::Collecting { numbers, count, .. } => {
                if let Some(h) = &mut self.histogram {
                    h.observe(v);
                }
                numbers.push(v);
                *count += 1;
                if *count >= ctx.config.reference_size {
                    self.finish_collecting(ctx);
                }
            }
            Phase::Ready {
                reference, window, ..
            } => {
                let (bin, snapped) = reference.bins.locate(v);
                match &mut self.histogram {
                    Some(h) if self.buckets_are_bins => h.observe_in(bin, snapped),
                    Some(h) => h.observe(snapped),
                    None => {}
                }
                window.push(bin);
            }
        }
    }

    fn add_class(&mut self, ctx: &Ctx<'_>, slot: usize) {
        match &mut self.phase {
            Phase::Collecting { classes, count, .. } => {
                if classes.len() <= slot {
                    classes.resize(slot + 1, 0);
                }
                classes[slot] += 1;
                *count += 1;
                if *count >= ctx.config.reference_size {
                    self.finish_collecting(ctx);
                }
            }
            Phase::Ready {
                reference, window, ..
            } => {
                let slot = &mut self.classes.slots[slot];
                let bin = *slot
                    .bin
                    .get_or_insert_with(|| reference.bins.of_class(&slot.label));
                window.push(bin);
            }
        }
    }

    /// The reference is complete: bin it, and observe the values kept so far once the
    /// histogram has buckets.
    fn finish_collecting(&mut self, ctx: &Ctx<'_>) {
        let Phase::Collecting {
            numbers, classes, ..
        } = &mut self.phase
        else {
            return;
        };
        let reference = match numbers.is_empty() {
            false => Reference::from_values(numbers),
            true => {
                let counts: BTreeMap<String, u64> = (self.classes.slots.iter())
                    .zip(classes.iter())
                    .filter(|(_, n)| **n > 0)
                    .map(|(slot, &n)| (slot.label.clone(), n))
                    .collect();
                Some(Reference::from_classes(&counts, MAX_CLASSES))
            }
        };
        let replay = std::mem::take(numbers);
        if let Some(reference) = reference {
            let had_histogram = self.histogram.is_some();
            self.become_ready(ctx, reference);
            if !had_histogram
                && let Some(h) = &mut self.histogram
                && let Phase::Ready { reference, .. } = &self.phase
            {
                replay
                    .iter()
                    .for_each(|&v| h.observe(reference.bins.snap(v)));
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
            self.histogram = ctx.histogram(&self.name, buckets);
            self.buckets_are_bins = self.histogram.as_ref().is_some_and(|h| h.bounds() == edges);
        }
        self.phase = Phase::Ready {
            window: Window::new(reference.bins.len(), ctx.config.window),
            reference,
            gauges: None,
        };
    }
}

// === impl Classes ===

impl Classes {
    /// The slot a class is counted in (created when new; past [`MAX_CLASSES`] labels, the
    /// [`OTHER_CLASS`] slot).
    fn slot(&mut self, ctx: &Ctx<'_>, series: &str, class: &Class) -> usize {
        match class {
            Class::Index(i) if (0..INDEXED_CLASSES).contains(i) => {
                let i = *i as usize;
                if let Some(Some(slot)) = self.by_index.get(i) {
                    return *slot;
                }
                let slot = self.of_label(ctx, series, &ctx.config.class_label(i as i64));
                if self.by_index.len() <= i {
                    self.by_index.resize(i + 1, None);
                }
                self.by_index[i] = Some(slot);
                slot
            }
            Class::Index(i) => self.of_label(ctx, series, &ctx.config.class_label(*i)),
            Class::Label(label) => self.of_label(ctx, series, label),
        }
    }

    fn of_label(&mut self, ctx: &Ctx<'_>, series: &str, label: &str) -> usize {
        if let Some(&slot) = self.by_label.get(label) {
            return slot;
        }
        let label = match self.slots.len() < MAX_CLASSES {
            true => label,
            false => OTHER_CLASS,
        };
        if let Some(&slot) = self.by_label.get(label) {
            return slot;
        }
        let counter =
            ctx.families
                .classes
                .with_label_values(&[ctx.namespace, ctx.model, series, label]);
        self.slots.push(ClassSlot {
            label: label.to_owned(),
            counter,
            pending: 0,
            bin: None,
        });
        self.by_label.insert(label.to_owned(), self.slots.len() - 1);
        self.slots.len() - 1
    }
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
