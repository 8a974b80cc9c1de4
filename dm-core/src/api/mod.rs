//! The REST API (actix-web), PNDA-compatible: same paths, verbs, status codes and JSON shapes,
//! with every body `application/json` and every error `{"status": …, "information": …}`.
//! Handlers only authenticate, authorize and translate; the work is the engine's, called on
//! actix's blocking pool because the registry is synchronous (application reads excepted: see
//! `applications::read_app`).

mod applications;
mod notebooks;
mod packages;
mod repository;
mod system;

use crate::auth::{AuthMode, Authenticator, Identity, Policy};
use crate::error::DmError;
use crate::lifecycle::Engine;
use actix_web::dev::Service;
use actix_web::http::StatusCode;
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
        HttpResponse::build(self.status_code()).json(self.body())
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

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let body = serde_json::json!({"status": "METHOD_NOT_ALLOWED", "information": format!("{} is not allowed on {}", req.method(), req.path())});
    HttpResponse::MethodNotAllowed().json(body)
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

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path)
        .route(
            web::route()
                .method(actix_web::http::Method::OPTIONS)
                .to(preflight),
        )
        .default_service(web::to(method_not_allowed))
}

/// Registers every route; `api` is the shared state.
pub fn configure(api: web::Data<Api>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(api)
            .app_data(
                web::PathConfig::default()
                    .error_handler(|e, _| DmError::BadRequest(format!("bad path: {e}")).into()),
            )
            // Paths with parameters are matched by regex, one resource after another: the
            // polled application paths come first.
            .service(resource(route::APPLICATIONS).route(web::get().to(applications::list)))
            .service(
                resource(route::APPLICATION_QUERY)
                    .route(web::get().to(applications::query))
                    .route(web::post().to(applications::action)),
            )
            .service(
                resource(route::APPLICATION)
                    .route(web::get().to(applications::info))
                    .route(web::put().to(applications::create))
                    .route(web::delete().to(applications::destroy)),
            )
            .service(resource(route::PACKAGES).route(web::get().to(packages::list)))
            .service(
                resource(route::PACKAGE_APPLICATIONS).route(web::get().to(packages::applications)),
            )
            .service(resource(route::PACKAGE_STATUS).route(web::get().to(packages::status)))
            .service(
                resource(route::PACKAGE)
                    .route(web::get().to(packages::info))
                    .route(web::put().to(packages::deploy))
                    .route(web::delete().to(packages::undeploy)),
            )
            .service(resource(route::REPOSITORY).route(web::get().to(repository::list)))
            .service(
                resource(route::REPOSITORY_FILE)
                    .route(web::put().to(repository::upload))
                    .route(web::get().to(repository::download))
                    .route(web::delete().to(repository::delete)),
            )
            .service(resource(route::ENDPOINTS).route(web::get().to(system::endpoints)))
            .service(resource(route::METRICS).route(web::get().to(system::metrics)))
            .service(resource(route::OPENAPI).route(web::get().to(system::openapi)))
            .service(resource(route::PLUGINS).route(web::get().to(system::plugins)))
            .service(resource(route::PLATFORM_HEALTH).route(web::get().to(system::platform_health)))
            .service(resource(route::NOTEBOOKS).route(web::get().to(notebooks::file)))
            .default_service(web::to(not_found));
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
    pub const APPLICATION: &str = "/applications/{name}";
    pub const ENDPOINTS: &str = "/environment/endpoints";
    pub const METRICS: &str = "/metrics";
    pub const OPENAPI: &str = "/openapi.json";
    pub const PLUGINS: &str = "/plugins";
    pub const PLATFORM_HEALTH: &str = "/platform/health";
    pub const NOTEBOOKS: &str = "/notebooks/{path:.*}";
    /// In registration order.
    pub const ALL: [&str; 15] = [
        APPLICATIONS,
        APPLICATION_QUERY,
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

pub use system::ApiDoc;

#[cfg(test)]
mod tests {
    use super::route;
    use actix_web::dev::ResourceDef;

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
