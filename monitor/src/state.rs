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
//!
//! Recording touches no shared state: histograms and class counts accumulate in the worker and
//! [`ModelState::flush`] publishes them (the worker flushes after every drained batch, and
//! before scoring). Series are found by position: a body's series usually come in the same
//! order as the last body's, so each is matched by comparing its interned name with the one at
//! its place last time, and looked up by name only when that fails.

mod series;

use std::collections::HashMap;
use std::sync::Arc;

use prometheus::IntCounter;

use crate::bins::Bins;
use crate::config::{MAX_SERIES, ModelMonitoring};
use crate::extract::{Batch, Names, ValuesRef};
use crate::metrics::{Families, Role};
use crate::names::{METHOD_JS, METHOD_PSI};

use self::series::{Ctx, SeriesState};

/// One model's series.
pub(crate) struct ModelState {
    place: Place,
    /// This model's series names, made once.
    pub(crate) names: Names,
    /// One body's series, the buffers kept from body to body.
    pub(crate) batch: Batch,
    /// `infergate_monitor_samples_total` for this model, added to when drift is scored (so a
    /// reader that sees the count also sees the drift of those exchanges).
    samples: IntCounter,
    /// Exchanges recorded since the last [`ModelState::score`].
    unpublished: u64,
    features: Roster,
    outputs: Roster,
    /// Whether some series' window changed since the last [`ModelState::score`].
    dirty: bool,
    /// Whether values were recorded since the last [`ModelState::flush`].
    unflushed: bool,
    /// Whether the series cap was hit (logged once).
    capped: bool,
}

/// Which model, and its settings.
struct Place {
    namespace: String,
    model: String,
    config: Arc<ModelMonitoring>,
}

/// One role's series: in the order they first came, found by name through `index`.
#[derive(Default)]
struct Roster {
    series: Vec<SeriesState>,
    index: HashMap<Arc<str>, usize>,
    /// The last body's series in order: the name at each place and its series (`None`: not
    /// recorded, past the cap).
    last: Vec<(Arc<str>, Option<usize>)>,
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
            place: Place {
                namespace: namespace.to_owned(),
                model: model.to_owned(),
                config,
            },
            names: Names::default(),
            batch: Batch::default(),
            samples: families.samples.with_label_values(&[namespace, model]),
            unpublished: 0,
            features: Roster::default(),
            outputs: Roster::default(),
            dirty: false,
            unflushed: false,
            capped: false,
        }
    }

    /// Records one body's series (`batch`: [`ModelState::batch`] or another).
    pub(crate) fn record(&mut self, families: &Families, role: Role, batch: &Batch) {
        let mut place = 0;
        for (name, values) in batch.series() {
            let slot = self.find(families, role, place, name, values);
            place += 1;
            let Some(slot) = slot else { continue };
            let roster = match role {
                Role::Feature => &mut self.features,
                Role::Output => &mut self.outputs,
            };
            let ctx = Ctx::new(families, role, &self.place);
            let state = &mut roster.series[slot];
            state.record(&ctx, values);
            self.dirty |= state.dirty;
            self.unflushed = true;
        }
        self.roster(role).last.truncate(place);
    }

    /// The series of the `place`-th series of a body, created when new (up to the cap).
    fn find(
        &mut self,
        families: &Families,
        role: Role,
        place: usize,
        name: &Arc<str>,
        values: ValuesRef<'_>,
    ) -> Option<usize> {
        if let Some((last, slot)) = self.roster(role).last.get(place)
            && (Arc::ptr_eq(last, name) || **last == **name)
        {
            return *slot;
        }
        let known = self.roster(role).index.get(name).copied();
        let slot = match known {
            Some(slot) => Some(slot),
            None if self.roster(role).series.len() >= MAX_SERIES => {
                if !self.capped {
                    self.capped = true;
                    tracing::warn!(namespace = %self.place.namespace, model = %self.place.model, series = %name, max = MAX_SERIES, "Too many monitored series; further ones are not recorded.");
                }
                None
            }
            None => {
                let state = self.new_series(families, role, name, values);
                let roster = self.roster(role);
                roster.series.push(state);
                roster
                    .index
                    .insert(Arc::clone(name), roster.series.len() - 1);
                Some(roster.series.len() - 1)
            }
        };
        let last = &mut self.roster(role).last;
        let entry = (Arc::clone(name), slot);
        match last.get_mut(place) {
            Some(at) => *at = entry,
            None => last.push(entry),
        }
        slot
    }

    /// The settings it records with.
    pub(crate) fn config(&self) -> &Arc<ModelMonitoring> {
        &self.place.config
    }

    /// Counts one exchange (published by the next [`ModelState::score`]).
    pub(crate) fn count_exchange(&mut self) {
        self.unpublished += 1;
    }

    /// Publishes the histogram values and class counts recorded since the last flush.
    pub(crate) fn flush(&mut self) {
        if std::mem::take(&mut self.unflushed) {
            let all = self.features.series.iter_mut();
            all.chain(self.outputs.series.iter_mut())
                .for_each(SeriesState::flush);
        }
    }

    /// Flushes, sets the PSI and JS gauges of every series whose full window changed since last
    /// time, then adds the exchanges recorded since to `infergate_monitor_samples_total`.
    pub(crate) fn score(&mut self, families: &Families) {
        self.flush();
        if std::mem::take(&mut self.dirty) {
            self.score_series(families);
        }
        self.samples.inc_by(std::mem::take(&mut self.unpublished));
    }

    fn score_series(&mut self, families: &Families) {
        for (role, roster) in [
            (Role::Feature, &mut self.features),
            (Role::Output, &mut self.outputs),
        ] {
            let ctx = Ctx::new(families, role, &self.place);
            for state in roster.series.iter_mut().filter(|s| s.dirty) {
                state.score(&ctx);
            }
        }
    }

    fn roster(&mut self, role: Role) -> &mut Roster {
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
        name: &Arc<str>,
        values: ValuesRef<'_>,
    ) -> SeriesState {
        let from_file = self
            .place
            .config
            .reference
            .as_ref()
            .and_then(|file| match role {
                Role::Feature => file.features.get(&**name),
                Role::Output => file.outputs.get(&**name),
            });
        let from_file = from_file.filter(|r| match (&r.bins, values) {
            (Bins::Numeric { .. }, ValuesRef::Numbers(_)) | (Bins::Classes { .. }, ValuesRef::Classes(_)) => true,
            _ => {
                tracing::warn!(model = %self.place.model, series = %name, "The reference file gives this series the wrong kind (numbers vs classes); using its first values instead.");
                false
            }
        });
        let ctx = Ctx::new(families, role, &self.place);
        let numbers = matches!(values, ValuesRef::Numbers(_));
        SeriesState::new(&ctx, Arc::clone(name), from_file.cloned(), numbers)
    }

    /// Removes every series of this model from the families (after publishing its count).
    pub(crate) fn remove(mut self, families: &Families) {
        self.samples.inc_by(std::mem::take(&mut self.unpublished));
        let (ns, model) = (self.place.namespace.as_str(), self.place.model.as_str());
        for (role, roster) in [(Role::Feature, self.features), (Role::Output, self.outputs)] {
            for state in roster.series {
                let name = Arc::clone(&state.name);
                for class in state.remove(families) {
                    let _ = families
                        .classes
                        .remove_label_values(&[ns, model, &name, &class]);
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

// === impl Roster ===

impl Roster {
    /// How many series it holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.series.len()
    }
}

#[cfg(test)]
mod tests;
