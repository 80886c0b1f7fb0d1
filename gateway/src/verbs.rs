//! The client verbs (`apply`, `get`, `delete`, `rollback`): kubectl-like output over the admin API.

use std::io::Read as _;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::cli::{ApplyArgs, DeleteArgs, GetIsvcArgs, GetRevisionsArgs, RollbackArgs};

const RESOURCE: &str = "inferenceservice.serving.kserve.io";

pub(crate) async fn apply(args: ApplyArgs) -> anyhow::Result<()> {
    let body = if args.file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        text
    } else {
        std::fs::read_to_string(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let applied = call(
        &args.server.server,
        Method::PUT,
        "/admin/v1/inferenceservices",
        body.into(),
    )
    .await?;
    for item in applied.as_array().into_iter().flatten() {
        println!(
            "{RESOURCE}/{} {}",
            str_of(&item["name"]),
            str_of(&item["action"])
        );
    }
    Ok(())
}

pub(crate) async fn get_isvc(args: GetIsvcArgs) -> anyhow::Result<()> {
    let views: Vec<Value> = match &args.name {
        Some(name) => {
            let ns = args.namespace.as_deref().unwrap_or("default");
            let path = format!("/admin/v1/namespaces/{ns}/inferenceservices/{name}");
            vec![call(&args.server.server, Method::GET, &path, Bytes::new()).await?]
        }
        None => {
            let all = call(
                &args.server.server,
                Method::GET,
                "/admin/v1/inferenceservices",
                Bytes::new(),
            )
            .await?;
            all.as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|v| {
                    args.namespace
                        .as_deref()
                        .is_none_or(|ns| namespace(&v["isvc"]) == ns)
                })
                .collect()
        }
    };
    let objects: Vec<&Value> = views.iter().map(|v| &v["isvc"]).collect();
    match args.output.as_deref() {
        Some("json") => {
            let out = if args.name.is_some() {
                objects[0].clone()
            } else {
                serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects})
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Some(_) => {
            for (i, object) in objects.iter().enumerate() {
                if i > 0 {
                    println!("---");
                }
                print!(
                    "{}",
                    serde_saphyr::to_string(object).map_err(|e| anyhow::anyhow!("{e}"))?
                );
            }
        }
        None => {
            if views.is_empty() {
                eprintln!("No InferenceServices found.");
                return Ok(());
            }
            let mut rows = vec![
                [
                    "NAMESPACE",
                    "NAME",
                    "URL",
                    "READY",
                    "PREV",
                    "LATEST",
                    "REVISIONS",
                    "REPLICAS",
                ]
                .map(String::from)
                .to_vec(),
            ];
            for view in &views {
                let isvc = &view["isvc"];
                let status = &isvc["status"];
                let ready = status["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| c["type"] == "Ready")
                    .map_or("Unknown", |c| str_of(&c["status"]));
                let traffic = status["components"]["predictor"]["traffic"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let percent = |latest: bool| {
                    traffic
                        .iter()
                        .filter(|t| t["latestRevision"].as_bool() == Some(latest))
                        .map(|t| t["percent"].as_i64().unwrap_or(0))
                        .sum::<i64>()
                };
                let revisions = view["revisions"].as_array().cloned().unwrap_or_default();
                let (ready_replicas, desired) = revisions.iter().fold((0, 0), |(r, d), rev| {
                    (
                        r + rev["readyReplicas"].as_u64().unwrap_or(0),
                        d + rev["desiredReplicas"].as_u64().unwrap_or(0),
                    )
                });
                rows.push(vec![
                    namespace(isvc).to_owned(),
                    str_of(&isvc["metadata"]["name"]).to_owned(),
                    str_of(&status["url"]).to_owned(),
                    ready.to_owned(),
                    percent(false).to_string(),
                    percent(true).to_string(),
                    revisions.len().to_string(),
                    format!("{ready_replicas}/{desired}"),
                ]);
            }
            print_table(&rows);
        }
    }
    Ok(())
}

pub(crate) async fn get_revisions(args: GetRevisionsArgs) -> anyhow::Result<()> {
    let service = &args.service;
    let path = service.admin_path();
    let view = call(service.server(), Method::GET, &path, Bytes::new()).await?;
    let mut rows = vec![
        [
            "REVISION", "STATE", "REPLICAS", "AT-ZERO", "TRAFFIC", "TAGS", "CREATED", "MESSAGE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for rev in view["revisions"].as_array().into_iter().flatten() {
        let tags: Vec<&str> = rev["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        rows.push(vec![
            str_of(&rev["name"]).to_owned(),
            str_of(&rev["state"]).to_owned(),
            format!("{}/{}", rev["readyReplicas"], rev["desiredReplicas"]),
            match rev["atZero"].as_bool() {
                Some(true) => "yes",
                _ => "no",
            }
            .to_owned(),
            format!("{}%", rev["traffic"]),
            if tags.is_empty() {
                "-".to_owned()
            } else {
                tags.join(",")
            },
            str_of(&rev["created"]).to_owned(),
            rev["message"].as_str().unwrap_or("").to_owned(),
        ]);
    }
    print_table(&rows);
    Ok(())
}

pub(crate) async fn delete(args: DeleteArgs) -> anyhow::Result<()> {
    let service = &args.service;
    let path = service.admin_path();
    call(service.server(), Method::DELETE, &path, Bytes::new()).await?;
    println!("{RESOURCE} \"{}\" deleted", service.name);
    Ok(())
}

pub(crate) async fn rollback(args: RollbackArgs) -> anyhow::Result<()> {
    let service = &args.service;
    let path = format!("{}/rollback", service.admin_path());
    call(service.server(), Method::POST, &path, Bytes::new()).await?;
    println!(
        "{RESOURCE}/{} rolled back (canaryTrafficPercent: 0)",
        service.name
    );
    Ok(())
}

/// One admin API call; a non-2xx answer becomes an error carrying the server's message.
async fn call(server: &str, method: Method, path: &str, body: Bytes) -> anyhow::Result<Value> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let req = Request::builder()
        .method(method)
        .uri(&url)
        .header("content-type", "application/yaml")
        .body(Full::new(body))
        .with_context(|| format!("invalid server URL {server}"))?;
    let response = client.request(req).await.with_context(|| {
        format!("cannot reach infergate at {server}; is `infergate serve` running? (set --server or INFERGATE_SERVER)")
    })?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .context("reading the answer")?
        .to_bytes();
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status != StatusCode::OK {
        let message = value["error"].as_str().map_or_else(
            || String::from_utf8_lossy(&bytes).into_owned(),
            str::to_owned,
        );
        bail!("{message}");
    }
    Ok(value)
}

fn namespace(isvc: &Value) -> &str {
    isvc["metadata"]["namespace"].as_str().unwrap_or("default")
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Left-aligned columns separated by three spaces, as kubectl prints them.
fn print_table(rows: &[Vec<String>]) {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("   ").trim_end());
    }
}
