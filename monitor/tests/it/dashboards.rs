//! The shipped dashboards and alert rules: promtool checks them, every alert has unit tests,
//! and every dashboard is importable JSON on a `${datasource}` variable.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use crate::support::{repo, tool};

pub(crate) fn dashboards() -> Vec<(PathBuf, serde_json::Value)> {
    let dir = repo().join("dashboards");
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .expect("dashboards/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    found.sort();
    assert!(found.len() >= 2, "dashboards in {}", dir.display());
    found
        .into_iter()
        .map(|p| {
            let json = serde_json::from_slice(&std::fs::read(&p).expect("read"))
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, json)
        })
        .collect()
}

/// Every `(panel title, expr)` of a dashboard.
pub(crate) fn queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| {
            let title = p["title"].as_str().expect("title").to_owned();
            p["targets"]
                .as_array()
                .expect("targets")
                .iter()
                .map(move |t| (title.clone(), t["expr"].as_str().expect("expr").to_owned()))
        })
        .collect()
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new(tool("promtool"))
        .args(args)
        .current_dir(repo().join("dashboards/alerts"))
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn alert_rules_check_and_their_unit_tests_pass() {
    let text = promtool(&["check", "rules", "infergate.rules.yaml"]);
    assert!(text.contains("SUCCESS: 6 rules found"), "{text}");
    let tests: Vec<String> = std::fs::read_dir(repo().join("dashboards/alerts"))
        .expect("alerts/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".test.yaml"))
        .collect();
    assert!(!tests.is_empty());
    for test in &tests {
        let text = promtool(&["test", "rules", test]);
        assert!(text.contains("SUCCESS"), "{text}");
    }
}

#[test]
fn every_alert_has_a_firing_and_a_quiet_test() {
    let alerts_dir = repo().join("dashboards/alerts");
    let rules = std::fs::read_to_string(alerts_dir.join("infergate.rules.yaml")).expect("rules");
    let alerts: BTreeSet<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert_eq!(alerts.len(), 6, "{alerts:?}");
    let tests =
        std::fs::read_to_string(alerts_dir.join("infergate.rules.test.yaml")).expect("tests");
    let tests: serde_json::Value = serde_saphyr::from_str(&tests).expect("test YAML");
    let mut firing = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for case in tests["tests"].as_array().expect("tests").iter() {
        for check in case["alert_rule_test"].as_array().expect("alert_rule_test") {
            let name = check["alertname"].as_str().expect("alertname").to_owned();
            match check["exp_alerts"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
            {
                true => firing.insert(name),
                false => quiet.insert(name),
            };
        }
    }
    for alert in &alerts {
        assert!(
            firing.contains(*alert),
            "{alert} has no test where it fires"
        );
        assert!(
            quiet.contains(*alert),
            "{alert} has no test where it stays quiet"
        );
    }
}

#[test]
fn dashboards_are_importable_on_a_datasource_variable() {
    let names: BTreeSet<&str> = infergate_monitor::names::ALL.iter().copied().collect();
    for (path, dashboard) in dashboards() {
        let variables = dashboard["templating"]["list"]
            .as_array()
            .expect("templating");
        assert!(
            variables.iter().any(|v| v["name"] == "datasource"
                && v["type"] == "datasource"
                && v["query"] == "prometheus"),
            "{}: no ${{datasource}} variable",
            path.display()
        );
        assert!(dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()));
        for panel in dashboard["panels"].as_array().expect("panels") {
            assert_eq!(
                panel["datasource"]["uid"],
                "${datasource}",
                "{}",
                path.display()
            );
            for target in panel["targets"].as_array().expect("targets") {
                assert_eq!(target["datasource"]["uid"], "${datasource}");
            }
        }
        // Every metric a query names is one of ours (a typo would return nothing).
        for (title, expr) in queries(&dashboard) {
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if let Some(base) = word.strip_prefix("infergate_") {
                    let family = ["_bucket", "_count", "_sum"]
                        .iter()
                        .find_map(|s| word.strip_suffix(s))
                        .filter(|f| names.contains(f))
                        .unwrap_or(word);
                    assert!(
                        names.contains(family),
                        "{}: {title}: unknown metric infergate_{base}",
                        path.display()
                    );
                }
            }
        }
    }
}
