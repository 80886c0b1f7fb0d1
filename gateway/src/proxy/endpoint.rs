//! Replicas and their in-flight counters: least-outstanding choice under `containerConcurrency`.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::HeaderValue;
use infergate_predictor::http::ListenAddr;

use super::pool::Idle;

/// One ready predictor replica of a revision.
#[derive(Debug)]
pub struct Endpoint {
    addr: ListenAddr,
    /// Keep-alive connections to it that no request uses right now.
    idle: Idle,
    /// The revision name as a header value, for `x-infergate-revision` on responses.
    revision: HeaderValue,
    /// `containerConcurrency`: the most requests in flight at once; 0 is unlimited.
    limit: usize,
    outstanding: AtomicUsize,
}

/// One request in flight to an [`Endpoint`]; dropping it releases the slot.
#[derive(Debug)]
pub struct InFlight(Arc<Endpoint>);

/// The outcome of choosing a replica.
#[derive(Debug)]
pub(crate) enum Choice {
    Chosen(InFlight),
    /// Every candidate is at its `containerConcurrency`.
    Full,
    /// There is no candidate at all.
    Empty,
}

thread_local! {
    /// Where the next scan starts, so that ties between equally loaded replicas rotate. Per
    /// thread: a shared counter would bounce one cache line between every core on every request.
    static NEXT: Cell<usize> = const { Cell::new(0) };
}

// === impl Endpoint ===

impl Endpoint {
    /// A replica of `revision` at `addr` (TCP or a Unix socket) taking at most
    /// `container_concurrency` requests at once (0 = unlimited).
    pub fn new(
        revision: &str,
        addr: impl Into<ListenAddr>,
        container_concurrency: usize,
    ) -> Arc<Endpoint> {
        let addr = addr.into();
        // Revision names are DNS labels; a name that is no header value gets a placeholder.
        let revision = HeaderValue::from_str(revision)
            .unwrap_or_else(|_| HeaderValue::from_static("invalid-revision-name"));
        Arc::new(Endpoint {
            addr,
            idle: Idle::default(),
            revision,
            limit: container_concurrency,
            outstanding: AtomicUsize::new(0),
        })
    }

    pub fn addr(&self) -> &ListenAddr {
        &self.addr
    }

    /// The revision this replica belongs to.
    pub fn revision(&self) -> &str {
        self.revision.to_str().unwrap_or("invalid-revision-name")
    }

    /// Requests in flight through the gateway to this replica (until their response bodies end).
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// `containerConcurrency`; 0 is unlimited.
    pub fn container_concurrency(&self) -> usize {
        self.limit
    }

    pub(crate) fn idle(&self) -> &Idle {
        &self.idle
    }

    pub(crate) fn revision_header(&self) -> &HeaderValue {
        &self.revision
    }

    fn has_room(&self, outstanding: usize) -> bool {
        self.limit == 0 || outstanding < self.limit
    }

    /// Takes a slot unless the replica is at its limit; the check and the increment are one atomic
    /// step, so two racing requests never both take the last slot.
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<InFlight> {
        self.outstanding
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                self.has_room(n).then_some(n + 1)
            })
            .ok()
            .map(|_| InFlight(Arc::clone(self)))
    }
}

// === impl InFlight ===

