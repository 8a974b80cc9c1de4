//! The REST API (actix-web), PNDA-compatible: same paths, verbs, status codes and JSON shapes,
//! with every body `application/json` and every error `{"status": …, "information": …}`.
//! Handlers only authenticate, authorize and translate; the work is the engine's, called on
//! actix's blocking pool because the registry is synchronous (application reads excepted: see
//! `applications::read_app`).

mod applications;
mod doc;
mod notebooks;
mod packages;
mod repository;
mod savepoints;
mod system;

use crate::auth::{AuthMode, Authenticator, Identity, Policy};
use crate::error::DmError;
use crate::lifecycle::Engine;
use actix_web::dev::Service;
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// What every handler shares.
pub struct Api {
    pub engine: Arc<Engine>,
    /// Application summaries observed on the cluster.
    pub status: Arc<crate::status::StatusBoard>,
    /// Platform health, probed.
    pub health: Arc<crate::health::HealthBoard>,
    pub auth: Authenticator,
    pub auth_mode: AuthMode,
    pub policy: Policy,
    /// `/environment/endpoints`, secrets already redacted.
    pub endpoints: Value,
    pub max_upload_bytes: u64,
    /// The runtime plugins loaded at start-up, for `GET /plugins`.
    pub plugins: Vec<dm_plugin_api::host::PluginInfo>,
    /// The notebook repositories of `jupyter` components, served read-only.
    pub notebooks: Arc<crate::notebooks::NotebookRepos>,
    /// What dmd found on its own and what is missing, for `GET /plugins`.
    pub discovered: crate::discovery::Report,
    /// Held for the life of the process (see `server::build`).
    pub data_lock: std::fs::File,
}

impl ResponseError for DmError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.http_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut reply = HttpResponse::build(self.status_code());
        if let DmError::MethodNotAllowed { allow, .. } = self {
            reply.insert_header((actix_web::http::header::ALLOW, allow.as_str()));
        }
        reply.json(self.body())
    }
}

type Reply = Result<HttpResponse, DmError>;

/// Runs registry and file work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DmError> + Send + 'static,
) -> Result<T, DmError> {
    web::block(f)
        .await
        .map_err(|e| DmError::Internal(format!("worker pool: {e}")))?
}

fn query(req: &HttpRequest) -> HashMap<String, String> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default()
}

impl Api {
    fn identify(&self, req: &HttpRequest) -> Result<Identity, DmError> {
        let params = query(req);
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        self.auth
            .identify(header, params.get("user.name").map(String::as_str))
    }

    /// Changes need someone to own them and to act as.
    fn identify_user(&self, req: &HttpRequest) -> Result<Identity, DmError> {
        let identity = self.identify(req)?;
        if !identity.is_anonymous() {
            Ok(identity)
        } else if self.auth_mode == AuthMode::Bearer {
            Err(DmError::Unauthorized(
                "this request needs a bearer token".into(),
            ))
        } else {
            Err(DmError::BadRequest("Missing argument user.name".into()))
        }
    }
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    DmError::not_found("NOTFOUND", format!("no such resource: {}", req.path())).error_response()
}

/// 405 for `req`, whose resource answers `methods` (and OPTIONS pre-flights).
fn method_not_allowed(req: &HttpRequest, methods: &[Method]) -> DmError {
    let allow = methods
        .iter()
        .chain([&Method::OPTIONS])
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    DmError::MethodNotAllowed {
        allow,
        information: format!("{} is not allowed on {}", req.method(), req.path()),
    }
}

/// CORS pre-flight, as PNDA's handlers answered it (every origin may call the API).
async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((
            "Access-Control-Allow-Methods",
            "GET, PUT, POST, DELETE, OPTIONS",
        ))
        .insert_header((
            "Access-Control-Allow-Headers",
            "Authorization, Content-Type",
        ))
        .insert_header(("Access-Control-Max-Age", "86400"))
        .finish()
}

/// One registered resource: its pattern and a handler per method.
struct Endpoint {
    pattern: &'static str,
    routes: Vec<(Method, actix_web::Route)>,
}

fn endpoint(pattern: &'static str, routes: Vec<(Method, actix_web::Route)>) -> Endpoint {
    Endpoint { pattern, routes }
}

