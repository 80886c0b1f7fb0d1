//! What extraction produces: a [`Batch`] of named series (reused from body to body by the
//! worker), the owned [`Series`] of the public functions, and the interned series [`Names`].

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{MAX_SERIES, ModelMonitoring};

/// The values of one series, one per row.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    Numbers(Vec<f64>),
    Classes(Vec<String>),
}

/// One named series.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Interned per model (see [`Names`]): no allocation per exchange.
    pub name: Arc<str>,
    pub values: Values,
}

/// One class value: an integer class, named by `class-names` ([`ModelMonitoring::class_label`])
/// when it is recorded, or a label read as such (strings, booleans).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Class {
    Index(i64),
    Label(String),
}

/// The series of one body in flat buffers: a series is a run of `numbers` or of `classes`. The
/// worker keeps one per model and clears it for each body, so recording allocates nothing once
/// the buffers have grown.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    runs: Vec<Run>,
    numbers: Vec<f64>,
    classes: Vec<Class>,
    /// Scratch space of the one-pass reader (values of a tensor before they are split).
    pub(super) scratch: Vec<f64>,
}

#[derive(Debug)]
struct Run {
    name: Arc<str>,
    kind: Kind,
    start: usize,
    end: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Numbers,
    Classes,
}

/// The values of one series of a [`Batch`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum ValuesRef<'a> {
    Numbers(&'a [f64]),
    Classes(&'a [Class]),
}

/// Values a [`Batch`] keeps room for between bodies (512 KiB of numbers).
const MAX_KEPT: usize = 1 << 16;

/// A model's series names, made once: `label`, `input[3]`, `probs:argmax`. At most
/// [`MAX_NAMED_TENSORS`] tensors are remembered; names of further ones are made each time.
/// Bodies name their tensors in the same order, so each lookup first tries the tensor after the
/// last one found, and hashes the name only when that is not it.
#[derive(Debug, Default)]
pub(crate) struct Names {
    tensors: Vec<TensorNames>,
    index: HashMap<String, usize>,
    /// The tensor expected next.
    next: usize,
}

/// Tensors whose series names [`Names`] remembers.
const MAX_NAMED_TENSORS: usize = 256;

/// The series names of one tensor, remembered.
#[derive(Debug)]
pub(crate) struct TensorNames {
    whole: Arc<str>,
    argmax: Option<Arc<str>>,
    elements: Vec<Arc<str>>,
}

/// The series names of one tensor, looked up once for all its series.
pub(crate) enum TensorNamesRef<'n, 't> {
    Remembered(&'n mut TensorNames),
    Made(&'t str),
}

// === impl Batch ===

impl Batch {
    /// Empties the batch, keeping its buffers.
    pub(crate) fn clear(&mut self) {
        self.runs.clear();
        self.numbers.clear();
        self.classes.clear();
    }

    /// Drops buffers grown past [`MAX_KEPT`] values by one large body, so a model does not keep
    /// the memory of its largest body.
    pub(crate) fn trim(&mut self) {
        if self.numbers.capacity().max(self.scratch.capacity()) > MAX_KEPT
            || self.classes.capacity() > MAX_KEPT
        {
            *self = Batch::default();
        }
    }

    /// Adds a number series.
    pub(crate) fn push_numbers(&mut self, name: Arc<str>, values: impl IntoIterator<Item = f64>) {
        let start = self.numbers.len();
        self.numbers.extend(values);
        self.runs.push(Run {
            name,
            kind: Kind::Numbers,
            start,
            end: self.numbers.len(),
        });
    }

    /// Adds a class series.
    pub(crate) fn push_classes(&mut self, name: Arc<str>, values: impl IntoIterator<Item = Class>) {
        let start = self.classes.len();
        self.classes.extend(values);
        self.runs.push(Run {
            name,
            kind: Kind::Classes,
            start,
            end: self.classes.len(),
        });
    }

    /// The series, in the order they were added.
    pub(crate) fn series(&self) -> impl Iterator<Item = (&Arc<str>, ValuesRef<'_>)> {
        self.runs.iter().map(|run| {
            let values = match run.kind {
                Kind::Numbers => ValuesRef::Numbers(&self.numbers[run.start..run.end]),
                Kind::Classes => ValuesRef::Classes(&self.classes[run.start..run.end]),
            };
            (&run.name, values)
        })
    }

    /// The series as owned values, integer classes named by `config`.
    pub(crate) fn to_series(&self, config: &ModelMonitoring) -> Vec<Series> {
        self.series()
            .map(|(name, values)| Series {
                name: Arc::clone(name),
                values: match values {
                    ValuesRef::Numbers(v) => Values::Numbers(v.to_vec()),
                    ValuesRef::Classes(v) => {
                        Values::Classes(v.iter().map(|c| c.label(config)).collect())
                    }
                },
            })
            .collect()
    }
}

// === impl Class ===

impl Class {
    /// The `class` label it is counted under (before the [`crate::config::MAX_CLASSES`] cap).
    pub(crate) fn label(&self, config: &ModelMonitoring) -> String {
        match self {
            Class::Index(i) => config.class_label(*i),
            Class::Label(label) => label.clone(),
        }
    }
}

// === impl Names ===

impl Names {
    /// The names of `tensor`'s series: one lookup, then any number of series.
    pub(crate) fn tensor<'n, 't>(&'n mut self, tensor: &'t str) -> TensorNamesRef<'n, 't> {
        let expected = self.tensors.get(self.next).filter(|t| *t.whole == *tensor);
        let at = match expected
            .map(|_| self.next)
            .or_else(|| self.index.get(tensor).copied())
        {
            Some(at) => at,
            None if self.tensors.len() >= MAX_NAMED_TENSORS => return TensorNamesRef::Made(tensor),
            None => {
                self.tensors.push(TensorNames {
                    whole: Arc::from(tensor),
                    argmax: None,
                    elements: Vec::new(),
                });
                self.index.insert(tensor.to_owned(), self.tensors.len() - 1);
                self.tensors.len() - 1
            }
        };
        self.next = match at + 1 {
            next if next == self.tensors.len() => 0,
            next => next,
        };
        TensorNamesRef::Remembered(&mut self.tensors[at])
    }
}

// === impl TensorNamesRef ===

impl TensorNamesRef<'_, '_> {
    /// The series name of the whole tensor (rank 0 or 1).
    pub(crate) fn whole(&self) -> Arc<str> {
        match self {
            TensorNamesRef::Remembered(t) => Arc::clone(&t.whole),
            TensorNamesRef::Made(tensor) => Arc::from(*tensor),
        }
    }

    /// The series name of element `j` of a row: `tensor[j]`.
    pub(crate) fn element(&mut self, j: usize) -> Arc<str> {
        match self {
            TensorNamesRef::Remembered(t) if j < MAX_SERIES => {
                while t.elements.len() <= j {
                    let k = t.elements.len();
                    t.elements.push(Arc::from(format!("{}[{k}]", t.whole)));
                }
                Arc::clone(&t.elements[j])
            }
            TensorNamesRef::Remembered(t) => Arc::from(format!("{}[{j}]", t.whole)),
            TensorNamesRef::Made(tensor) => Arc::from(format!("{tensor}[{j}]")),
        }
    }

    /// The series name of an output's argmax: `tensor:argmax`.
    pub(crate) fn argmax(&mut self) -> Arc<str> {
        match self {
            TensorNamesRef::Remembered(t) => Arc::clone(
                t.argmax
                    .get_or_insert_with(|| Arc::from(format!("{}:argmax", t.whole))),
            ),
            TensorNamesRef::Made(tensor) => Arc::from(format!("{tensor}:argmax")),
        }
    }
}
