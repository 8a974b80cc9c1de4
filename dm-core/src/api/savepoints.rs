//! `/applications/{name}/savepoints`: the savepoint catalog ([`crate::savepoints`]).

use super::applications::authorize;
use super::doc::{AppName, Caller, SavepointId, UserName};
use super::{blocking, query, Api, Reply};
use crate::auth::action;
use crate::error::{DmError, ErrorBody};
use crate::lifecycle::check_app_name;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

fn component_param(req: &HttpRequest) -> Option<String> {
    query(req)
        .get("component")
        .filter(|c| !c.is_empty())
        .cloned()
}

#[utoipa::path(get, path = "/applications/{name}/savepoints", operation_id = "list_savepoints", tag = "savepoints",
    params(("name" = AppName, Path,), ("user.name" = Option<Caller>, Query,),
           ("component" = Option<String>, Query, description = "only this component's")),
    responses((status = 200, description = "{savepoints: [{id, application, component, flink_version, job_id, yarn_id, path, trigger: MANUAL|PERIODIC|STOP|UPGRADE, package, created_ms, finished_ms, state: IN_PROGRESS|COMPLETED|FAILED|DISPOSED, error, restored_from}] newest first, checkpoints: {<component>: Flink's /jobs/{id}/checkpoints}}", body = Object),
              (status = 400, description = "bad name or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody)))]
pub async fn list(api: web::Data<Api>, req: HttpRequest, name: String) -> Reply {
    let identity = api.identify(&req)?;
    check_app_name(&name)?;
    let component = component_param(&req);
    let api2 = api.clone();
    let (owner, body) =
        blocking(move || api2.engine.list_savepoints(&name, component.as_deref())).await?;
    api.policy
        .check(&identity, action::APPLICATION_READ, owner.as_deref())?;
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(post, path = "/applications/{name}/savepoints", operation_id = "trigger_savepoint", tag = "savepoints",
    params(("name" = AppName, Path,), ("user.name" = UserName, Query,)),
    request_body(content = Object, description = "optional {\"component\": name}: only that component's job", content_type = "application/json"),
    responses((status = 202, description = "{id, savepoints: [rows, IN_PROGRESS]}: poll GET …/savepoints", body = Object),
              (status = 400, description = "bad name, user.name or body; no such savepoint-taking component", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 404, description = "NOTCREATED: no such application", body = ErrorBody),
              (status = 409, description = "not STARTED, no running job, or a savepoint of that job is in progress", body = ErrorBody),
              (status = 503, description = "Flink or YARN did not take the trigger", body = ErrorBody)))]
pub async fn trigger(
    api: web::Data<Api>,
    req: HttpRequest,
    name: String,
    body: web::Bytes,
) -> Reply {
    authorize(&api, &req, &name, action::APPLICATION_START).await?;
    let component = match body.iter().all(u8::is_ascii_whitespace) {
        true => component_param(&req),
        false => {
            let value: Value = serde_json::from_slice(&body)
                .map_err(|e| DmError::BadRequest(format!("the body is not JSON: {e}")))?;
            match value.get("component") {
                None | Some(Value::Null) if value.is_object() => None,
                Some(Value::String(c)) => Some(c.clone()),
                _ => {
                    return Err(DmError::BadRequest(
                        "the body must be {} or {\"component\": \"<name>\"}".into(),
                    ))
                }
            }
        }
    };
    let api2 = api.clone();
    let rows =
        blocking(move || api2.engine.trigger_savepoints(&name, component.as_deref())).await?;
    Ok(
        HttpResponse::Accepted()
            .json(json!({"id": rows.first().map(|r| r.id), "savepoints": rows})),
    )
}

#[utoipa::path(delete, path = "/applications/{name}/savepoints/{id}", operation_id = "dispose_savepoint", tag = "savepoints",
    params(("name" = AppName, Path,), ("id" = SavepointId, Path,), ("user.name" = UserName, Query,)),
    responses((status = 200, description = "the row, DISPOSED", body = Object),
              (status = 400, description = "bad name, id or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 404, description = "no such application or savepoint", body = ErrorBody),
              (status = 409, description = "the newest completed one, the one the running job started from, in progress or already disposed", body = ErrorBody),
              (status = 503, description = "Flink or HDFS could not dispose of it", body = ErrorBody)))]
pub async fn dispose(
    api: web::Data<Api>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Reply {
    let (name, id) = path.into_inner();
    authorize(&api, &req, &name, action::APPLICATION_DESTROY).await?;
    let id: i64 = id
        .parse()
        .map_err(|_| DmError::BadRequest(format!("{id:?} is not a savepoint id")))?;
    let api2 = api.clone();
    let row = blocking(move || api2.engine.dispose_savepoint(&name, id)).await?;
    Ok(HttpResponse::Ok().json(row))
}
