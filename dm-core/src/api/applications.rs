//! `/applications`: create, start, stop, destroy, and what is known about each.

use super::{blocking, Api, Reply};
use crate::auth::action;
use crate::error::DmError;
use crate::lifecycle::check_app_name;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use packaging::PackageId;
use std::sync::Arc;

/// Overrides are a few properties per component; anything this big is a mistake.
const MAX_CREATE_BODY: usize = 1 << 20;
use serde_json::{Map, Value};

#[utoipa::path(get, path = "/applications", tag = "applications", responses((status = 200, description = "names of all applications")))]
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

#[utoipa::path(get, path = "/applications/{name}", tag = "applications", params(("name" = String, Path,)),
    responses((status = 200, description = "{name, package_name, status, information, overrides, defaults}; unknown: {status: NOTCREATED}")))]
pub async fn info(api: web::Data<Api>, req: HttpRequest, name: web::Path<String>) -> Reply {
    read_app(&api, &req, &name, |engine, name| engine.app_info(name)).await
}

#[utoipa::path(get, path = "/applications/{name}/{what}", tag = "applications",
    params(("name" = String, Path,), ("what" = String, Path, description = "status, detail, summary or logs")),
    responses((status = 200, description = "status: {status, information}; detail: {name, status, yarn_applications: {<type>-<component>: {yarn-id, yarn-state, yarn-final-status, yarn-start-time, tracking-url}}}; summary: PNDA's {<name>: {aggregate_status, observed_at, <type>-<n>: {aggregate_status, yarnId, tracking_url, information, name, componentType, observed: {source, at}, since?, last_good?, failure?, kpis?}}} from the status observer's last cycle ({<name>: {status: Not Available}} before it); logs: each component's latest attempt"), (status = 400, description = "not a valid query"),
              (status = 404, description = "detail of an application that does not exist")))]
pub async fn query(
    api: web::Data<Api>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Reply {
    let (name, what) = path.into_inner();
    if !matches!(what.as_str(), "status" | "detail" | "summary" | "logs") {
        return Err(DmError::BadRequest(format!(
            "{what} is not a valid query (status|detail|summary|logs)"
        )));
    }
    if what == "logs" {
        // Asks the supervisor, which may take a moment: off the async workers.
        let identity = api.identify(&req)?;
        check_app_name(&name)?;
        let engine = api.engine.clone();
        let (owner, body) = blocking(move || engine.app_logs(&name)).await?;
        api.policy
            .check(&identity, action::APPLICATION_READ, owner.as_deref())?;
        return Ok(HttpResponse::Ok().json(body));
    }
    // Summaries and YARN details come from the status observer's last cycle, in memory.
    let status = Arc::clone(&api.status);
    read_app(&api, &req, &name, |engine, name| match what.as_str() {
        "status" => engine.app_status(name),
        "detail" => {
            let (owner, mut body) = engine.app_detail(name)?;
            if let Some(yarn) = status.yarn_applications(name) {
                body["yarn_applications"] = Value::Object(yarn);
            }
            Ok((owner, body))
        }
        _ => {
            let (owner, placeholder) = engine.app_summary(name)?;
            // Only for an application that exists now: one destroyed since the last cycle is gone.
            let exists = placeholder[name]["status"] == "Not Available";
            let observed = exists.then(|| status.summary(name)).flatten();
            Ok((owner, observed.unwrap_or(placeholder)))
        }
    })
    .await
}

#[utoipa::path(put, path = "/applications/{name}", tag = "applications", params(("name" = String, Path,), ("user.name" = Option<String>, Query,)),
    request_body(content = Object, description = "{package, <componentType>: {<component>: {<property>: value}}}"),
    responses((status = 202, description = "creating; poll the status"), (status = 400, description = "bad name or body"),
              (status = 404, description = "package not deployed"), (status = 409, description = "application exists")))]
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

#[utoipa::path(post, path = "/applications/{name}/{action}", tag = "applications",
    params(("name" = String, Path,), ("action" = String, Path, description = "start or stop"), ("user.name" = Option<String>, Query,)),
    responses((status = 202, description = "starting or stopping; poll the status"), (status = 400, description = "not a valid action"),
              (status = 404, description = "no such application"), (status = 409, description = "wrong state")))]
pub async fn action(
    api: web::Data<Api>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Reply {
    let (name, verb) = path.into_inner();
    let act = match verb.as_str() {
        "start" => action::APPLICATION_START,
        "stop" => action::APPLICATION_STOP,
        _ => {
            return Err(DmError::BadRequest(format!(
                "{verb} is not a valid action (start|stop)"
            )))
        }
    };
    let user = authorize(&api, &req, &name, act).await?;
    let api2 = api.clone();
    blocking(move || {
        if verb == "start" {
            api2.engine.start(&name, &user)
        } else {
            api2.engine.stop(&name, &user)
        }
    })
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

#[utoipa::path(delete, path = "/applications/{name}", tag = "applications", params(("name" = String, Path,), ("user.name" = Option<String>, Query,)),
    responses((status = 202, description = "destroying; poll the status"), (status = 404, description = "no such application"),
              (status = 409, description = "wrong state")))]
pub async fn destroy(api: web::Data<Api>, req: HttpRequest, name: web::Path<String>) -> Reply {
    let user = authorize(&api, &req, &name, action::APPLICATION_DESTROY).await?;
    let api2 = api.clone();
    blocking(move || api2.engine.destroy(&name, &user)).await?;
    Ok(HttpResponse::Accepted().finish())
}