/// Every resource, in registration order (paths with parameters are matched one resource after
/// another: the polled application paths come first). The methods here are the routes' guards
/// and the 405's `Allow`, so `tests::document_covers_every_route` sees what is served.
fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        endpoint(
            route::APPLICATIONS,
            vec![(M::GET, web::to(applications::list))],
        ),
        endpoint(
            route::APPLICATION_QUERY,
            vec![
                (M::GET, web::to(applications::query)),
                (M::POST, web::to(applications::action)),
            ],
        ),
        endpoint(
            route::SAVEPOINT,
            vec![(M::DELETE, web::to(savepoints::dispose))],
        ),
        endpoint(
            route::APPLICATION,
            vec![
                (M::GET, web::to(applications::info)),
                (M::PUT, web::to(applications::create)),
                (M::DELETE, web::to(applications::destroy)),
            ],
        ),
        endpoint(route::PACKAGES, vec![(M::GET, web::to(packages::list))]),
        endpoint(
            route::PACKAGE_APPLICATIONS,
            vec![(M::GET, web::to(packages::applications))],
        ),
        endpoint(
            route::PACKAGE_STATUS,
            vec![(M::GET, web::to(packages::status))],
        ),
        endpoint(
            route::PACKAGE,
            vec![
                (M::GET, web::to(packages::info)),
                (M::PUT, web::to(packages::deploy)),
                (M::DELETE, web::to(packages::undeploy)),
            ],
        ),
        endpoint(route::REPOSITORY, vec![(M::GET, web::to(repository::list))]),
        endpoint(
            route::REPOSITORY_FILE,
            vec![
                (M::PUT, web::to(repository::upload)),
                (M::GET, web::to(repository::download)),
                (M::DELETE, web::to(repository::delete)),
            ],
        ),
        endpoint(route::ENDPOINTS, vec![(M::GET, web::to(system::endpoints))]),
        endpoint(route::METRICS, vec![(M::GET, web::to(system::metrics))]),
        endpoint(route::OPENAPI, vec![(M::GET, web::to(system::openapi))]),
        endpoint(route::PLUGINS, vec![(M::GET, web::to(system::plugins))]),
        endpoint(
            route::PLATFORM_HEALTH,
            vec![(M::GET, web::to(system::platform_health))],
        ),
        endpoint(route::NOTEBOOKS, vec![(M::GET, web::to(notebooks::file))]),
    ]
}

impl Endpoint {
    fn resource(self) -> actix_web::Resource {
        let methods: Vec<Method> = self.routes.iter().map(|(m, _)| m.clone()).collect();
        let mut resource =
            web::resource(self.pattern).route(web::route().method(Method::OPTIONS).to(preflight));
        for (method, route) in self.routes {
            resource = resource.route(route.method(method));
        }
        let wrong_method = move |req: HttpRequest| {
            // The application queries and actions share a pattern: each answers one method.
            let allowed = match req.match_info().get("what").map(applications::methods_of) {
                Some(answered) if !answered.is_empty() => answered,
                _ => methods.clone(),
            };
            let error = method_not_allowed(&req, &allowed);
            async move { error.error_response() }
        };
        resource.default_service(web::to(wrong_method))
    }
}

/// Registers every route; `api` is the shared state.
pub fn configure(api: web::Data<Api>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(api).app_data(
            web::PathConfig::default()
                .error_handler(|e, _| DmError::BadRequest(format!("bad path: {e}")).into()),
        );
        for endpoint in endpoints() {
            cfg.service(endpoint.resource());
        }
        cfg.default_service(web::to(not_found));
    }
}

/// The route patterns, registered by [`configure`] and used as metric labels.
mod route {
    pub const REPOSITORY: &str = "/repository/packages";
    pub const REPOSITORY_FILE: &str = "/repository/packages/{file}";
    pub const PACKAGES: &str = "/packages";
    pub const PACKAGE_APPLICATIONS: &str = "/packages/{id}/applications";
    pub const PACKAGE_STATUS: &str = "/packages/{id}/status";
    pub const PACKAGE: &str = "/packages/{id}";
    pub const APPLICATIONS: &str = "/applications";
    pub const APPLICATION_QUERY: &str = "/applications/{name}/{what}";
    pub const SAVEPOINT: &str = "/applications/{name}/savepoints/{id}";
    pub const APPLICATION: &str = "/applications/{name}";
    pub const ENDPOINTS: &str = "/environment/endpoints";
    pub const METRICS: &str = "/metrics";
    pub const OPENAPI: &str = "/openapi.json";
    pub const PLUGINS: &str = "/plugins";
    pub const PLATFORM_HEALTH: &str = "/platform/health";
    pub const NOTEBOOKS: &str = "/notebooks/{path:.*}";
    /// In registration order.
    pub const ALL: [&str; 16] = [
        APPLICATIONS,
        APPLICATION_QUERY,
        SAVEPOINT,
        APPLICATION,
        PACKAGES,
        PACKAGE_APPLICATIONS,
        PACKAGE_STATUS,
        PACKAGE,
        REPOSITORY,
        REPOSITORY_FILE,
        ENDPOINTS,
        METRICS,
        OPENAPI,
        PLUGINS,
        PLATFORM_HEALTH,
        NOTEBOOKS,
    ];

    /// The pattern `path` falls under. Segment by segment, as actix matches these patterns,
    /// but without the regex engine that `HttpRequest::match_pattern` runs again per request.
    pub fn label(path: &str) -> &'static str {
        ALL.iter()
            .copied()
            .find(|pattern| matches(pattern, path))
            .unwrap_or("unmatched")
    }

    fn matches(pattern: &str, path: &str) -> bool {
        let (mut want, mut got) = (pattern.split('/'), path.split('/'));
        loop {
            match (want.next(), got.next()) {
                (None, None) => return true,
                // A tail parameter takes the rest of the path, slashes included.
                (Some(w), Some(_)) if w.ends_with(":.*}") => return true,
                (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => {}
                (Some(w), Some(g)) if w == g => {}
                _ => return false,
            }
        }
    }
}

