//! The `route` and `method` labels of the HTTP metrics, from a fixed set:
//! the paths of the OpenAPI document (ids as `{id}`), a few fixed ones, and
//! `unmatched` for every other path, so that no caller can make a series
//! per path.

/// The label of every path that names no route.
pub const UNMATCHED: &str = "unmatched";

/// Routes outside the OpenAPI document.
const FIXED: [&str; 3] = ["/metrics", "/api/openapi.json", "/api/openapi.yaml"];
/// The docs page and its assets, all under one label.
const DOCS: &str = "/api/docs";

/// The API's routes, as label and path segments (`None`: a parameter).
#[derive(Debug, Default)]
pub struct RouteLabels {
    routes: Vec<(String, Vec<Option<String>>)>,
}

impl RouteLabels {
    /// The routes of an OpenAPI document (its `paths`), with the fixed
    /// routes beside it. A document that does not parse gives only those.
    pub fn from_spec(spec: &str) -> Self {
        let document: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let paths = document["paths"]
            .as_object()
            .map(|paths| paths.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        let routes = paths
            .iter()
            .map(String::as_str)
            .chain(FIXED)
            .map(|path| {
                let segments: Vec<Option<String>> = segments(path)
                    .map(|segment| {
                        (!(segment.starts_with('{') && segment.ends_with('}')))
                            .then(|| segment.to_owned())
                    })
                    .collect();
                let label = segments
                    .iter()
                    .map(|segment| segment.as_deref().unwrap_or("{id}"))
                    .fold(String::new(), |label, segment| label + "/" + segment);
                (label, segments)
            })
            .collect::<Vec<_>>();
        // A literal segment wins over a parameter in the same place.
        let mut routes = routes;
        routes.sort_by_key(|(_, segments)| segments.iter().filter(|s| s.is_none()).count());
        Self { routes }
    }

    /// The label of a request path: its route, or [`UNMATCHED`].
    pub fn route(&self, path: &str) -> &str {
        if path == DOCS || path.starts_with("/api/docs/") {
            return DOCS;
        }
        let given: Vec<&str> = segments(path).collect();
        self.routes
            .iter()
            .find(|(_, route)| {
                route.len() == given.len()
                    && route
                        .iter()
                        .zip(&given)
                        .all(|(segment, given)| segment.as_deref().is_none_or(|s| s == *given))
            })
            .map_or(UNMATCHED, |(label, _)| label.as_str())
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|segment| !segment.is_empty())
}

/// The label of a request method: a standard one, or `other`.
pub fn method(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_labelled_by_route_and_others_as_unmatched() {
        let labels = RouteLabels::from_spec(
            r#"{"paths": {"/api/admin/jobs/": {}, "/api/admin/jobs/{id}/cancel/": {},
                "/health": {}}}"#,
        );
        assert_eq!(labels.route("/api/admin/jobs"), "/api/admin/jobs");
        assert_eq!(
            labels.route("/api/admin/jobs/0193a0f4/cancel"),
            "/api/admin/jobs/{id}/cancel"
        );
        assert_eq!(labels.route("/health"), "/health");
        assert_eq!(labels.route("/metrics"), "/metrics");
        assert_eq!(labels.route("/api/docs/index.js"), "/api/docs");
        assert_eq!(labels.route("/api/admin/jobs/x/y/z"), UNMATCHED);
        assert_eq!(labels.route("/no-such-thing"), UNMATCHED);
        assert_eq!(
            RouteLabels::from_spec("not json").route("/health"),
            UNMATCHED
        );
    }
}
