//! The REST API (actix-web), PNDA-compatible: same paths, verbs, status codes and JSON shapes,
//! with every body `application/json` and every error `{"status": …, "information": …}`.
//! Handlers only authenticate, authorize and translate; the work is the engine's, called on
//! actix's blocking pool because the registry is synchronous.

mod applications;
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
    pub auth: Authenticator,
    pub auth_mode: AuthMode,
    pub policy: Policy,
    /// `/environment/endpoints`, secrets already redacted.
    pub endpoints: Value,
    pub max_upload_bytes: u64,
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
            .service(resource("/repository/packages").route(web::get().to(repository::list)))
            .service(
                resource("/repository/packages/{file}")
                    .route(web::put().to(repository::upload))
                    .route(web::get().to(repository::download))
                    .route(web::delete().to(repository::delete)),
            )
            .service(resource("/packages").route(web::get().to(packages::list)))
            .service(
                resource("/packages/{id}/applications")
                    .route(web::get().to(packages::applications)),
            )
            .service(resource("/packages/{id}/status").route(web::get().to(packages::status)))
            .service(
                resource("/packages/{id}")
                    .route(web::get().to(packages::info))
                    .route(web::put().to(packages::deploy))
                    .route(web::delete().to(packages::undeploy)),
            )
            .service(resource("/applications").route(web::get().to(applications::list)))
            .service(
                resource("/applications/{name}/{what}")
                    .route(web::get().to(applications::query))
                    .route(web::post().to(applications::action)),
            )
            .service(
                resource("/applications/{name}")
                    .route(web::get().to(applications::info))
                    .route(web::put().to(applications::create))
                    .route(web::delete().to(applications::destroy)),
            )
            .service(resource("/environment/endpoints").route(web::get().to(system::endpoints)))
            .service(resource("/metrics").route(web::get().to(system::metrics)))
            .service(resource("/openapi.json").route(web::get().to(system::openapi)))
            .default_service(web::to(not_found));
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
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let metrics = req
        .app_data::<web::Data<Api>>()
        .map(|api| Arc::clone(&api.engine.metrics));
    let fut = srv.call(req);
    async move {
        let response = fut.await?;
        if let Some(metrics) = metrics {
            metrics.request(&route, &method, response.status().as_u16());
        }
        Ok(response)
    }
}

pub use system::ApiDoc;
