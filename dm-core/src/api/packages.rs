//! `/packages`: deployed packages, deploy and undeploy.

use super::doc::{Caller, PackageId as Id, UserName};
use super::{blocking, Api, Reply};
use crate::auth::action;
use crate::error::{DmError, ErrorBody};
use actix_web::{web, HttpRequest, HttpResponse};
use packaging::PackageId;
use serde_json::json;

fn parse_id(id: &str) -> Result<PackageId, DmError> {
    PackageId::parse(id).map_err(|p| DmError::BadRequest(p.message))
}

#[utoipa::path(get, path = "/packages", operation_id = "list_packages", tag = "packages",
    params(("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "ids of deployed packages", body = Vec<String>),
              (status = 400, description = "bad user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody)))]
pub async fn list(api: web::Data<Api>, req: HttpRequest) -> Reply {
    let identity = api.identify(&req)?;
    api.policy.check(&identity, action::PACKAGES_READ, None)?;
    let api2 = api.clone();
    let names = blocking(move || api2.engine.list_packages()).await?;
    Ok(HttpResponse::Ok().json(names))
}

async fn read_info(
    api: &web::Data<Api>,
    req: &HttpRequest,
    id: &str,
) -> Result<serde_json::Value, DmError> {
    let identity = api.identify(req)?;
    let id = parse_id(id)?;
    let api2 = api.clone();
    let (owner, info) = blocking(move || {
        Ok((
            api2.engine.package_owner(&id)?,
            api2.engine.package_info(&id)?,
        ))
    })
    .await?;
    api.policy
        .check(&identity, action::PACKAGES_READ, owner.as_deref())?;
    let mut info = info;
    // The package's defaults may hold passwords and tokens: never shown.
    api.secrets.redact(&mut info);
    Ok(info)
}

#[utoipa::path(get, path = "/packages/{id}", operation_id = "package_info", tag = "packages",
    params(("id" = Id, Path,), ("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "{name, version, status, user, defaults, information}; unknown packages are NOTDEPLOYED", body = Object),
              (status = 400, description = "bad id or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody)))]
pub async fn info(api: web::Data<Api>, req: HttpRequest, id: web::Path<String>) -> Reply {
    Ok(HttpResponse::Ok().json(read_info(&api, &req, &id).await?))
}

#[utoipa::path(get, path = "/packages/{id}/status", operation_id = "package_status", tag = "packages",
    params(("id" = Id, Path,), ("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "{status, information}; unknown packages are NOTDEPLOYED", body = Object),
              (status = 400, description = "bad id or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody)))]
pub async fn status(api: web::Data<Api>, req: HttpRequest, id: web::Path<String>) -> Reply {
    let info = read_info(&api, &req, &id).await?;
    Ok(HttpResponse::Ok()
        .json(json!({"status": info["status"], "information": info["information"]})))
}

#[utoipa::path(put, path = "/packages/{id}", operation_id = "deploy_package", tag = "packages",
    params(("id" = Id, Path,), ("user.name" = UserName, Query,)),
    responses((status = 202, description = "deploying; poll the status"),
              (status = 400, description = "bad id or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 404, description = "not in the repository", body = ErrorBody),
              (status = 409, description = "not NOTDEPLOYED", body = ErrorBody),
              (status = 503, description = "UNAVAILABLE: the repository cannot be read", body = ErrorBody)))]
pub async fn deploy(api: web::Data<Api>, req: HttpRequest, id: web::Path<String>) -> Reply {
    let identity = api.identify_user(&req)?;
    let id = parse_id(&id)?;
    api.policy.check(&identity, action::PACKAGE_DEPLOY, None)?;
    let api2 = api.clone();
    blocking(move || api2.engine.deploy(&id, &identity.user)).await?;
    Ok(HttpResponse::Accepted().finish())
}

#[utoipa::path(delete, path = "/packages/{id}", operation_id = "undeploy_package", tag = "packages",
    params(("id" = Id, Path,), ("user.name" = UserName, Query,)),
    responses((status = 202, description = "undeploying; poll the status"),
              (status = 400, description = "bad id or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 404, description = "NOTDEPLOYED: not deployed", body = ErrorBody),
              (status = 409, description = "an operation is in progress, or applications use it", body = ErrorBody)))]
pub async fn undeploy(api: web::Data<Api>, req: HttpRequest, id: web::Path<String>) -> Reply {
    let identity = api.identify_user(&req)?;
    let id = parse_id(&id)?;
    let api2 = api.clone();
    let owner = blocking(move || api2.engine.package_owner(&id).map(|o| (o, id))).await?;
    let (owner, id) = owner;
    // A package that is not deployed has no owner and gets its 404 from the engine.
    if owner.is_some() {
        api.policy
            .check(&identity, action::PACKAGE_UNDEPLOY, owner.as_deref())?;
    }
    let api2 = api.clone();
    blocking(move || api2.engine.undeploy(&id, &identity.user)).await?;
    Ok(HttpResponse::Accepted().finish())
}

#[utoipa::path(get, path = "/packages/{id}/applications", operation_id = "package_applications", tag = "packages",
    params(("id" = Id, Path,), ("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "names of the applications created from the package", body = Vec<String>),
              (status = 400, description = "bad id or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody)))]
pub async fn applications(api: web::Data<Api>, req: HttpRequest, id: web::Path<String>) -> Reply {
    let identity = api.identify(&req)?;
    api.policy
        .check(&identity, action::APPLICATIONS_READ, None)?;
    let id = parse_id(&id)?;
    let api2 = api.clone();
    let names = blocking(move || api2.engine.list_applications(Some(id.as_str()))).await?;
    Ok(HttpResponse::Ok().json(names))
}
