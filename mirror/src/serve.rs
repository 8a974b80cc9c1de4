//! `dm-mirror serve`: the mirror over HTTP. Only `index.json` and the files it lists (and their
//! `.sha512`) are served, each looked up by its exact path in the index, so no request path can
//! reach anything else; a listed file that resolves outside the mirror (a symlink) is refused
//! too. Files are streamed from disk (actix-files: `Range`, `HEAD`, Content-Length); the ETag
//! is the file's SHA-512, so it is the same on every mirror that holds the same bytes.

use crate::build::read_index;
use crate::hash;
use actix_files::NamedFile;
use actix_web::http::{header, Method, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use dm_clients::mirror::INDEX_PATH;
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

/// What the server may serve: request path (below the root) → ETag.
#[derive(Debug, Default)]
struct Listed {
    index_modified: Option<SystemTime>,
    etags: HashMap<String, String>,
}

pub struct Mirror {
    root: PathBuf,
    listed: RwLock<Listed>,
}

impl Mirror {
    pub fn open(dir: &Path) -> Result<Mirror, String> {
        let root = dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))?;
        let mirror = Mirror { root, listed: RwLock::new(Listed::default()) };
        mirror.refresh()?;
        Ok(mirror)
    }

    /// Re-reads the index when `build` has rewritten it since.
    fn refresh(&self) -> Result<(), String> {
        let index_path = self.root.join(INDEX_PATH);
        let modified = std::fs::metadata(&index_path).and_then(|m| m.modified()).ok();
        if modified.is_some() && self.listed.read().unwrap().index_modified == modified {
            return Ok(());
        }
        let index = read_index(&self.root)?;
        let mut etags = HashMap::new();
        for a in &index.artifacts {
            etags.insert(a.file.clone(), format!("\"{}\"", a.sha512));
            // The checksum file's bytes follow from the digest and the name.
            etags.insert(a.checksum_file(), format!("\"{}.sha512\"", a.sha512));
        }
        if let Ok(mut f) = std::fs::File::open(&index_path) {
            if let Ok((_, d)) = hash::sha512_of(&mut f) {
                etags.insert(INDEX_PATH.to_string(), format!("\"{d}\""));
            }
        }
        *self.listed.write().unwrap() = Listed { index_modified: modified, etags };
        Ok(())
    }

    /// The file and ETag a request path names, if the mirror serves it.
    fn lookup(&self, raw_path: &str) -> Option<(PathBuf, String)> {
        let _ = self.refresh();
        let relative = decode_path(raw_path)?;
        let etag = self.listed.read().unwrap().etags.get(&relative)?.clone();
        // A listed path is a plain relative path (build checks it), but the file itself may be
        // a symlink someone put there: it must still resolve inside the mirror.
        let path = self.root.join(&relative).canonicalize().ok()?;
        (path.starts_with(&self.root) && path.is_file()).then_some((path, etag))
    }
}

/// The request path, percent-decoded, without its leading `/`; `None` when it is not UTF-8.
pub fn decode_path(raw: &str) -> Option<String> {
    let raw = raw.strip_prefix('/')?;
    percent_encoding::percent_decode_str(raw).decode_utf8().ok().map(|s| s.into_owned())
}

/// Whether an `If-None-Match` header value matches `etag` (weak comparison, as RFC 9110 asks).
pub fn none_match(header: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header.split(',').any(|t| t.trim() == "*" || bare(t) == bare(etag))
}

async fn handle(req: HttpRequest, mirror: web::Data<Mirror>) -> HttpResponse {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return HttpResponse::MethodNotAllowed().insert_header((header::ALLOW, "GET, HEAD")).finish();
    }
    let Some((path, etag)) = mirror.lookup(req.uri().path()) else {
        return HttpResponse::NotFound().body("not in this mirror\n");
    };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| none_match(v, &etag));
    if matches {
        return HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish();
    }
    match NamedFile::open_async(&path).await {
        Ok(file) => {
            let mut response = file
                .use_etag(false)
                .use_last_modified(false)
                .disable_content_disposition()
                .into_response(&req);
            if response.status() != StatusCode::RANGE_NOT_SATISFIABLE {
                response.headers_mut().insert(header::ETAG, header::HeaderValue::from_str(&etag).expect("hex is a header value"));
            }
            response
        }
        Err(_) => HttpResponse::NotFound().body("not in this mirror\n"),
    }
}

/// Serves the mirror in `dir` on `listener` until the process stops.
pub fn serve(dir: &Path, listener: TcpListener) -> Result<(), String> {
    let mirror = web::Data::new(Mirror::open(dir)?);
    actix_web::rt::System::new()
        .block_on(async move {
            HttpServer::new(move || App::new().app_data(mirror.clone()).default_service(web::to(handle)))
                .listen(listener)?
                .run()
                .await
        })
        .map_err(|e| format!("the server stopped: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_decoded_once() {
        assert_eq!(decode_path("/flink/a%20b.tgz").as_deref(), Some("flink/a b.tgz"));
        assert_eq!(decode_path("/%2e%2e/etc/passwd").as_deref(), Some("../etc/passwd"));
        assert_eq!(decode_path("/%ff"), None);
        assert_eq!(decode_path("relative"), None);
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let etag = "\"abc\"";
        assert!(none_match("\"abc\"", etag));
        assert!(none_match("\"x\", W/\"abc\"", etag));
        assert!(none_match("*", etag));
        assert!(!none_match("\"abd\"", etag));
    }

    #[test]
    fn only_listed_files_inside_the_mirror_are_served() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "secret").unwrap();
        std::fs::create_dir(dir.path().join("misc")).unwrap();
        std::fs::write(dir.path().join("misc/a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("misc/unlisted.txt"), "u").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("misc/link")).unwrap();
        let (_, d) = hash::sha512_of(&mut &b"a"[..]).unwrap();
        let artifact = |file: &str| dm_clients::mirror::Artifact {
            section: "misc".into(),
            name: file.into(),
            version: "1".into(),
            file: file.into(),
            bytes: 1,
            sha512: d.clone(),
            source: "file:///x".into(),
        };
        let index = dm_clients::mirror::Index {
            format: 1,
            artifacts: vec![artifact("misc/a.txt"), artifact("misc/link"), artifact("../secret")],
        };
        std::fs::write(dir.path().join(INDEX_PATH), serde_json::to_vec(&index).unwrap()).unwrap();
        let mirror = Mirror::open(dir.path()).unwrap();
        assert!(mirror.lookup("/misc/a.txt").is_some());
        assert!(mirror.lookup("/misc/%61.txt").is_some(), "an encoded name is the same file");
        assert!(mirror.lookup("/index.json").is_some());
        for refused in [
            "/misc/unlisted.txt",
            "/misc/link",
            "/../secret",
            "/%2e%2e/secret",
            "/misc/../misc/a.txt",
            &format!("/{}", outside.path().join("secret").display()),
            "//etc/passwd",
            "/",
        ] {
            assert!(mirror.lookup(refused).is_none(), "{refused} served");
        }
    }
}
