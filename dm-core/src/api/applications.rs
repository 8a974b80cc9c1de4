//! `/applications`: create, start, stop, destroy, and what is known about each.

use super::doc::{
    AppName, Caller, CreateBody, RestoreChoice as RestoreChoiceSchema, UpgradeBody, UserName,
};
use super::{blocking, method_not_allowed, Api, Reply};
use crate::auth::action;
use crate::error::{DmError, ErrorBody};
use crate::lifecycle::check_app_name;
use crate::registry::AppState;
use crate::savepoints::RestoreChoice;
use actix_web::http::header::ContentType;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use packaging::PackageId;
use std::sync::Arc;

use serde_json::{Map, Value};

#[utoipa::path(get, path = "/applications", operation_id = "list_applications", tag = "applications",
    params(("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "names of all applications", body = Vec<String>),
              (status = 400, description = "bad user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody)))]
pub async fn list(api: web::Data<Api>, req: HttpRequest) -> Reply {
    let identity = api.identify(&req)?;
    api.policy
        .check(&identity, action::APPLICATIONS_READ, None)?;
    let api2 = api.clone();
    Ok(HttpResponse::Ok().json(blocking(move || api2.engine.list_applications(None)).await?))
}

/// Checks the name and that the caller may `act` on application `name`; returns the user.
pub(super) async fn authorize(
    api: &web::Data<Api>,
    req: &HttpRequest,
    name: &str,
    act: &str,
) -> Result<String, DmError> {
    let identity = api.identify_user(req)?;
    check_app_name(name)?;
    let api2 = api.clone();
    let owned = name.to_string();
    let owner = blocking(move || api2.engine.app_owner(&owned)).await?;
    // Authorized before the state is checked, so outsiders learn nothing of it; an application
    // that does not exist has no owner and nothing to protect, and gets its 404.
    if owner.is_some() {
        api.policy.check(&identity, act, owner.as_deref())?;
    }
    Ok(identity.user)
}

/// Reads something about application `name` (with its owner) for a caller allowed
/// `application:read`. These are point reads on a WAL reader connection: microseconds, never
/// waiting for a writer, so they run here rather than paying a hop to the blocking pool on the
/// path status polling hammers.
async fn read_app(
    api: &web::Data<Api>,
    req: &HttpRequest,
    name: &str,
    read: impl FnOnce(&crate::lifecycle::Engine, &str) -> Result<(Option<String>, Value), DmError>,
) -> Reply {
    let identity = api.identify(req)?;
    check_app_name(name)?;
    let (owner, mut body) = read(&api.engine, name)?;
    api.policy
        .check(&identity, action::APPLICATION_READ, owner.as_deref())?;
    // Overrides and defaults may hold passwords and tokens: never shown.
    api.secrets.redact(&mut body);
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(get, path = "/applications/{name}", operation_id = "application_info", tag = "applications",
    params(("name" = AppName, Path,), ("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "{name, package_name, status, information, overrides, defaults}, secret-named properties redacted; unknown: {status: NOTCREATED, information: null}", body = Object),
              (status = 400, description = "bad name or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody)))]
pub async fn info(api: web::Data<Api>, req: HttpRequest, name: web::Path<String>) -> Reply {
    read_app(&api, &req, &name, |engine, name| engine.app_info(name)).await
}

/// The methods a segment after `/applications/{name}/` answers: a query (GET), an action
/// (POST), or the savepoint catalog (both).
pub fn methods_of(segment: &str) -> Vec<Method> {
    match segment {
        "status" | "detail" | "summary" | "logs" => vec![Method::GET],
        "start" | "stop" => vec![Method::POST],
        "savepoints" => vec![Method::GET, Method::POST],
        "upgrade" => vec![Method::POST],
        "upgrades" => vec![Method::GET],
        _ => Vec::new(),
    }
}

/// `GET /applications/{name}/{what}`: one pattern for the four queries.
pub async fn query(
    api: web::Data<Api>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Reply {
    let (name, what) = path.into_inner();
    match what.as_str() {
        "status" => status(api, req, name).await,
        "detail" => detail(api, req, name).await,
        "summary" => summary(api, req, name).await,
        "logs" => logs(api, req, name).await,
        "savepoints" => super::savepoints::list(api, req, name).await,
        "upgrades" => upgrades(api, req, name).await,
        _ if methods_of(&what) == [Method::POST] => Err(method_not_allowed(&req, &[Method::POST])),
        _ => Err(DmError::BadRequest(format!(
            "{what} is not a valid query (status|detail|summary|logs|savepoints|upgrades)"
        ))),
    }
}

#[utoipa::path(get, path = "/applications/{name}/status", operation_id = "application_status", tag = "applications",
    params(("name" = AppName, Path,), ("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "{status, information}; an unknown application is NOTCREATED", body = Object),
              (status = 400, description = "bad name or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody)))]
async fn status(api: web::Data<Api>, req: HttpRequest, name: String) -> Reply {
    let identity = api.identify(&req)?;
    check_app_name(&name)?;
    let brief = api.engine.app_status(&name);
    let owner = brief.as_deref().map(|b| b.owner.as_str());
    api.policy
        .check(&identity, action::APPLICATION_READ, owner)?;
    // PNDA's answer for an application it does not know.
    let body = match brief.as_deref() {
        Some(b) => StatusBody {
            status: b.state.as_str(),
            information: b.information.as_deref(),
        },
        None => StatusBody {
            status: AppState::NotCreated.as_str(),
            information: None,
        },
    };
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| DmError::Internal(format!("cannot serialize a status: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(bytes))
}

/// `{status, information}`, written straight from the brief: status polling is the hot path,
/// and a `Value` tree per request cost more than the answer.
#[derive(serde::Serialize)]
struct StatusBody<'a> {
    status: &'a str,
    information: Option<&'a str>,
}

#[utoipa::path(get, path = "/applications/{name}/detail", operation_id = "application_detail", tag = "applications",
    params(("name" = AppName, Path,), ("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "{name, status, yarn_applications: {<type>-<component>: {yarn-id, yarn-state, yarn-final-status, yarn-start-time, tracking-url}}}", body = Object),
              (status = 400, description = "bad name or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 404, description = "NOTCREATED: no such application", body = ErrorBody)))]
async fn detail(api: web::Data<Api>, req: HttpRequest, name: String) -> Reply {
    // YARN details come from the status observer's last cycle, in memory.
    let status = Arc::clone(&api.status);
    read_app(&api, &req, &name, |engine, name| {
        let (owner, mut body) = engine.app_detail(name)?;
        if let Some(yarn) = status.yarn_applications(name) {
            body["yarn_applications"] = Value::Object(yarn);
        }
        Ok((owner, body))
    })
    .await
}

#[utoipa::path(get, path = "/applications/{name}/summary", operation_id = "application_summary", tag = "applications",
    params(("name" = AppName, Path,), ("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "PNDA's {<name>: {aggregate_status, observed_at, <type>-<n>: {aggregate_status, yarnId, tracking_url, information, name, componentType, observed: {source, at}, since?, last_good?, failure?, kpis?}}} from the status observer's last cycle ({<name>: {status: Not Available}} before it, {<name>: {status: Not Created}} for an unknown application)", body = Object),
              (status = 400, description = "bad name or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody)))]
async fn summary(api: web::Data<Api>, req: HttpRequest, name: String) -> Reply {
    let identity = api.identify(&req)?;
    check_app_name(&name)?;
    let (owner, placeholder) = api.engine.app_summary(&name)?;
    api.policy
        .check(&identity, action::APPLICATION_READ, owner.as_deref())?;
    // Only for an application that exists now: one destroyed since the last cycle is gone.
    let exists = placeholder[&name]["status"] == "Not Available";
    // The status observer's last cycle, serialized once when it was published.
    match exists.then(|| api.status.summary(&name)).flatten() {
        Some(body) => Ok(HttpResponse::Ok()
            .content_type(ContentType::json())
            .body(body)),
        None => Ok(HttpResponse::Ok().json(placeholder)),
    }
}

#[utoipa::path(get, path = "/applications/{name}/logs", operation_id = "application_logs", tag = "applications",
    params(("name" = AppName, Path,), ("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "each component's latest attempt: {<type>-<component>: {attempt, text} or {error}}", body = Object),
              (status = 400, description = "bad name or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 404, description = "NOTCREATED: no such application", body = ErrorBody)))]
async fn logs(api: web::Data<Api>, req: HttpRequest, name: String) -> Reply {
    // Asks the supervisor, which may take a moment: off the async workers.
    let identity = api.identify(&req)?;
    check_app_name(&name)?;
    let engine = api.engine.clone();
    let (owner, mut body) = blocking(move || engine.app_logs(&name)).await?;
    api.policy
        .check(&identity, action::APPLICATION_READ, owner.as_deref())?;
    api.secrets.redact(&mut body);
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(put, path = "/applications/{name}", operation_id = "create_application", tag = "applications",
    params(("name" = AppName, Path,), ("user.name" = UserName, Query,)),
    request_body(content = CreateBody, description = "the package, and property overrides per component; `user` is refused (user.name says who)"),
    responses((status = 202, description = "creating; poll the status"),
              (status = 400, description = "bad name, user.name or body (not a JSON object, no package, a user field, unknown components)", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 404, description = "NOTDEPLOYED: the package is not deployed", body = ErrorBody),
              (status = 409, description = "the application exists", body = ErrorBody),
              (status = 408, description = "TIMEOUT: the body stalled for server.body_idle_timeout_secs", body = ErrorBody),
              (status = 413, description = "TOO_LARGE: the body is over server.max_json_bytes (1 MiB by default)", body = ErrorBody)))]
pub async fn create(
    api: web::Data<Api>,
    req: HttpRequest,
    name: web::Path<String>,
    mut payload: web::Payload,
) -> Reply {
    // Overrides are a few properties per component; anything over the limit is a mistake.
    let limit = api.max_json_bytes;
    let idle = api.body_idle_timeout;
    let (mut body, mut size) = (Vec::new(), 0);
    while let Some(chunk) = actix_web::rt::time::timeout(idle, payload.next())
        .await
        .map_err(|_| {
            DmError::Timeout(format!(
                "the request body stalled: no data for {} s (server.body_idle_timeout_secs)",
                idle.as_secs()
            ))
        })?
    {
        let chunk =
            chunk.map_err(|e| DmError::BadRequest(format!("request body broke off: {e}")))?;
        size += chunk.len();
        // Past the limit the rest is read and dropped (up to a bound), so the client gets the
        // answer instead of a reset connection.
        if size > limit.saturating_mul(16) {
            break;
        } else if size <= limit {
            body.extend_from_slice(&chunk);
        }
    }
    if size > limit {
        return Err(DmError::PayloadTooLarge(format!(
            "the request body is larger than the limit of {limit} bytes (server.max_json_bytes)"
        )));
    }
    let body: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(map)) => map,
        _ => return Err(DmError::BadRequest("Invalid request body".into())),
    };
    if !body.contains_key("package") {
        return Err(DmError::BadRequest(
            "Invalid request body. Missing field 'package'".into(),
        ));
    }
    if body.contains_key("user") {
        return Err(DmError::BadRequest(
            "Invalid request body. User should be passed as URI parameter user.name".into(),
        ));
    }
    let identity = api.identify_user(&req)?;
    check_app_name(&name)?;
    // PNDA meant to check read access to the package (it looked up the wrong owner).
    if let Some(package) = body["package"]
        .as_str()
        .and_then(|p| PackageId::parse(p).ok())
    {
        let api2 = api.clone();
        let owner = blocking(move || api2.engine.package_owner(&package)).await?;
        api.policy
            .check(&identity, action::PACKAGE_READ, owner.as_deref())?;
    }
    api.policy
        .check(&identity, action::APPLICATION_CREATE, None)?;
    let api2 = api.clone();
    blocking(move || api2.engine.create(&name, body, &identity.user)).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// `POST /applications/{name}/{what}`: one pattern for the two actions.
pub async fn action(
    api: web::Data<Api>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Reply {
    let (name, what) = path.into_inner();
    match what.as_str() {
        "start" => start(api, req, name).await,
        "stop" => stop(api, req, name).await,
        "savepoints" => super::savepoints::trigger(api, req, name, body).await,
        "upgrade" => upgrade(api, req, name, body).await,
        _ if methods_of(&what) == [Method::GET] => Err(method_not_allowed(&req, &[Method::GET])),
        _ => Err(DmError::BadRequest(format!(
            "{what} is not a valid action (start|stop|savepoints|upgrade)"
        ))),
    }
}

#[utoipa::path(post, path = "/applications/{name}/start", operation_id = "start_application", tag = "applications",
    params(("name" = AppName, Path,), ("user.name" = UserName, Query,),
           ("savepoint" = Option<RestoreChoiceSchema>, Query, description = "what Flink jobs restore from: a savepoint id of the catalog, `latest` (the default: each job's newest completed savepoint) or `none`"),
           ("allow_non_restored_state" = Option<bool>, Query, description = "`true`: a restore may drop state of operators the job no longer has")),
    responses((status = 202, description = "starting; poll the status"),
              (status = 400, description = "bad name, user.name, savepoint (not in the catalog, not COMPLETED) or allow_non_restored_state", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 404, description = "NOTCREATED: no such application", body = ErrorBody),
              (status = 409, description = "not CREATED, or an operation is in progress", body = ErrorBody)))]
async fn start(api: web::Data<Api>, req: HttpRequest, name: String) -> Reply {
    let user = authorize(&api, &req, &name, action::APPLICATION_START).await?;
    let params = super::query(&req);
    let restore = RestoreChoice::parse(params.get("savepoint").map(String::as_str))
        .map_err(DmError::BadRequest)?;
    let allow = match params.get("allow_non_restored_state").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(DmError::BadRequest(format!(
                "allow_non_restored_state must be true or false, not {other:?}"
            )))
        }
    };
    let api2 = api.clone();
    blocking(move || api2.engine.start(&name, &user, restore, allow)).await?;
    Ok(HttpResponse::Accepted().finish())
}

#[utoipa::path(post, path = "/applications/{name}/upgrade", operation_id = "upgrade_application", tag = "applications",
    params(("name" = AppName, Path,), ("user.name" = UserName, Query,)),
    request_body(content = UpgradeBody, description = "the deployed package to run (same components), how Flink jobs keep their state, overrides, rollback, readiness", content_type = "application/json"),
    responses((status = 202, description = "{upgrade: id, from, to, mode, stateless: [components upgraded without state]}: the application is UPGRADING, then STARTED on the new version or ROLLED_BACK; follow GET …/upgrades", body = Object),
              (status = 400, description = "bad name, user.name or body; the new version's components differ or do not plan", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 404, description = "no such application, or the package is not deployed", body = ErrorBody),
              (status = 409, description = "not running, an operation in progress, or no state to keep", body = ErrorBody)))]
async fn upgrade(api: web::Data<Api>, req: HttpRequest, name: String, body: web::Bytes) -> Reply {
    let user = authorize(&api, &req, &name, action::APPLICATION_START).await?;
    let limit = api.max_json_bytes;
    if body.len() > limit {
        return Err(DmError::PayloadTooLarge(format!(
            "the upgrade request is larger than the limit of {limit} bytes (server.max_json_bytes)"
        )));
    }
    let body: Value = serde_json::from_slice(&body).map_err(|e| {
        DmError::BadRequest(format!(
            "Invalid upgrade request: the body is not JSON: {e}"
        ))
    })?;
    let api2 = api.clone();
    let answer = blocking(move || api2.engine.upgrade(&name, body, &user)).await?;
    Ok(HttpResponse::Accepted().json(answer))
}

#[utoipa::path(get, path = "/applications/{name}/upgrades", operation_id = "list_upgrades", tag = "applications",
    params(("name" = AppName, Path,), ("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "{upgrades: [{id, from_package, to_package, mode, rollback, ready_sec, timeout_sec, step: CLAIMED|STOPPING_OLD|SWITCHING|STARTING_NEW|WAITING_READY|DONE|ROLLING_BACK|ROLLED_BACK|FAILED, restore: {<component>: path|null}, information, started_ms, finished_ms}] newest first", body = Object),
              (status = 400, description = "bad name or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody)))]
async fn upgrades(api: web::Data<Api>, req: HttpRequest, name: String) -> Reply {
    let identity = api.identify(&req)?;
    check_app_name(&name)?;
    let api2 = api.clone();
    let (owner, body) = blocking(move || api2.engine.list_upgrades(&name)).await?;
    api.policy
        .check(&identity, action::APPLICATION_READ, owner.as_deref())?;
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(post, path = "/applications/{name}/stop", operation_id = "stop_application", tag = "applications",
    params(("name" = AppName, Path,), ("user.name" = UserName, Query,)),
    responses((status = 202, description = "stopping; poll the status"),
              (status = 400, description = "bad name or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 404, description = "NOTCREATED: no such application", body = ErrorBody),
              (status = 409, description = "not STARTED, or an operation is in progress", body = ErrorBody)))]
async fn stop(api: web::Data<Api>, req: HttpRequest, name: String) -> Reply {
    let user = authorize(&api, &req, &name, action::APPLICATION_STOP).await?;
    let api2 = api.clone();
    blocking(move || api2.engine.stop(&name, &user)).await?;
    Ok(HttpResponse::Accepted().finish())
}

#[utoipa::path(delete, path = "/applications/{name}", operation_id = "destroy_application", tag = "applications",
    params(("name" = AppName, Path,), ("user.name" = UserName, Query,)),
    responses((status = 202, description = "destroying; poll the status"),
              (status = 400, description = "bad name or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 404, description = "NOTCREATED: no such application", body = ErrorBody),
              (status = 409, description = "an operation is in progress", body = ErrorBody)))]
pub async fn destroy(api: web::Data<Api>, req: HttpRequest, name: web::Path<String>) -> Reply {
    let user = authorize(&api, &req, &name, action::APPLICATION_DESTROY).await?;
    let api2 = api.clone();
    blocking(move || api2.engine.destroy(&name, &user)).await?;
    Ok(HttpResponse::Accepted().finish())
}
