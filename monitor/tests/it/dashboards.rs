//! The shipped dashboards and alert rules: promtool checks them, every alert has unit tests,
//! and every dashboard is importable JSON on a `${datasource}` variable.

use std::collections::BTreeSet;
use std::process::Command;

use infergate_monitor::test_support::{Dashboard, tool};

use crate::support::repo;

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

/// The metric families `expr` names that are not ours (a typo, or a name that was renamed,
/// would return nothing).
fn unknown_metrics(expr: &str) -> Vec<String> {
    let names: BTreeSet<&str> = infergate_monitor::names::ALL.iter().copied().collect();
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("infergate_"))
        .filter(|word| {
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| word.strip_suffix(s))
                .filter(|f| names.contains(f))
                .unwrap_or(word);
            !names.contains(family)
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn dashboards_are_importable_on_a_datasource_variable() {
    for dashboard in Dashboard::load_all() {
        let (name, json) = (dashboard.name(), &dashboard.json);
        let variables = json["templating"]["list"].as_array().expect("templating");
        assert!(
            variables.iter().any(|v| v["name"] == "datasource"
                && v["type"] == "datasource"
                && v["query"] == "prometheus"),
            "{name}: no ${{datasource}} variable"
        );
        assert!(json["uid"].as_str().is_some_and(|u| !u.is_empty()));
        for panel in json["panels"].as_array().expect("panels") {
            assert_eq!(panel["datasource"]["uid"], "${datasource}", "{name}");
            for target in panel["targets"].as_array().expect("targets") {
                assert_eq!(target["datasource"]["uid"], "${datasource}");
            }
        }
        let queries = dashboard.queries();
        assert!(!queries.is_empty(), "{name}: no queries");
        for query in queries.iter().chain(&dashboard.variable_queries()) {
            let unknown = unknown_metrics(&query.expr);
            assert!(
                unknown.is_empty(),
                "{name}: {}: unknown metrics {unknown:?}",
                query.panel
            );
            // Every variable is one the dashboard defines.
            dashboard.instant(&query.expr);
        }
    }
}

#[test]
fn alert_rules_name_only_our_metrics() {
    let rules = std::fs::read_to_string(repo().join("dashboards/alerts/infergate.rules.yaml"))
        .expect("rules");
    let rules: serde_json::Value = serde_saphyr::from_str(&rules).expect("rules YAML");
    let mut exprs = 0;
    for group in rules["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let expr = rule["expr"].as_str().expect("expr");
            let unknown = unknown_metrics(expr);
            assert!(
                unknown.is_empty(),
                "{}: unknown metrics {unknown:?}",
                rule["alert"]
            );
            exprs += 1;
        }
    }
    assert_eq!(exprs, 6);
    assert!(unknown_metrics("infergate_nope + infergate_requests_total").len() == 1);
}