/// Counts every request by route pattern, method and status code.
pub fn count_requests<S, B>(
    req: actix_web::dev::ServiceRequest,
    srv: &S,
) -> impl std::future::Future<Output = Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>>
where
    S: Service<
        actix_web::dev::ServiceRequest,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
{
    let route = route::label(req.path());
    let method = req.method().clone();
    let metrics = req
        .app_data::<web::Data<Api>>()
        .map(|api| Arc::clone(&api.engine.metrics));
    let fut = srv.call(req);
    async move {
        let response = fut.await?;
        if let Some(metrics) = metrics {
            metrics.request(route, method.as_str(), response.status().as_u16());
        }
        Ok(response)
    }
}

pub use doc::ApiDoc;

#[cfg(test)]
mod tests {
    use super::{endpoints, route};
    use actix_web::dev::ResourceDef;
    use utoipa::OpenApi;

    /// Each documented operation as (method, a concrete path: its parameters' examples).
    fn documented() -> Vec<(String, String)> {
        let doc = serde_json::to_value(super::ApiDoc::openapi()).unwrap();
        let mut all = Vec::new();
        for (template, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let mut path = template.clone();
                for param in operation["parameters"].as_array().into_iter().flatten() {
                    if param["in"] != "path" {
                        continue;
                    }
                    let schema = param["schema"]["$ref"].as_str().unwrap();
                    let name = schema.trim_start_matches("#/components/schemas/");
                    let example = &doc["components"]["schemas"][name]["example"];
                    let placeholder = format!("{{{}}}", param["name"].as_str().unwrap());
                    path = path.replace(&placeholder, example.as_str().unwrap());
                }
                assert!(
                    !path.contains('{'),
                    "{template}: a path parameter without an example"
                );
                all.push((method.to_uppercase(), path));
            }
        }
        all
    }

    /// The pattern actix routes `path` to: the first that matches, in registration order.
    fn routed(path: &str) -> Option<&'static str> {
        endpoints()
            .into_iter()
            .map(|e| e.pattern)
            .find(|p| ResourceDef::new(*p).is_match(path))
    }

    /// Every route served is documented, and every documented operation is served: a route
    /// cannot be added without its documentation.
    #[test]
    fn document_covers_every_route() {
        let documented = documented();
        let served: Vec<(String, &str)> = endpoints()
            .into_iter()
            .flat_map(|e| {
                let pattern = e.pattern;
                e.routes
                    .into_iter()
                    .map(move |(m, _)| (m.to_string(), pattern))
            })
            .collect();
        for (method, path) in &documented {
            let pattern = routed(path);
            assert!(
                served
                    .iter()
                    .any(|(m, p)| m == method && Some(*p) == pattern),
                "documented {method} {path} is not served (it routes to {pattern:?})"
            );
        }
        for (method, pattern) in &served {
            assert!(
                documented
                    .iter()
                    .any(|(m, path)| m == method && routed(path) == Some(*pattern)),
                "{method} {pattern} is served but not documented"
            );
        }
        let patterns: Vec<&str> = endpoints().into_iter().map(|e| e.pattern).collect();
        assert_eq!(
            patterns,
            route::ALL,
            "route::ALL lists the registered patterns in order"
        );
    }

    /// The application paths that share a pattern answer the methods documented for each.
    #[test]
    fn application_queries_and_actions() {
        use actix_web::http::Method;
        for (method, path) in documented() {
            let Some(what) = path.strip_prefix("/applications/my-app/") else {
                continue;
            };
            if what.contains('/') {
                continue;
            }
            let expected = Method::from_bytes(method.as_bytes()).unwrap();
            assert!(
                super::applications::methods_of(what).contains(&expected),
                "{method} {path}"
            );
        }
        assert!(super::applications::methods_of("bogus").is_empty());
    }

    #[test]
    fn labels_agree_with_actix_routing() {
        let paths = [
            "/repository/packages",
            "/repository/packages/a-1.0.0.tar.gz",
            "/packages",
            "/packages/a-1.0.0",
            "/packages/a-1.0.0/status",
            "/packages/a-1.0.0/applications",
            "/applications",
            "/applications/x",
            "/applications/x/status",
            "/applications/x/start",
            "/environment/endpoints",
            "/metrics",
            "/openapi.json",
            "/platform/health",
            "/notebooks/jupyter-alice/info/refs",
            "/notebooks/jupyter-alice",
            "/notebooks/",
            "/notebooks",
            "/",
            "/packages/",
            "/applications/x/y/z",
            "/nothing",
        ];
        for path in paths {
            // The first pattern actix would match, in registration order.
            let actix = route::ALL
                .iter()
                .copied()
                .find(|p| ResourceDef::new(*p).is_match(path))
                .unwrap_or("unmatched");
            assert_eq!(route::label(path), actix, "{path}");
        }
    }
}
