//! The immutable route table: services by namespace and name, each with its traffic schedule.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::header::HOST;

use super::error::RouteError;
use super::parse::{model_in_path, service_in_host};
use super::split::Split;
use super::{DEFAULT_DOMAIN, DEFAULT_NAMESPACE, REVISION_HEADER, TAG_LATEST, TAG_PREV};
use crate::proxy::Endpoint;
use crate::scaling::Scaling;
use infergate_transformer::Transformer;

/// Every routable InferenceService, built by the controller and swapped in whole
/// (`ArcSwap<RouteTable>`); requests only read it. The one mutable part is each service's traffic
/// counter, an atomic.
#[derive(Debug)]
pub struct RouteTable {
    domain: String,
    /// namespace -> name -> service.
    namespaces: HashMap<String, HashMap<String, Service>>,
}

/// Collects services for a [`RouteTable`].
#[derive(Debug)]
pub struct RouteTableBuilder {
    domain: String,
    services: Vec<ServiceRoute>,
}

/// One InferenceService as the data plane sees it.
#[derive(Clone, Debug)]
pub struct ServiceRoute {
    pub namespace: String,
    pub name: String,
    /// The whole-request timeout (`spec.predictor.timeout`, default 60 s).
    pub timeout: Duration,
    /// `serving.kserve.io/enable-tag-routing: "true"`: `latest-`/`prev-` Host prefixes pin the
    /// tagged revision.
    pub tag_routing: bool,
    /// `(revision, percent, tag)`: the split between Ready revisions (percents sum to 100; other
    /// sums are used as weights). Entries with 0% still serve their tag.
    pub traffic: Vec<(Arc<RevisionRoute>, u32, Option<String>)>,
    /// Every routable (Ready) revision, for pinning with `x-infergate-revision`.
    pub revisions: Vec<Arc<RevisionRoute>>,
}

/// One Ready revision and its ready replicas.
///
/// Reuse the same `Arc<Endpoint>`s from one table to the next: their in-flight counters are what
/// load balancing and the `containerConcurrency` cap read.
#[derive(Debug)]
pub struct RevisionRoute {
    pub name: String,
    pub endpoints: Vec<Arc<Endpoint>>,
    /// `spec.predictor.containerConcurrency`; 0 means unlimited.
    pub container_concurrency: usize,
    /// Its load counters and activator (`None`: not autoscaled, as in unit tests).
    pub scaling: Option<Arc<Scaling>>,
    /// Its WebAssembly pre/post-processing, run in the gateway.
    pub transformer: Option<Transformer>,
}

/// Where a request goes.
#[derive(Clone, Copy, Debug)]
pub struct Resolved<'a> {
    pub service: &'a ServiceRoute,
    pub revision: &'a Arc<RevisionRoute>,
    /// How the revision was chosen.
    pub pick: Pick,
}

/// How a [`Resolved`] revision was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// By the traffic split.
    Split,
    /// By a `latest-`/`prev-` Host (tag routing).
    Tag,
    /// By the `x-infergate-revision` header.
    Header,
}

#[derive(Debug)]
struct Service {
    route: ServiceRoute,
    split: Split,
}

// === impl RouteTable ===

impl RouteTable {
    /// A builder for services under `{name}.{namespace}.{domain}` (KServe's default domain is
    /// [`DEFAULT_DOMAIN`]).
    pub fn builder(domain: &str) -> RouteTableBuilder {
        RouteTableBuilder {
            domain: domain.trim_matches('.').to_ascii_lowercase(),
            services: Vec::new(),
        }
    }

    /// The domain Host routing expects.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The service `namespace/name`, if routable.
    pub fn service(&self, namespace: &str, name: &str) -> Option<&ServiceRoute> {
        self.lookup(namespace, name).map(|s| &s.route)
    }

    /// Revision `revision` of the service `namespace/name`, if routable.
    pub fn revision(
        &self,
        namespace: &str,
        name: &str,
        revision: &str,
    ) -> Option<&Arc<RevisionRoute>> {
        self.service(namespace, name)?
            .revisions
            .iter()
            .find(|r| r.name == revision)
    }

    /// Every service, in no particular order.
    pub fn services(&self) -> impl Iterator<Item = &ServiceRoute> {
        self.namespaces
            .values()
            .flat_map(|m| m.values().map(|s| &s.route))
    }

