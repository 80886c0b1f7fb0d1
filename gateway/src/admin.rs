//! The admin API, under `/admin/` on the gateway port (off the model namespace).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/admin/v1/inferenceservices` | every InferenceService with status and revisions |
//! | GET | `/admin/v1/namespaces/{ns}/inferenceservices/{name}` | one of them |
//! | PUT | `/admin/v1/inferenceservices` | apply YAML (one or more documents) |
//! | DELETE | `/admin/v1/namespaces/{ns}/inferenceservices/{name}` | delete |
//! | POST | `/admin/v1/namespaces/{ns}/inferenceservices/{name}/rollback` | `canaryTrafficPercent: 0` |
//!
//! Apply and delete write the config folder atomically (temporary file, then rename): the
//! folder stays the one source of truth and a restart loses nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use infergate_k8s::{InferenceService, parse_documents};
use infergate_predictor::http::{self as h, ResponseBody};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::controller::{Msg, ServiceView, Views};
use crate::store::{DEFAULT_NAMESPACE, key_of, write_atomic};

/// The path prefix of the admin API.
pub const PREFIX: &str = "/admin/";

/// What the admin API needs.
#[derive(Clone)]
pub struct Admin {
    pub config_dir: PathBuf,
    pub views: Arc<ArcSwap<Views>>,
    pub controller: mpsc::Sender<Msg>,
    pub max_body_bytes: usize,
}

/// What `apply` did to one InferenceService (kubectl's words).
#[derive(Debug, Serialize)]
pub struct Applied {
    pub namespace: String,
    pub name: String,
    /// `created`, `configured` or `unchanged`.
    pub action: &'static str,
    pub file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
enum AdminError {
    #[error("{0}")]
    BadRequest(String),
    #[error("inferenceservice {namespace}/{name} not found")]
    NotFound { namespace: String, name: String },
    #[error("{0}")]
    Conflict(String),
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no admin endpoint {method} {path}")]
    NoRoute { method: Method, path: String },
}

// === impl Admin ===

impl Admin {
    pub async fn handle(&self, req: Request<Incoming>) -> Response<ResponseBody> {
        match self.dispatch(req).await {
            Ok(response) => response,
            Err(e) => {
                let status = match &e {
                    AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
                    AdminError::NotFound { .. } | AdminError::NoRoute { .. } => {
                        StatusCode::NOT_FOUND
                    }
                    AdminError::Conflict(_) => StatusCode::CONFLICT,
                    AdminError::Write { .. } => StatusCode::INTERNAL_SERVER_ERROR,
                };
                h::error(status, &e.to_string())
            }
        }
    }

    async fn dispatch(&self, req: Request<Incoming>) -> Result<Response<ResponseBody>, AdminError> {
        let path = req.uri().path().trim_end_matches('/').to_owned();
        let parts: Vec<&str> = path.trim_start_matches(PREFIX).split('/').collect();
        let method = req.method().clone();
        match (&method, parts.as_slice()) {
            (&Method::GET, ["v1", "inferenceservices"]) => {
                let views = self.views.load();
                Ok(json(
                    StatusCode::OK,
                    &views.services.values().collect::<Vec<_>>(),
                ))
            }
            (&Method::GET, ["v1", "namespaces", ns, "inferenceservices", name]) => {
                Ok(json(StatusCode::OK, &self.find(ns, name)?))
            }
            (&Method::PUT | &Method::POST, ["v1", "inferenceservices"]) => {
                let (parts, body) = req.into_parts();
                let body = h::read_body(&parts.headers, body, self.max_body_bytes)
                    .await
                    .map_err(|e| AdminError::BadRequest(e.to_string()))?;
                let applied = self.apply(&body)?;
                self.reload().await;
                Ok(json(StatusCode::OK, &applied))
            }
            (&Method::DELETE, ["v1", "namespaces", ns, "inferenceservices", name]) => {
                let view = self.find(ns, name)?;
                single_document(&view)?;
                std::fs::remove_file(&view.file).map_err(|source| AdminError::Write {
                    path: view.file.clone(),
                    source,
                })?;
                self.reload().await;
                Ok(json(
                    StatusCode::OK,
                    &serde_json::json!({ "deleted": format!("{ns}/{name}") }),
                ))
            }
            (
                &Method::POST,
                [
                    "v1",
                    "namespaces",
                    ns,
                    "inferenceservices",
                    name,
                    "rollback",
                ],
            ) => {
                let view = self.find(ns, name)?;
                single_document(&view)?;
                // A rollback needs somewhere to go: a previous rolled-out revision, or the stable
                // side of a canary in progress.
                let predictor = view.isvc.status.as_ref().and_then(|s| s.predictor());
                let has_stable = predictor.is_some_and(|p| {
                    p.previous_rolledout_revision.is_some()
                        || p.traffic.iter().any(|t| t.latest_revision == Some(false))
                });
                if !has_stable {
                    return Err(AdminError::Conflict(format!(
                        "inferenceservice {ns}/{name} has no previous rolled-out revision to roll back to"
                    )));
                }
                let mut isvc = view.isvc.clone();
                isvc.status = None;
                isvc.spec.predictor.canary_traffic_percent = Some(0);
                write_yaml(&view.file, &isvc)?;
                self.reload().await;
                Ok(json(
                    StatusCode::OK,
                    &serde_json::json!({ "rolledBack": format!("{ns}/{name}") }),
                ))
            }
            _ => Err(AdminError::NoRoute { method, path }),
        }
    }

