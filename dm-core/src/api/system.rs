//! `/environment/endpoints`, `/metrics`, `/openapi.json`, `/plugins` and `/platform/health`.

use super::doc::{document, Caller};
use super::{blocking, Api, Reply};
use crate::auth::action;
use crate::error::ErrorBody;
use crate::registry;
use actix_web::{web, HttpRequest, HttpResponse};

#[utoipa::path(get, path = "/environment/endpoints", operation_id = "environment_endpoints", tag = "environment",
    params(("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "the cluster environment, secrets redacted", body = Object),
              (status = 400, description = "bad user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody)))]
pub async fn endpoints(api: web::Data<Api>, req: HttpRequest) -> Reply {
    let identity = api.identify(&req)?;
    api.policy
        .check(&identity, action::ENVIRONMENT_READ, None)?;
    Ok(HttpResponse::Ok().json(&api.endpoints))
}

#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "system",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
pub async fn metrics(api: web::Data<Api>) -> Reply {
    let api2 = api.clone();
    let counts = blocking(move || api2.engine.registry.read(registry::count_apps_by_state)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(
            api.engine.metrics.render(&counts)
                + &api.status.render_prometheus()
                + &api.health.render_prometheus(),
        ))
}

#[utoipa::path(get, path = "/platform/health", operation_id = "platform_health", tag = "system",
    params(("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "platform health in PNDA's metric names: {timestamp, data: [{source, metric, value (OK/WARN/ERROR or a figure), causes, timestamp}]}; services not configured are absent", body = Object),
              (status = 400, description = "bad user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody)))]
pub async fn platform_health(api: web::Data<Api>, req: HttpRequest) -> Reply {
    let identity = api.identify(&req)?;
    api.policy
        .check(&identity, action::ENVIRONMENT_READ, None)?;
    Ok(HttpResponse::Ok().json(api.health.json()))
}

#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "system",
    responses((status = 200, description = "this document, for this dmd's auth mode", body = Object)))]
pub async fn openapi(api: web::Data<Api>) -> HttpResponse {
    HttpResponse::Ok().json(document(api.auth_mode))
}

#[utoipa::path(get, path = "/plugins", operation_id = "plugins", tag = "system",
    responses((status = 200, description = "the runtime plugins loaded (`plugins`: [{type, version, file}]), what dmd found on its own (`found`: [{what, value, source}]: data folder, plugins folder, Flink versions, Spark) and what is missing (`missing`: [text])", body = Object)))]
pub async fn plugins(api: web::Data<Api>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "plugins": api.plugins,
        "found": api.discovered.found,
        "missing": api.discovered.missing,
    }))
}
