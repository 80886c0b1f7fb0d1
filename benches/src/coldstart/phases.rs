//! Where a cold start's time goes, read from the gateway's log.
//!
//! `infergate serve` (run with `RUST_LOG=info,infergate_gateway::pods::child=debug`) logs one
//! line per step of a replica's start, each with a UTC timestamp in microseconds and the replica's
//! pod name (`revision=default/iris-predictor-00001`):
//!
//! ```text
//! Started predictor process.      the gateway spawned the child (debug level)
//! Listening; loading the model.   the child runs: exec, dynamic linking, runtime, socket bound
//! Model loaded and warmed up.     ONNX Runtime loaded, session built, one warm-up inference
//! Predictor is ready.             the gateway read the child's ready line
//! ```
//!
//! With the client's own wall-clock times of sending the request and reading the whole answer,
//! these split a cold start into the gateway's reaction, the process's start and the way back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The `RUST_LOG` the benchmark gives the gateway so that every step is logged.
pub(super) const GATEWAY_RUST_LOG: &str = "info,infergate_gateway::pods::child=debug";

const SPAWNED: &str = "Started predictor process.";
const LISTENING: &str = "Listening; loading the model.";
const LOADED: &str = "Model loaded and warmed up.";
const READY: &str = "Predictor is ready.";

/// One step of a replica's start, as the gateway logged it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Event {
    pub(super) at: SystemTime,
    pub(super) step: Step,
    /// The pod's name without its namespace, e.g. `iris-predictor-00001`.
    pub(super) revision: String,
    /// `pid=` of the spawn line.
    pub(super) pid: Option<u32>,
    /// `seconds=` of the model-loaded line: the predictor's own timing of its load.
    pub(super) seconds: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Spawned,
    Listening,
    Loaded,
    Ready,
}

/// A cold start split in parts, in milliseconds; a part is `None` when its log line is missing.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Phases {
    /// Request sent → the gateway spawned the predictor (activator, poke, decision, spawn).
    pub request_to_spawn_ms: Option<f64>,
    /// Spawn → the predictor logged that it listens (exec, linking, async runtime, bind).
    pub spawn_to_listening_ms: Option<f64>,
    /// Listening → model loaded and warmed up (ONNX Runtime load, sessions, warm-up).
    pub model_load_ms: Option<f64>,
    /// Loaded → the gateway read the ready line.
    pub loaded_to_ready_line_ms: Option<f64>,
    /// Ready line read → the whole answer at the client (controller, activator release, proxy,
    /// the inference itself).
    pub ready_line_to_response_ms: Option<f64>,
    /// Spawn → ready line read: the process's part of the cold start.
    pub spawn_to_ready_line_ms: Option<f64>,
    /// The predictor's own timing of its model load (`seconds=` of its log line), in ms.
    pub predictor_load_ms: Option<f64>,
    /// The new process's pid (`pid=` of the spawn line).
    pub pid: Option<u32>,
}

/// Reads every start step of every replica from the gateway's log text. Lines that are not
/// such steps (or do not parse) are skipped.
pub(super) fn events(log: &str) -> Vec<Event> {
    log.lines().filter_map(event).collect()
}

fn event(line: &str) -> Option<Event> {
    let step = if line.contains(SPAWNED) {
        Step::Spawned
    } else if line.contains(LISTENING) {
        Step::Listening
    } else if line.contains(LOADED) {
        Step::Loaded
    } else if line.contains(READY) {
        Step::Ready
    } else {
        return None;
    };
    let at = parse_timestamp(line.split_whitespace().next()?)?;
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|token| token.strip_prefix(name)?.strip_prefix('='))
    };
    let pod = field("revision")?;
    // Pod names carry the namespace (`default/iris-predictor-00001`); revisions do not.
    let revision = pod.rsplit_once('/').map_or(pod, |(_, r)| r).to_owned();
    Some(Event {
        at,
        step,
        revision,
        pid: field("pid").and_then(|p| p.parse().ok()),
        seconds: field("seconds").and_then(|s| s.parse().ok()),
    })
}

/// Splits the cold start of `revision` whose request left at `sent` and whose answer was read
/// whole at `received`, from the events between those two times (the last of each step).
pub(super) fn split(
    events: &[Event],
    revision: &str,
    sent: SystemTime,
    received: SystemTime,
) -> Phases {
    let last = |step: Step| {
        events
            .iter()
            .rfind(|e| e.step == step && e.revision == revision && e.at >= sent && e.at <= received)
    };
    let spawned = last(Step::Spawned);
    let listening = last(Step::Listening);
    let loaded = last(Step::Loaded);
    let ready = last(Step::Ready);
    let at = |e: Option<&Event>| e.map(|e| e.at);
    Phases {
        request_to_spawn_ms: between(Some(sent), at(spawned)),
        spawn_to_listening_ms: between(at(spawned), at(listening)),
        model_load_ms: between(at(listening), at(loaded)),
        loaded_to_ready_line_ms: between(at(loaded), at(ready)),
        ready_line_to_response_ms: between(at(ready), Some(received)),
        spawn_to_ready_line_ms: between(at(spawned), at(ready)),
        predictor_load_ms: loaded.and_then(|e| e.seconds).map(|s| s * 1e3),
        pid: spawned.and_then(|e| e.pid),
    }
}

