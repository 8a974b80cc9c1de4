//! `/repository/packages`: list, upload (streamed, checked before it is accepted), download,
//! delete.

use super::doc::{Caller, PackageFileName as FileName, UserName};
use super::{blocking, query, Api, Reply};
use crate::auth::action;
use crate::error::{io_reason, DmError, ErrorBody};
use crate::repository::{group_by_name, PackageFile};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;
use std::io::Write;

/// The full error, which names dmd's folders, goes to dmd's log; the answer says only why.
fn unavailable(e: std::io::Error) -> DmError {
    log::error!("package repository: {e}");
    DmError::Unavailable(format!(
        "Unable to connect to the Package Repository Manager: {}",
        io_reason(&e)
    ))
}

/// `?recency=`: versions per package, 1 when absent; an `int64` of at least 0 as documented,
/// so any client's integer type holds it.
fn parse_recency(text: Option<&str>) -> Result<usize, DmError> {
    let Some(text) = text else { return Ok(1) };
    text.parse::<i64>()
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            DmError::BadRequest(format!(
                "recency must be a whole number from 0 to {}, not {text:?}",
                i64::MAX
            ))
        })
}

#[utoipa::path(get, path = "/repository/packages", operation_id = "list_repository_packages", tag = "repository",
    params(("recency" = Option<i64>, Query, minimum = 0, description = "versions per package, newest first (default 1, 0 = all)"),
           ("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "[{name, latest_versions: [{version, file}]}]", body = Vec<Object>),
              (status = 400, description = "bad recency or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 503, description = "UNAVAILABLE: the repository cannot be read", body = ErrorBody)))]
pub async fn list(api: web::Data<Api>, req: HttpRequest) -> Reply {
    let identity = api.identify(&req)?;
    api.policy.check(&identity, action::REPOSITORY_READ, None)?;
    let recency = parse_recency(query(&req).get("recency").map(String::as_str))?;
    let api2 = api.clone();
    let files = blocking(move || api2.engine.store.list().map_err(unavailable)).await?;
    Ok(HttpResponse::Ok().json(group_by_name(&files, recency)))
}

#[utoipa::path(put, path = "/repository/packages/{file}", operation_id = "upload_package_file", tag = "repository",
    params(("file" = FileName, Path,), ("user.name" = UserName, Query,)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the package archive, streamed"),
    responses((status = 200, description = "stored: {name, version, file, bytes}; the caller is recorded as its owner", body = Object),
              (status = 400, description = "bad file name or user.name (missing, in auth mode none); INVALID_PACKAGE with every problem", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 409, description = "EXISTS: the package is in the repository (in any format)", body = ErrorBody),
              (status = 408, description = "TIMEOUT: no data for server.body_idle_timeout_secs", body = ErrorBody),
              (status = 413, description = "TOO_LARGE: over repository.max_upload_bytes", body = ErrorBody),
              (status = 503, description = "UNAVAILABLE: the repository cannot be written", body = ErrorBody)))]
pub async fn upload(
    api: web::Data<Api>,
    req: HttpRequest,
    file: web::Path<String>,
    mut body: web::Payload,
) -> Reply {
    let identity = api.identify_user(&req)?;
    api.policy
        .check(&identity, action::REPOSITORY_WRITE, None)?;
    let file = PackageFile::parse(&file)?;
    let limit = api.max_upload_bytes;
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(DmError::PayloadTooLarge(format!(
            "{} is larger than the limit of {limit} bytes (repository.max_upload_bytes)",
            file.file
        )));
    }
    let store = api.engine.store.clone();
    let mut received = blocking(move || store.incoming().map_err(unavailable)).await?;
    let mut size: u64 = 0;
    let idle = api.body_idle_timeout;
    while let Some(chunk) = actix_web::rt::time::timeout(idle, body.next())
        .await
        .map_err(|_| stalled(&file.file, idle, size))?
    {
        let chunk = chunk
            .map_err(|e| DmError::BadRequest(format!("upload of {} broke off: {e}", file.file)))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(DmError::PayloadTooLarge(format!(
                "{} is larger than the limit of {limit} bytes (repository.max_upload_bytes)",
                file.file
            )));
        }
        // Local disk writes of one chunk are short; a blocking hop per chunk would cost more.
        received.write_all(&chunk).map_err(|e| {
            log::error!("cannot store the upload of {}: {e}", file.file);
            DmError::Internal(format!(
                "cannot store the upload of {}: {}",
                file.file,
                io_reason(&e)
            ))
        })?;
    }
    let api2 = api.clone();
    let summary = blocking(move || {
        api2.engine.hooks().pause("upload.received");
        // One file per package id, whatever its archive format.
        if let Some(existing) = api2.engine.store.find(&file.id).map_err(unavailable)? {
            return Err(DmError::conflict(
                "EXISTS",
                format!("{} is already in the repository as {}; delete it first to replace it", file.id, existing.file),
            ));
        }
        let package = api2.engine.reader().inspect_as(received.path(), &file.file).map_err(DmError::InvalidPackage)?;
        api2.engine.store.publish(received, &file, &identity.user).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                DmError::conflict("EXISTS", format!("{} is already in the repository; delete it first to replace it", file.file))
            }
            _ => unavailable(e),
        })?;
        log::info!("stored {} ({} bytes) in the repository, uploaded by {}", file.file, size, identity.user);
        api2.engine.repository_event(&file.id, "CREATED");
        Ok(json!({"name": package.id.name(), "version": package.id.version(), "file": file.file, "bytes": size}))
    })
    .await?;
    Ok(HttpResponse::Ok().json(summary))
}