    /// Which service and revision a request goes to.
    ///
    /// A Host `{name}.{namespace}.{domain}` (any path) wins when it names a known service, and so
    /// do `latest-{name}`/`prev-{name}` hosts of a service with tag routing on. Otherwise the path
    /// names the model (`/v1/models/{name}...`, `/v2/models/{name}/...`) and the service is looked
    /// up in namespace `default` only: reach other namespaces through the Host. A
    /// `pinned_revision` (`x-infergate-revision`) beats both tag and split.
    pub fn resolve(
        &self,
        host: Option<&str>,
        path: &str,
        pinned_revision: Option<&str>,
    ) -> Result<Resolved<'_>, RouteError> {
        // Hosts are case-insensitive; names are lowercase DNS labels. Allocate only for the rare
        // uppercase Host.
        let host = host.map(|h| match h.bytes().any(|b| b.is_ascii_uppercase()) {
            true => Cow::Owned(h.to_ascii_lowercase()),
            false => Cow::Borrowed(h),
        });
        let in_host = host
            .as_deref()
            .and_then(|h| service_in_host(h, &self.domain));
        let (service, tag) = match in_host.and_then(|(name, ns)| self.by_host(ns, name)) {
            Some(found) => found,
            None => match model_in_path(path) {
                Some(name) => match self.lookup(DEFAULT_NAMESPACE, name) {
                    Some(service) => (service, None),
                    None => {
                        return Err(RouteError::NoService {
                            namespace: DEFAULT_NAMESPACE.to_owned(),
                            name: name.to_owned(),
                        });
                    }
                },
                None => {
                    return Err(match in_host {
                        Some((name, namespace)) => RouteError::NoService {
                            namespace: namespace.to_owned(),
                            name: name.to_owned(),
                        },
                        None => RouteError::NoModel {
                            path: path.to_owned(),
                            domain: self.domain.clone(),
                        },
                    });
                }
            },
        };
        service.pick(pinned_revision, tag)
    }

    /// [`RouteTable::resolve`] with the Host (or the `:authority` of an HTTP/2 request), path and
    /// `x-infergate-revision` header taken from `req`. A header that is not valid UTF-8 counts
    /// as absent.
    pub fn resolve_request<B>(&self, req: &http::Request<B>) -> Result<Resolved<'_>, RouteError> {
        let host = req
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()));
        let pinned = req
            .headers()
            .get(REVISION_HEADER)
            .and_then(|h| h.to_str().ok());
        self.resolve(host, req.uri().path(), pinned)
    }

    fn lookup(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.namespaces.get(namespace)?.get(name)
    }

    /// The service a Host names, with the tag a `latest-`/`prev-` prefix asks for.
    fn by_host(&self, namespace: &str, name: &str) -> Option<(&Service, Option<&'static str>)> {
        if let Some(service) = self.lookup(namespace, name) {
            return Some((service, None));
        }
        [TAG_LATEST, TAG_PREV].into_iter().find_map(|tag| {
            let base = name.strip_prefix(tag)?.strip_prefix('-')?;
            let service = self.lookup(namespace, base)?;
            service.route.tag_routing.then_some((service, Some(tag)))
        })
    }
}

impl Default for RouteTable {
    /// No services, on [`DEFAULT_DOMAIN`]: what the gateway serves before the first build.
    fn default() -> Self {
        RouteTable::builder(DEFAULT_DOMAIN).build()
    }
}

// === impl RouteTableBuilder ===

impl RouteTableBuilder {
    /// Adds a service; a later service with the same namespace and name replaces an earlier one.
    pub fn service(mut self, service: ServiceRoute) -> Self {
        self.services.push(service);
        self
    }

    /// Freezes the table, precomputing each service's traffic schedule.
    pub fn build(self) -> RouteTable {
        let mut namespaces: HashMap<String, HashMap<String, Service>> = HashMap::new();
        for route in self.services {
            let percents: Vec<u32> = route.traffic.iter().map(|(_, p, _)| *p).collect();
            let sum: u64 = percents.iter().map(|&p| u64::from(p)).sum();
            if sum != 0 && sum != 100 {
                tracing::warn!(
                    namespace = %route.namespace,
                    name = %route.name,
                    sum,
                    "Traffic percents do not sum to 100; splitting in proportion."
                );
            }
            let service = Service {
                split: Split::new(&percents),
                route,
            };
            let by_name = namespaces
                .entry(service.route.namespace.clone())
                .or_default();
            if let Some(old) = by_name.insert(service.route.name.clone(), service) {
                tracing::warn!(
                    namespace = %old.route.namespace,
                    name = %old.route.name,
                    "Service added twice to one route table; the later one wins."
                );
            }
        }
        RouteTable {
            domain: self.domain,
            namespaces,
        }
    }
}

// === impl Service ===

impl Service {
    /// The revision for one request: the pinned one, else the tagged one, else the next split slot.
    fn pick(&self, pinned: Option<&str>, tag: Option<&str>) -> Result<Resolved<'_>, RouteError> {
        let route = &self.route;
        let resolved = |revision, pick| Resolved {
            service: route,
            revision,
            pick,
        };
        if let Some(pinned) = pinned {
            return match route.revisions.iter().find(|r| r.name == pinned) {
                Some(revision) => Ok(resolved(revision, Pick::Header)),
                None => Err(RouteError::UnknownRevision {
                    namespace: route.namespace.clone(),
                    name: route.name.clone(),
                    revision: pinned.to_owned(),
                }),
            };
        }
        if let Some(tag) = tag {
            let tagged = route
                .traffic
                .iter()
                .find(|(_, _, t)| t.as_deref() == Some(tag));
            return match tagged {
                Some((revision, _, _)) => Ok(resolved(revision, Pick::Tag)),
                None => Err(RouteError::UnknownTag {
                    namespace: route.namespace.clone(),
                    name: route.name.clone(),
                    tag: tag.to_owned(),
                }),
            };
        }
        match self.split.draw() {
            Some(i) => Ok(resolved(&route.traffic[i].0, Pick::Split)),
            None => Err(RouteError::NoReadyRevision {
                namespace: route.namespace.clone(),
                name: route.name.clone(),
            }),
        }
    }

    #[cfg(test)]
    pub(crate) fn split(&self) -> &Split {
        &self.split
    }
}

#[cfg(test)]
impl RouteTable {
    pub(crate) fn split_of(&self, namespace: &str, name: &str) -> Option<&Split> {
        self.lookup(namespace, name).map(Service::split)
    }
}