/// `to − from` in ms, when both are known (negative when the clock stepped back).
fn between(from: Option<SystemTime>, to: Option<SystemTime>) -> Option<f64> {
    let (from, to) = (from?, to?);
    Some(match to.duration_since(from) {
        Ok(d) => d.as_secs_f64() * 1e3,
        Err(e) => -e.duration().as_secs_f64() * 1e3,
    })
}

/// An RFC 3339 UTC timestamp as `tracing` writes it: `2026-11-23T08:23:45.797909Z`.
fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.splitn(3, '-');
    let year: i64 = date.next()?.parse().ok()?;
    let month: u32 = date.next()?.parse().ok()?;
    let day: u32 = date.next()?.parse().ok()?;
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut hms = hms.splitn(3, ':');
    let hours: u64 = hms.next()?.parse().ok()?;
    let minutes: u64 = hms.next()?.parse().ok()?;
    let seconds: u64 = hms.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hours > 23 || minutes > 59 {
        return None;
    }
    let digits = fraction.len().min(9);
    let nanos: u64 = fraction.get(..digits)?.parse().ok()?;
    let nanos = nanos * 10u64.pow(u32::try_from(9 - digits).ok()?);
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    let secs = days * 86_400 + hours * 3_600 + minutes * 60 + seconds;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_nanos(nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as `infergate serve` wrote them during a cold start (trimmed of fields not read).
    const LOG: &str = "\
2026-11-23T08:23:45.787514Z  INFO infergate_gateway::controller: Scaling revision. revision=iris-predictor-00001 from=0 to=1 ready=0
2026-11-23T08:23:45.797909Z DEBUG infergate_gateway::pods::child: Started predictor process. revision=default/iris-predictor-00001 replica=1 pid=15931
2026-11-23T08:23:45.798000Z DEBUG infergate_gateway::pods::child: Started predictor process. revision=default/mlp-predictor-00001 replica=4 pid=15932
2026-11-23T08:23:45.807375Z  INFO infergate::pod: Listening; loading the model. address=unix:/tmp/x/1.sock model=iris revision=default/iris-predictor-00001 replica=1
2026-11-23T08:23:45.893466Z  INFO infergate::pod: Model loaded and warmed up. model=iris format=onnx workers=2 seconds=0.085771066 revision=default/iris-predictor-00001 replica=1
2026-11-23T08:23:45.900000Z  INFO infergate_gateway::pods::supervisor: Predictor is ready. revision=default/iris-predictor-00001 replica=1 addr=unix:/tmp/x/1.sock
not a log line
";

    fn at(text: &str) -> SystemTime {
        parse_timestamp(text).expect("a valid timestamp")
    }

    #[test]
    fn timestamps_parse_to_unix_time() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
        let t = at("2026-11-23T08:23:45.797909Z");
        let since = t.duration_since(UNIX_EPOCH).expect("after 1970");
        assert_eq!(since.as_secs(), 20_780 * 86_400 + 8 * 3_600 + 23 * 60 + 45);
        assert_eq!(since.subsec_nanos(), 797_909_000);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for bad in ["2026-13-01T00:00:00Z", "2026-11-23 08:00:00", "INFO", ""] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn events_are_the_start_steps_of_each_pod() {
        let events = events(LOG);
        let steps: Vec<(Step, &str)> = events
            .iter()
            .map(|e| (e.step, e.revision.as_str()))
            .collect();
        assert_eq!(
            steps,
            [
                (Step::Spawned, "iris-predictor-00001"),
                (Step::Spawned, "mlp-predictor-00001"),
                (Step::Listening, "iris-predictor-00001"),
                (Step::Loaded, "iris-predictor-00001"),
                (Step::Ready, "iris-predictor-00001"),
            ]
        );
        assert_eq!(events[0].pid, Some(15_931));
        assert_eq!(events[3].seconds, Some(0.085_771_066));
    }

    #[test]
    fn a_cold_start_splits_into_its_parts() {
        let events = events(LOG);
        let sent = at("2026-11-23T08:23:45.780000Z");
        let received = at("2026-11-23T08:23:45.905000Z");
        let p = split(&events, "iris-predictor-00001", sent, received);
        let close = |got: Option<f64>, want: f64| {
            let got = got.expect("the part is known");
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        };
        close(p.request_to_spawn_ms, 17.909);
        close(p.spawn_to_listening_ms, 9.466);
        close(p.model_load_ms, 86.091);
        close(p.loaded_to_ready_line_ms, 6.534);
        close(p.ready_line_to_response_ms, 5.0);
        close(p.spawn_to_ready_line_ms, 102.091);
        close(p.predictor_load_ms, 85.771_066);
        assert_eq!(p.pid, Some(15_931));
    }

    #[test]
    fn events_outside_the_request_or_of_another_revision_are_not_used() {
        let events = events(LOG);
        let sent = at("2026-11-23T08:23:45.850000Z");
        let received = at("2026-11-23T08:23:45.905000Z");
        let p = split(&events, "iris-predictor-00001", sent, received);
        assert_eq!(p.request_to_spawn_ms, None, "spawned before the request");
        assert_eq!(p.spawn_to_ready_line_ms, None);
        assert!(
            p.model_load_ms.is_none(),
            "listening was before the request"
        );
        assert!(p.loaded_to_ready_line_ms.is_some());
        let other = split(&events, "mlp-predictor-00001", sent, received);
        assert_eq!(other, Phases::default());
    }
}