    fn find(&self, namespace: &str, name: &str) -> Result<ServiceView, AdminError> {
        self.views
            .load()
            .services
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
            .ok_or_else(|| AdminError::NotFound {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
    }

    /// Writes each InferenceService of `body` into the folder: over the file that defines it, or
    /// a new `<name>.yaml` (`<namespace>.<name>.yaml` outside `default`).
    fn apply(&self, body: &[u8]) -> Result<Vec<Applied>, AdminError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| AdminError::BadRequest("the body is not UTF-8 YAML".into()))?;
        let docs =
            parse_documents(text, "request").map_err(|e| AdminError::BadRequest(e.to_string()))?;
        let services: Vec<InferenceService> = docs.into_iter().filter_map(|d| d.isvc).collect();
        if services.is_empty() {
            return Err(AdminError::BadRequest(
                "the body holds no InferenceService".into(),
            ));
        }
        for isvc in &services {
            if let Err(errors) = isvc.validate() {
                let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
                return Err(AdminError::BadRequest(format!(
                    "{}: {}",
                    isvc.name(),
                    messages.join("; ")
                )));
            }
        }
        let views = self.views.load();
        let mut applied = Vec::new();
        for isvc in &services {
            let (namespace, name) = key_of(isvc);
            let existing = views.services.get(&(namespace.clone(), name.clone()));
            let file = match existing {
                Some(view) => {
                    single_document(view)?;
                    view.file.clone()
                }
                None => self.new_file(&namespace, &name)?,
            };
            // One document: keep the user's text (and comments) as sent.
            let contents = if services.len() == 1 {
                text.to_owned()
            } else {
                to_yaml(isvc)?
            };
            let before = std::fs::read_to_string(&file).ok();
            let action = match (&before, existing) {
                (Some(old), Some(_)) if *old == contents => "unchanged",
                (_, Some(_)) => "configured",
                (_, None) => "created",
            };
            if action != "unchanged" {
                write_atomic(&file, &contents).map_err(|source| AdminError::Write {
                    path: file.clone(),
                    source,
                })?;
            }
            applied.push(Applied {
                namespace,
                name,
                action,
                file,
            });
        }
        Ok(applied)
    }

    fn new_file(&self, namespace: &str, name: &str) -> Result<PathBuf, AdminError> {
        let file_name = if namespace == DEFAULT_NAMESPACE {
            format!("{name}.yaml")
        } else {
            format!("{namespace}.{name}.yaml")
        };
        let file = self.config_dir.join(file_name);
        if file.exists() {
            return Err(AdminError::Conflict(format!(
                "{} already exists and defines something else; rename it or apply into it",
                file.display()
            )));
        }
        Ok(file)
    }

    /// Has the controller re-read the folder now (rather than on the watcher's next event) and
    /// waits until it has published the result.
    async fn reload(&self) {
        let (done, reloaded) = tokio::sync::oneshot::channel();
        if self
            .controller
            .send(Msg::Reload { done: Some(done) })
            .await
            .is_ok()
        {
            let _ = reloaded.await;
        }
    }
}

fn single_document(view: &ServiceView) -> Result<(), AdminError> {
    if view.documents_in_file > 1 {
        return Err(AdminError::Conflict(format!(
            "{}/{} is defined in {} together with other InferenceServices; edit that file",
            view.isvc.namespace().unwrap_or(DEFAULT_NAMESPACE),
            view.isvc.name(),
            view.file.display()
        )));
    }
    Ok(())
}

fn to_yaml(isvc: &InferenceService) -> Result<String, AdminError> {
    serde_saphyr::to_string(isvc)
        .map_err(|e| AdminError::BadRequest(format!("cannot write YAML: {e}")))
}

fn write_yaml(path: &Path, isvc: &InferenceService) -> Result<(), AdminError> {
    let text = to_yaml(isvc)?;
    write_atomic(path, &text).map_err(|source| AdminError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<ResponseBody> {
    let body = serde_json::to_vec(value).expect("admin views serialise");
    h::json(status, Bytes::from(body))
}
