//! The predictor's URL space: KServe V1 and the Open Inference Protocol (V2).

/// One endpoint, with the names taken from the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /v2/health/live`
    Live,
    /// `GET /v2/health/ready`
    Ready,
    /// `GET /v2`
    ServerMetadata,
    /// `GET /v2/models/{name}[/versions/{v}]`
    ModelMetadata(ModelRef<'a>),
    /// `GET /v2/models/{name}[/versions/{v}]/ready`
    ModelReady(ModelRef<'a>),
    /// `POST /v2/models/{name}[/versions/{v}]/infer`
    Infer(ModelRef<'a>),
    /// `GET /v1/models`
    V1List,
    /// `GET /v1/models/{name}`
    V1Model(&'a str),
    /// `POST /v1/models/{name}:predict`
    V1Predict(&'a str),
}

/// A model named in a path, with the version when the path has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelRef<'a> {
    pub name: &'a str,
    pub version: Option<&'a str>,
}

impl<'a> Route<'a> {
    /// Matches a request path (without the query). `None` when nothing matches.
    pub fn parse(path: &'a str) -> Option<Route<'a>> {
        let path = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        let mut parts = path.strip_prefix('/')?.split('/');
        match (parts.next()?, parts.next()) {
            ("v2", None) => Some(Route::ServerMetadata),
            ("v2", Some("health")) => match (parts.next()?, parts.next()) {
                ("live", None) => Some(Route::Live),
                ("ready", None) => Some(Route::Ready),
                _ => None,
            },
            ("v2", Some("models")) => {
                let name = parts.next().filter(|n| !n.is_empty())?;
                let rest: Vec<&str> = parts.collect();
                let (version, rest) = match rest.as_slice() {
                    ["versions", v, rest @ ..] if !v.is_empty() => (Some(*v), rest),
                    rest => (None, rest),
                };
                let model = ModelRef { name, version };
                match rest {
                    [] => Some(Route::ModelMetadata(model)),
                    ["ready"] => Some(Route::ModelReady(model)),
                    ["infer"] => Some(Route::Infer(model)),
                    _ => None,
                }
            }
            ("v1", Some("models")) => match (parts.next(), parts.next()) {
                (None, _) => Some(Route::V1List),
                (Some(last), None) => match last.rsplit_once(':') {
                    Some((name, "predict")) if !name.is_empty() => Some(Route::V1Predict(name)),
                    Some(_) => None,
                    None if !last.is_empty() => Some(Route::V1Model(last)),
                    None => None,
                },
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether the endpoint takes a POST (inference) rather than a GET.
    pub fn is_post(&self) -> bool {
        matches!(self, Route::Infer(_) | Route::V1Predict(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_endpoint() {
        let iris = ModelRef {
            name: "iris",
            version: None,
        };
        let iris_v3 = ModelRef {
            name: "iris",
            version: Some("3"),
        };
        let cases = [
            ("/v2", Some(Route::ServerMetadata)),
            ("/v2/", Some(Route::ServerMetadata)),
            ("/v2/health/live", Some(Route::Live)),
            ("/v2/health/ready", Some(Route::Ready)),
            ("/v2/models/iris", Some(Route::ModelMetadata(iris))),
            ("/v2/models/iris/ready", Some(Route::ModelReady(iris))),
            ("/v2/models/iris/infer", Some(Route::Infer(iris))),
            (
                "/v2/models/iris/versions/3",
                Some(Route::ModelMetadata(iris_v3)),
            ),
            (
                "/v2/models/iris/versions/3/ready",
                Some(Route::ModelReady(iris_v3)),
            ),
            (
                "/v2/models/iris/versions/3/infer",
                Some(Route::Infer(iris_v3)),
            ),
            ("/v1/models", Some(Route::V1List)),
            ("/v1/models/iris", Some(Route::V1Model("iris"))),
            ("/v1/models/iris:predict", Some(Route::V1Predict("iris"))),
            ("/v1/models/iris:explain", None),
            ("/v1/models/:predict", None),
            ("/v2/models/", None),
            ("/v2/models/iris/versions//infer", None),
            ("/v2/models/iris/infer/more", None),
            ("/v3", None),
            ("/", None),
            ("", None),
        ];
        for (path, expected) in cases {
            assert_eq!(Route::parse(path), expected, "{path}");
        }
    }
}
