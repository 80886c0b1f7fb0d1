//! KServe's traffic rules, as a pure function of what is ready and what the YAML asks.
//!
//! - Without `canaryTrafficPercent`, the latest ready revision gets 100% and becomes the
//!   rolled-out revision; the one it replaces becomes the previous rolled-out revision.
//! - With `canaryTrafficPercent: p`, the latest ready revision gets p% and the stable revision
//!   (the rolled-out one, or the previous one when the latest is itself rolled out) the rest.
//! - `canaryTrafficPercent: 0` therefore sends everything back to the stable revision: a
//!   rollback, without creating a revision.

use serde::{Deserialize, Serialize};

/// Which revisions are rolled out, remembered across changes (and restarts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// The revision that last received 100% of the traffic.
    pub rolled_out: Option<String>,
    /// The revision rolled out before it.
    pub previous: Option<String>,
}

/// One line of the traffic list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    pub revision: String,
    pub percent: u32,
    /// `latest` or `prev`, for tag routing.
    pub tag: Option<&'static str>,
    /// Whether this is the latest ready revision.
    pub latest: bool,
}

/// Updates `rollout` and returns the traffic split; percentages sum to 100 unless nothing is
/// ready (empty list).
pub fn plan(rollout: &mut Rollout, latest_ready: Option<&str>, canary: Option<u32>) -> Vec<Share> {
    let Some(latest) = latest_ready else {
        return Vec::new();
    };
    let promote = |rollout: &mut Rollout| {
        if rollout.rolled_out.as_deref() != Some(latest) {
            rollout.previous = rollout.rolled_out.replace(latest.to_owned());
        }
    };
    let share = |revision: &str, percent, tag, latest| Share {
        revision: revision.to_owned(),
        percent,
        tag: Some(tag),
        latest,
    };
    match canary.map(|p| p.min(100)) {
        None | Some(100) => {
            promote(rollout);
            vec![share(latest, 100, "latest", true)]
        }
        Some(percent) => {
            if rollout.rolled_out.is_none() {
                // The first revision ever has nothing to share traffic with.
                promote(rollout);
            }
            let stable = if rollout.rolled_out.as_deref() == Some(latest) {
                rollout.previous.clone()
            } else {
                rollout.rolled_out.clone()
            };
            match stable {
                Some(stable) if stable != latest => vec![
                    share(latest, percent, "latest", true),
                    share(&stable, 100 - percent, "prev", false),
                ],
                _ => vec![share(latest, 100, "latest", true)],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(shares: &[Share]) -> Vec<(&str, u32, Option<&str>)> {
        shares
            .iter()
            .map(|s| (s.revision.as_str(), s.percent, s.tag))
            .collect()
    }

    #[test]
    fn blue_green_promotes_each_new_ready_revision() {
        let mut r = Rollout::default();
        assert!(plan(&mut r, None, None).is_empty());
        assert_eq!(
            split(&plan(&mut r, Some("r1"), None)),
            [("r1", 100, Some("latest"))]
        );
        assert_eq!(
            split(&plan(&mut r, Some("r2"), None)),
            [("r2", 100, Some("latest"))]
        );
        assert_eq!(
            r,
            Rollout {
                rolled_out: Some("r2".into()),
                previous: Some("r1".into())
            }
        );
        // Stable when nothing changes.
        plan(&mut r, Some("r2"), None);
        assert_eq!(r.previous.as_deref(), Some("r1"));
    }

    #[test]
    fn canary_splits_then_promotes_then_rolls_back() {
        let mut r = Rollout::default();
        plan(&mut r, Some("r1"), None);
        // r2 ready with a 10% canary: r1 keeps 90 and stays rolled out.
        assert_eq!(
            split(&plan(&mut r, Some("r2"), Some(10))),
            [("r2", 10, Some("latest")), ("r1", 90, Some("prev"))]
        );
        assert_eq!(r.rolled_out.as_deref(), Some("r1"));
        // A newer canary replaces the old one; the stable revision is unchanged.
        assert_eq!(
            split(&plan(&mut r, Some("r3"), Some(20))),
            [("r3", 20, Some("latest")), ("r1", 80, Some("prev"))]
        );
        // Promotion: drop canaryTrafficPercent.
        assert_eq!(
            split(&plan(&mut r, Some("r3"), None)),
            [("r3", 100, Some("latest"))]
        );
        assert_eq!(
            r,
            Rollout {
                rolled_out: Some("r3".into()),
                previous: Some("r1".into())
            }
        );
        // Rollback: canaryTrafficPercent: 0 sends everything to the previous rolled-out one.
        assert_eq!(
            split(&plan(&mut r, Some("r3"), Some(0))),
            [("r3", 0, Some("latest")), ("r1", 100, Some("prev"))]
        );
    }

    #[test]
    fn first_revision_with_a_canary_gets_everything() {
        let mut r = Rollout::default();
        assert_eq!(
            split(&plan(&mut r, Some("r1"), Some(10))),
            [("r1", 100, Some("latest"))]
        );
        assert_eq!(r.rolled_out.as_deref(), Some("r1"));
    }

    #[test]
    fn percentages_always_sum_to_100() {
        for canary in [
            None,
            Some(0),
            Some(1),
            Some(50),
            Some(99),
            Some(100),
            Some(250),
        ] {
            let mut r = Rollout::default();
            for latest in ["r1", "r2", "r3", "r3"] {
                let shares = plan(&mut r, Some(latest), canary);
                assert_eq!(
                    shares.iter().map(|s| s.percent).sum::<u32>(),
                    100,
                    "{canary:?}"
                );
            }
        }
    }
}
