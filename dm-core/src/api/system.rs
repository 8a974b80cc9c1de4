//! `/environment/endpoints`, `/metrics` and `/openapi.json`.

use super::{applications, blocking, notebooks, packages, repository, Api, Reply};
use crate::auth::action;
use crate::registry;
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dm",
        description = "Deployment manager for data applications (PNDA-compatible API)"
    ),
    paths(
        repository::list,
        repository::upload,
        repository::download,
        repository::delete,
        packages::list,
        packages::info,
        packages::status,
        packages::deploy,
        packages::undeploy,
        packages::applications,
        applications::list,
        applications::info,
        applications::query,
        applications::create,
        applications::action,
        applications::destroy,
        endpoints,
        metrics,
        openapi,
        plugins,
        platform_health,
        notebooks::file
    )
)]
pub struct ApiDoc;

#[utoipa::path(get, path = "/environment/endpoints", tag = "environment",
    responses((status = 200, description = "the cluster environment, secrets redacted")))]
pub async fn endpoints(api: web::Data<Api>, req: HttpRequest) -> Reply {
    let identity = api.identify(&req)?;
    api.policy
        .check(&identity, action::ENVIRONMENT_READ, None)?;
    Ok(HttpResponse::Ok().json(&api.endpoints))
}

#[utoipa::path(get, path = "/metrics", tag = "system", responses((status = 200, description = "Prometheus text exposition")))]
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

#[utoipa::path(get, path = "/platform/health", tag = "system",
    responses((status = 200, description = "platform health in PNDA's metric names: {timestamp, data: [{source, metric, value (OK/WARN/ERROR or a figure), causes, timestamp}]}; services not configured are absent")))]
pub async fn platform_health(api: web::Data<Api>, req: HttpRequest) -> Reply {
    let identity = api.identify(&req)?;
    api.policy
        .check(&identity, action::ENVIRONMENT_READ, None)?;
    Ok(HttpResponse::Ok().json(api.health.json()))
}

#[utoipa::path(get, path = "/openapi.json", tag = "system", responses((status = 200, description = "this document")))]
pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

#[utoipa::path(get, path = "/plugins", tag = "system",
    responses((status = 200, description = "the runtime plugins loaded (`plugins`: [{type, version, file}]), what dmd found on its own (`found`: [{what, value, source}]: data folder, plugins folder, Flink versions, Spark) and what is missing (`missing`: [text])")))]
pub async fn plugins(api: web::Data<Api>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "plugins": api.plugins,
        "found": api.discovered.found,
        "missing": api.discovered.missing,
    }))
}
