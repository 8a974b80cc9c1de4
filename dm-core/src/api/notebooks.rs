//! `/notebooks/jupyter-<user>/…`: the users' notebook repositories of `jupyter` components,
//! read-only over git's dumb HTTP protocol, so JupyterHub can
//! `git clone http://<dmd>/notebooks/jupyter-<user>` (PNDA served them with nginx and
//! git-http-backend).

use super::doc::{Caller, NotebookFile};
use super::{blocking, Api, Reply};
use crate::auth::action;
use crate::error::{DmError, ErrorBody};
use actix_web::{web, HttpRequest, HttpResponse};

#[utoipa::path(get, path = "/notebooks/{path}", operation_id = "notebooks_file", tag = "notebooks",
    params(("path" = NotebookFile, Path, description = "jupyter-<user>/ and a file of git's dumb HTTP protocol: HEAD, info/refs, objects/info/packs, objects/…"),
           ("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"),
              (status = 400, description = "a path that is not a repository's file", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 404, description = "no such repository or file", body = ErrorBody)))]
pub async fn file(api: web::Data<Api>, req: HttpRequest, path: web::Path<String>) -> Reply {
    let identity = api.identify(&req)?;
    let path = path.into_inner();
    // The repository's user owns it, for a policy that restricts reads to owners.
    let owner = path
        .split('/')
        .next()
        .and_then(|repo| repo.strip_prefix("jupyter-"));
    api.policy.check(&identity, action::NOTEBOOKS_READ, owner)?;
    let api2 = api.clone();
    let (bytes, content_type) = blocking(move || {
        let file = api2.notebooks.served_file(&path).ok_or_else(|| {
            DmError::not_found(
                "NOTFOUND",
                format!("no such notebook repository file: {path}"),
            )
        })?;
        let bytes = std::fs::read(&file)
            .map_err(|e| DmError::Internal(format!("cannot read {}: {e}", file.display())))?;
        Ok((bytes, content_type(&path)))
    })
    .await?;
    Ok(HttpResponse::Ok().content_type(content_type).body(bytes))
}

/// git-http-backend's types for the dumb protocol's files.
fn content_type(path: &str) -> &'static str {
    if path.ends_with(".pack") {
        "application/x-git-packed-objects"
    } else if path.ends_with(".idx") {
        "application/x-git-packed-objects-toc"
    } else if path.contains("/objects/") && !path.ends_with("/info/packs") {
        "application/x-git-loose-object"
    } else {
        "text/plain; charset=utf-8"
    }
}