#[utoipa::path(get, path = "/repository/packages/{file}", operation_id = "download_package_file", tag = "repository",
    params(("file" = FileName, Path,), ("user.name" = Option<Caller>, Query,)),
    responses((status = 200, description = "the package file: application/gzip for .tar.gz, application/x-compressed for .tgz, application/zip for .zip", content(
                  (Vec<u8> = "application/gzip"), (Vec<u8> = "application/x-compressed"), (Vec<u8> = "application/zip"))),
              (status = 400, description = "bad file name or user.name", body = ErrorBody),
              (status = 403, description = "not authorized", body = ErrorBody),
              (status = 404, description = "NOTFOUND: not in the repository", body = ErrorBody),
              (status = 503, description = "UNAVAILABLE: the repository cannot be read", body = ErrorBody)))]
pub async fn download(api: web::Data<Api>, req: HttpRequest, file: web::Path<String>) -> Reply {
    let identity = api.identify(&req)?;
    api.policy.check(&identity, action::REPOSITORY_READ, None)?;
    let file = PackageFile::parse(&file)?;
    let store = api.engine.store.clone();
    let shown = file.file.clone();
    let path = blocking(move || {
        store.local_path(&file).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DmError::not_found(
                "NOTFOUND",
                format!("{} is not in the repository", file.file),
            ),
            _ => unavailable(e),
        })
    })
    .await?;
    let named = actix_files::NamedFile::open_async(&path)
        .await
        .map_err(|e| DmError::not_found("NOTFOUND", format!("{shown} cannot be read: {e}")))?;
    Ok(named.into_response(&req))
}

#[utoipa::path(delete, path = "/repository/packages/{file}", operation_id = "delete_package_file", tag = "repository",
    params(("file" = FileName, Path,), ("user.name" = UserName, Query,)),
    responses((status = 200, description = "deleted: {}", body = Object),
              (status = 400, description = "bad file name or user.name (missing, in auth mode none)", body = ErrorBody),
              (status = 403, description = "not authorized: only its uploader or an admin deletes a file", body = ErrorBody),
              (status = 404, description = "NOTFOUND: not in the repository", body = ErrorBody),
              (status = 503, description = "UNAVAILABLE: the repository cannot be written", body = ErrorBody)))]
pub async fn delete(api: web::Data<Api>, req: HttpRequest, file: web::Path<String>) -> Reply {
    let identity = api.identify_user(&req)?;
    let file = PackageFile::parse(&file)?;
    let api2 = api.clone();
    blocking(move || {
        let store = &api2.engine.store;
        // A file that is not there has nothing to protect, and gets its 404.
        if store.local_path(&file).is_ok() {
            let owner = store.owner(&file).map_err(unavailable)?;
            api2.policy
                .check(&identity, action::REPOSITORY_DELETE, owner.as_deref())?;
        }
        match store.delete(&file) {
            Ok(true) => {
                api2.engine.repository_event(&file.id, "NOTCREATED");
                Ok(())
            }
            Ok(false) => Err(DmError::not_found(
                "NOTFOUND",
                format!("{} is not in the repository", file.file),
            )),
            Err(e) => Err(unavailable(e)),
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// 408 for an upload whose client stopped sending: a slow or stalled client may not hold a
/// connection and a staging file for ever.
fn stalled(file: &str, idle: std::time::Duration, received: u64) -> DmError {
    DmError::Timeout(format!(
        "upload of {file} stalled: no data for {} s after {received} bytes (server.body_idle_timeout_secs)",
        idle.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_recency;

    #[test]
    fn recency_is_a_non_negative_int64() {
        assert_eq!(parse_recency(None), Ok(1));
        assert_eq!(parse_recency(Some("0")), Ok(0));
        assert_eq!(
            parse_recency(Some("9223372036854775807")),
            Ok(i64::MAX as usize)
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "x",
            "9223372036854775808",
            "18446744073709551615",
        ] {
            let err = parse_recency(Some(bad)).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("recency must be a whole number from 0 to 9223372036854775807"),
                "{bad}: {err}"
            );
        }
    }
}
