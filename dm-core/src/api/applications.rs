//! `/applications`: create, start, stop, destroy, and what is known about each.

use super::doc::{AppName, Caller, CreateBody, UserName};
use super::{blocking, method_not_allowed, Api, Reply};
use crate::auth::action;
use crate::error::{DmError, ErrorBody};
use crate::lifecycle::check_app_name;
use crate::registry::AppState;
use actix_web::http::header::ContentType;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use packaging::PackageId;
use std::sync::Arc;

/// Overrides are a few properties per component; anything this big is a mistake.
const MAX_CREATE_BODY: usize = 1 << 20;
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
async fn authorize(
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
    let (owner, body) = read(&api.engine, name)?;
    api.policy
        .check(&identity, action::APPLICATION_READ, owner.as_deref())?;
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(get, path = "/applications/{name}", operation_id = "application_info", tag = "applications",
    params(("name" = AppName, Path,), ("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "{name, package_name, status, information, overrides, defaults}; unknown: {status: NOTCREATED, information: null}", body = Object),
              (status = 400, description = "bad name or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody)))]
pub async fn info(api: web::Data<Api>, req: HttpRequest, name: web::Path<String>) -> Reply {
    read_app(&api, &req, &name, |engine, name| engine.app_info(name)).await
}

/// What a segment after `/applications/{name}/` is: a query (GET) or an action (POST).
pub fn method_of(segment: &str) -> Option<Method> {
    match segment {
        "status" | "detail" | "summary" | "logs" => Some(Method::GET),
        "start" | "stop" => Some(Method::POST),
        _ => None,
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
        _ if method_of(&what) == Some(Method::POST) => {
            Err(method_not_allowed(&req, &[Method::POST]))
        }
        _ => Err(DmError::BadRequest(format!(
            "{what} is not a valid query (status|detail|summary|logs)"
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
    let (owner, body) = blocking(move || engine.app_logs(&name)).await?;
    api.policy
        .check(&identity, action::APPLICATION_READ, owner.as_deref())?;
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
              (status = 413, description = "TOO_LARGE: the body is over 1 MiB", body = ErrorBody)))]
pub async fn create(
    api: web::Data<Api>,
    req: HttpRequest,
    name: web::Path<String>,
    mut payload: web::Payload,
) -> Reply {
    let (mut body, mut size) = (Vec::new(), 0);
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| DmError::BadRequest(format!("request body broke off: {e}")))?;
        size += chunk.len();
        // Past the limit the rest is read and dropped (up to a bound), so the client gets the
        // answer instead of a reset connection.
        if size > 16 * MAX_CREATE_BODY {
            break;
        } else if size <= MAX_CREATE_BODY {
            body.extend_from_slice(&chunk);
        }
    }
    if size > MAX_CREATE_BODY {
        return Err(DmError::PayloadTooLarge(format!(
            "the request body is larger than {MAX_CREATE_BODY} bytes"
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
) -> Reply {
    let (name, what) = path.into_inner();
    match what.as_str() {
        "start" => start(api, req, name).await,
        "stop" => stop(api, req, name).await,
        _ if method_of(&what) == Some(Method::GET) => Err(method_not_allowed(&req, &[Method::GET])),
        _ => Err(DmError::BadRequest(format!(
            "{what} is not a valid action (start|stop)"
        ))),
    }
}

#[utoipa::path(post, path = "/applications/{name}/start", operation_id = "start_application", tag = "applications",
    params(("name" = AppName, Path,), ("user.name" = UserName, Query,)),
    responses((status = 202, description = "starting; poll the status"),
              (status = 400, description = "bad name or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 404, description = "NOTCREATED: no such application", body = ErrorBody),
              (status = 409, description = "not CREATED, or an operation is in progress", body = ErrorBody)))]
async fn start(api: web::Data<Api>, req: HttpRequest, name: String) -> Reply {
    let user = authorize(&api, &req, &name, action::APPLICATION_START).await?;
    let api2 = api.clone();
    blocking(move || api2.engine.start(&name, &user)).await?;
    Ok(HttpResponse::Accepted().finish())
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