impl InFlight {
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Takes a slot on the replica with the fewest requests in flight, skipping full ones and `avoid`
/// (a replica that just failed) unless it is the only one with room. Ties rotate.
pub(crate) fn choose(endpoints: &[Arc<Endpoint>], avoid: Option<&Arc<Endpoint>>) -> Choice {
    if endpoints.is_empty() {
        return Choice::Empty;
    }
    // A slot can be taken between the scan and the increment; rescan a bounded number of times.
    for _ in 0..=endpoints.len() {
        let best = least_outstanding(endpoints, avoid)
            .or_else(|| avoid.and_then(|_| least_outstanding(endpoints, None)));
        let Some(best) = best else {
            return Choice::Full;
        };
        if let Some(in_flight) = best.try_acquire() {
            return Choice::Chosen(in_flight);
        }
    }
    Choice::Full
}

fn least_outstanding<'e>(
    endpoints: &'e [Arc<Endpoint>],
    avoid: Option<&Arc<Endpoint>>,
) -> Option<&'e Arc<Endpoint>> {
    let n = endpoints.len();
    let start = NEXT.with(|next| {
        let start = next.get();
        next.set(start.wrapping_add(1));
        start % n
    });
    let mut best: Option<(usize, &Arc<Endpoint>)> = None;
    for i in 0..n {
        let endpoint = &endpoints[(start + i) % n];
        if avoid.is_some_and(|a| Arc::ptr_eq(a, endpoint)) {
            continue;
        }
        let outstanding = endpoint.outstanding();
        if !endpoint.has_room(outstanding) {
            continue;
        }
        if best.is_none_or(|(b, _)| outstanding < b) {
            best = Some((outstanding, endpoint));
        }
    }
    best.map(|(_, endpoint)| endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(n: usize, limit: usize) -> Vec<Arc<Endpoint>> {
        (0..n)
            .map(|i| {
                let port = u16::try_from(9000 + i).expect("small test port");
                Endpoint::new(
                    "r-00001",
                    std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                    limit,
                )
            })
            .collect()
    }

    fn chosen(choice: Choice) -> InFlight {
        match choice {
            Choice::Chosen(in_flight) => in_flight,
            other => panic!("expected a replica, got {other:?}"),
        }
    }

    #[test]
    fn least_outstanding_wins_and_ties_rotate() {
        let eps = endpoints(3, 0);
        // Load replica 0 with two requests and replica 1 with one: replica 2 must be chosen.
        let held = [
            eps[0].try_acquire(),
            eps[0].try_acquire(),
            eps[1].try_acquire(),
        ];
        let pick = chosen(choose(&eps, None));
        assert!(Arc::ptr_eq(pick.endpoint(), &eps[2]));
        assert_eq!(
            eps.iter().map(|e| e.outstanding()).collect::<Vec<_>>(),
            [2, 1, 1]
        );
        drop((pick, held));
        // With equal load, consecutive picks spread over replicas rather than hammering one.
        let mut counts = [0; 3];
        for _ in 0..30 {
            let pick = chosen(choose(&eps, None));
            let i = eps
                .iter()
                .position(|e| Arc::ptr_eq(e, pick.endpoint()))
                .expect("chosen from the list");
            counts[i] += 1;
        }
        assert_eq!(counts, [10, 10, 10]);
    }

    #[test]
    fn cap_is_never_exceeded_and_slots_come_back() {
        let eps = endpoints(2, 2);
        let held: Vec<InFlight> = (0..4).map(|_| chosen(choose(&eps, None))).collect();
        assert_eq!(eps[0].outstanding(), 2);
        assert_eq!(eps[1].outstanding(), 2);
        assert!(matches!(choose(&eps, None), Choice::Full));
        drop(held);
        assert_eq!(eps[0].outstanding() + eps[1].outstanding(), 0);
        assert!(matches!(choose(&[], None), Choice::Empty));
    }

    #[test]
    fn avoid_is_skipped_unless_it_is_the_only_choice() {
        let eps = endpoints(2, 1);
        for _ in 0..4 {
            let pick = chosen(choose(&eps, Some(&eps[0])));
            assert!(Arc::ptr_eq(pick.endpoint(), &eps[1]));
        }
        let one = &eps[..1];
        let pick = chosen(choose(one, Some(&eps[0])));
        assert!(Arc::ptr_eq(pick.endpoint(), &eps[0]));
        drop(pick);
        // The other replica is full: the avoided one is better than nothing...
        let other = eps[1].try_acquire().expect("replica 1 is idle");
        let pick = chosen(choose(&eps, Some(&eps[0])));
        assert!(Arc::ptr_eq(pick.endpoint(), &eps[0]));
        // ...and with both full there is nothing.
        assert!(matches!(choose(&eps, Some(&eps[0])), Choice::Full));
        drop((pick, other));
        assert_eq!(eps[0].outstanding() + eps[1].outstanding(), 0);
    }
}
