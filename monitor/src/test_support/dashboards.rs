//! The shipped Grafana dashboards (`dashboards/*.json`) as Prometheus queries: every panel's
//! targets and every template variable's values query, with Grafana's variables substituted.

use std::path::PathBuf;

use serde_json::Value;

/// One dashboard file, parsed.
#[derive(Clone, Debug)]
pub struct Dashboard {
    pub path: PathBuf,
    pub json: Value,
}

/// One query of a dashboard: a panel target or a template variable's values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The panel title (`variable NAME` for a template variable).
    pub panel: String,
    /// The PromQL as written in the dashboard.
    pub expr: String,
}

/// The Grafana range variables, as an instant query over a short test run reads them.
const RANGES: &[(&str, &str)] = &[
    ("$__rate_interval", "30s"),
    ("${__rate_interval}", "30s"),
    ("$__interval", "15s"),
    ("${__interval}", "15s"),
    ("$__range", "5m"),
    ("${__range}", "5m"),
];

// === impl Dashboard ===

impl Dashboard {
    /// Every `dashboards/*.json` of the repository, sorted by file name; at least two.
    pub fn load_all() -> Vec<Dashboard> {
        let dir = super::repo().join("dashboards");
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a dashboards/ entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        found.sort();
        assert!(found.len() >= 2, "dashboards in {}", dir.display());
        found
            .into_iter()
            .map(|path| {
                let text =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let json = serde_json::from_slice(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                Dashboard { path, json }
            })
            .collect()
    }

    /// The file name, for messages.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }

    /// Every target of every panel (panels nested in rows included), in order.
    pub fn queries(&self) -> Vec<Query> {
        let mut out = Vec::new();
        collect(&self.json["panels"], &mut out);
        out
    }

    /// Every `label_values(SELECTOR, LABEL)` template variable as PromQL that returns one
    /// series per value (`count by (LABEL) (SELECTOR)`), named `variable NAME`.
    pub fn variable_queries(&self) -> Vec<Query> {
        self.variables()
            .iter()
            .filter_map(|v| {
                let name = v["name"].as_str()?;
                let definition = v["definition"].as_str()?;
                let inner = definition
                    .strip_prefix("label_values(")?
                    .strip_suffix(')')?;
                let (selector, label) = inner.rsplit_once(',')?;
                Some(Query {
                    panel: format!("variable {name}"),
                    expr: format!("count by ({}) ({})", label.trim(), selector.trim()),
                })
            })
            .collect()
    }

    /// `expr` as Prometheus can run it: each template variable replaced by its "All" value
    /// (`allValue`, else `.*`) and Grafana's range variables by short ranges. Panics when a
    /// `$` is left over (a variable this dashboard does not define).
    pub fn instant(&self, expr: &str) -> String {
        let mut out = expr.to_owned();
        for (name, range) in RANGES {
            out = out.replace(name, range);
        }
        let mut variables: Vec<(String, String)> = self
            .variables()
            .iter()
            .filter(|v| v["type"] != "datasource")
            .filter_map(|v| {
                let name = v["name"].as_str()?.to_owned();
                let all = v["allValue"].as_str().unwrap_or(".*").to_owned();
                Some((name, all))
            })
            .collect();
        // Longest first, so that `$model` never eats the front of `$models`.
        variables.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
        for (name, all) in &variables {
            out = out
                .replace(&format!("${{{name}}}"), all)
                .replace(&format!("[[{name}]]"), all)
                .replace(&format!("${name}"), all);
        }
        assert!(
            !out.contains('$'),
            "{}: a variable is left in {out:?} (from {expr:?})",
            self.name()
        );
        out
    }

    fn variables(&self) -> Vec<Value> {
        self.json["templating"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

fn collect(panels: &Value, out: &mut Vec<Query>) {
    for panel in panels.as_array().into_iter().flatten() {
        let title = panel["title"].as_str().unwrap_or("").to_owned();
        for target in panel["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = target["expr"].as_str() {
                out.push(Query {
                    panel: title.clone(),
                    expr: expr.to_owned(),
                });
            }
        }
        // A collapsed row keeps its panels inside it.
        collect(&panel["panels"], out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dashboard() -> Dashboard {
        Dashboard {
            path: PathBuf::from("x.json"),
            json: serde_json::json!({
                "templating": {"list": [
                    {"name": "datasource", "type": "datasource"},
                    {"name": "model", "type": "query", "allValue": ".*",
                     "definition": "label_values(up{namespace=~\"$namespace\"}, model)"},
                    {"name": "models", "type": "custom", "allValue": "a|b"},
                    {"name": "namespace", "type": "query"},
                ]},
                "panels": [
                    {"title": "A", "targets": [{"expr": "up"}]},
                    {"title": "row", "type": "row", "panels": [
                        {"title": "B", "targets": [{"expr": "down"}, {"refId": "no expr"}]},
                    ]},
                ],
            }),
        }
    }

    #[test]
    fn panels_nested_in_rows_are_read() {
        let queries: Vec<String> = dashboard().queries().into_iter().map(|q| q.expr).collect();
        assert_eq!(queries, ["up", "down"]);
    }

    #[test]
    fn variables_become_their_all_value_and_ranges_short() {
        let d = dashboard();
        assert_eq!(
            d.instant(
                r#"rate(x{model=~"$model", m=~"${models}", n=~"[[namespace]]"}[$__rate_interval])"#
            ),
            r#"rate(x{model=~".*", m=~"a|b", n=~".*"}[30s])"#
        );
        let vars = d.variable_queries();
        assert_eq!(vars.len(), 1);
        assert_eq!(
            vars[0].expr,
            r#"count by (model) (up{namespace=~"$namespace"})"#
        );
    }

    #[test]
    #[should_panic(expected = "a variable is left")]
    fn an_unknown_variable_fails() {
        dashboard().instant("x{a=~\"$unknown\"}");
    }
}
