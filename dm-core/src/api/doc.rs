//! `/openapi.json`: the API as it behaves, for generated clients and fuzzers (`tests/schemathesis`
//! checks it against a running dmd). The handlers' `#[utoipa::path]` attributes give each
//! operation's parameters and answers; the names and patterns are the schemas below, checked
//! against the validators in `tests`; [`document`] adapts `user.name` to the auth mode.

use super::{applications, notebooks, packages, repository, savepoints, system};
use crate::auth::AuthMode;
use crate::error::ErrorBody;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, Required, ResponseBuilder};
use utoipa::OpenApi;

/// An application name (`lifecycle::check_app_name`).
#[derive(utoipa::ToSchema)]
#[schema(pattern = r"^[A-Za-z0-9_-]+$", example = "my-app")]
#[allow(dead_code)] // a schema only: the handlers take the name as a string and check it
pub struct AppName(String);

/// A package id, `<name>-<version>`, split on the last `-`; the version has at least three
/// `.`-separated parts (`packaging::PackageId::parse`).
#[derive(utoipa::ToSchema)]
#[schema(
    pattern = r"^[A-Za-z0-9_-][A-Za-z0-9._-]*-[A-Za-z0-9._]*\.[A-Za-z0-9._]*\.[A-Za-z0-9._]*$",
    example = "my-app-1.0.0"
)]
#[allow(dead_code)] // a schema only
pub struct PackageId(String);

/// A package file name: a package id and `.tar.gz`, `.tgz` or `.zip` (`repository::PackageFile`).
#[derive(utoipa::ToSchema)]
#[schema(
    pattern = r"^[A-Za-z0-9_-][A-Za-z0-9._-]*-[A-Za-z0-9._]*\.[A-Za-z0-9._]*\.[A-Za-z0-9._]*\.(tar\.gz|tgz|zip)$",
    example = "my-app-1.0.0.tar.gz"
)]
#[allow(dead_code)] // a schema only
pub struct PackageFileName(String);

/// The user to act as (PNDA's `user.name`; `auth::check_user_name`). Believed in the `none`
/// mode; in `trusted-header` mode the proxy's user header, when set, comes first; in `bearer`
/// mode it must name the token's user.
#[derive(utoipa::ToSchema)]
#[schema(pattern = r"^[A-Za-z0-9_@][A-Za-z0-9._@-]*$", example = "alice")]
#[allow(dead_code)] // a schema only
pub struct UserName(String);

/// A file of a user's notebook repository, as git's dumb HTTP protocol asks for it
/// (`notebooks::file`): `jupyter-<user>/` and a path inside the repository's `.git`.
#[derive(utoipa::ToSchema)]
#[schema(
    pattern = r"^jupyter-[A-Za-z0-9_@][A-Za-z0-9._@-]*/[A-Za-z0-9._/-]+$",
    example = "jupyter-alice/info/refs"
)]
#[allow(dead_code)] // a schema only
pub struct NotebookFile(String);

/// A savepoint's id in an application's catalog.
#[derive(utoipa::ToSchema)]
#[schema(pattern = r"^[0-9]+$", example = "1")]
#[allow(dead_code)] // a schema only: the handler parses the id
pub struct SavepointId(String);

/// `user.name` where it may be left out: empty or absent is an anonymous caller.
#[derive(utoipa::ToSchema)]
#[schema(pattern = r"^([A-Za-z0-9_@][A-Za-z0-9._@-]*)?$", example = "alice")]
#[allow(dead_code)] // a schema only
pub struct Caller(String);

/// `PUT /applications/{name}`'s body: `{"package": id, "<type>": {"<component>": {…} | null}}`,
/// as `properties::check_overrides` reads it. Written by hand: the handler reads the body as a
/// JSON map, and the overrides are keyed by the package's own type and component names.
pub struct CreateBody;

impl utoipa::PartialSchema for CreateBody {
    fn schema() -> RefOr<Schema> {
        let properties = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
            .description(Some("property overrides of one component"));
        let components = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("one component type's overrides, by component name"))
            .additional_properties(Some(properties));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("package", Ref::from_schema_name("PackageId"))
            .required("package")
            .additional_properties(Some(components))
            .into()
    }
}

impl utoipa::ToSchema for CreateBody {}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dm",
        description = "Deployment manager for data applications (PNDA-compatible API). Every error is `ErrorBody`; a method a path does not answer gets 405 with `Allow`."
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
        applications::status,
        applications::detail,
        applications::summary,
        applications::logs,
        applications::create,
        applications::start,
        applications::stop,
        applications::destroy,
        applications::upgrade,
        applications::upgrades,
        savepoints::list,
        savepoints::trigger,
        savepoints::dispose,
        system::endpoints,
        system::metrics,
        system::openapi,
        system::plugins,
        system::platform_health,
        notebooks::file
    ),
    components(schemas(
        ErrorBody,
        AppName,
        PackageId,
        PackageFileName,
        UserName,
        Caller,
        NotebookFile,
        SavepointId,
        CreateBody
    ))
)]
pub struct ApiDoc;

/// The document for a dmd in auth `mode`. As written, `user.name` is required on the
/// operations that change something; with bearer tokens it is optional everywhere (the token
/// names the user), a token is needed and 401 is a possible answer.
pub fn document(mode: AuthMode) -> Document {
    let mut doc = ApiDoc::openapi();
    if mode != AuthMode::Bearer {
        return doc;
    }
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let user_param = operation
                .parameters
                .iter_mut()
                .flatten()
                .find(|p| p.name == "user.name");
            let Some(user_param) = user_param else {
                continue;
            };
            // Changes need a token; reads may be anonymous (the empty requirement).
            let needs_token = user_param.required == Required::True;
            user_param.required = Required::False;
            user_param.schema = Some(RefOr::Ref(Ref::from_schema_name("Caller")));
            let bearer = SecurityRequirement::new::<_, _, &str>("bearer", []);
            operation.security = Some(if needs_token {
                vec![bearer]
            } else {
                vec![SecurityRequirement::default(), bearer]
            });
            let unauthorized = ResponseBuilder::new()
                .description("UNAUTHORIZED: no token for a change, an unknown token, or user.name without a token")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build();
            operation
                .responses
                .responses
                .insert("401".into(), RefOr::T(unauthorized));
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::check_user_name;
    use crate::lifecycle::check_app_name;
    use crate::repository::PackageFile;
    use regex::Regex;
    use serde_json::Value;

    fn json(mode: AuthMode) -> Value {
        serde_json::to_value(document(mode)).unwrap()
    }

    fn pattern(doc: &Value, schema: &str) -> Regex {
        Regex::new(
            doc["components"]["schemas"][schema]["pattern"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
    }

    /// Every string of up to `len` characters from `alphabet`.
    fn strings(alphabet: &[char], len: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..len {
            last = last
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    /// The patterns accept exactly what the validators accept, over every short string of the
    /// characters that matter to them.
    #[test]
    fn patterns_agree_with_the_validators() {
        let doc = json(AuthMode::None);
        let samples = strings(&['a', '1', '-', '.', '_', '@', '/'], 6);
        let (app, id, user, caller) = (
            pattern(&doc, "AppName"),
            pattern(&doc, "PackageId"),
            pattern(&doc, "UserName"),
            pattern(&doc, "Caller"),
        );
        for s in &samples {
            assert_eq!(app.is_match(s), check_app_name(s).is_ok(), "app name {s:?}");
            assert_eq!(
                id.is_match(s),
                packaging::PackageId::parse(s).is_ok(),
                "package id {s:?}"
            );
            let user_ok = check_user_name(s).is_ok();
            assert_eq!(caller.is_match(s), user_ok, "user.name {s:?}");
            assert_eq!(
                user.is_match(s),
                user_ok && !s.is_empty(),
                "user.name {s:?}"
            );
        }
        let file = pattern(&doc, "PackageFileName");
        for stem in strings(&['a', '1', '-', '.'], 6) {
            for ending in ["", ".tar.gz", ".tgz", ".zip", ".tar", ".gz", ".tar.gz.zip"] {
                let s = format!("{stem}{ending}");
                assert_eq!(
                    file.is_match(&s),
                    PackageFile::parse(&s).is_ok(),
                    "file {s:?}"
                );
            }
        }
        for wide in ["é-1.0.0", "a\n-1.0.0", "a b", "ünïcode"] {
            assert!(!id.is_match(wide) && !app.is_match(wide) && !user.is_match(wide));
        }
    }

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                all.push((method.to_uppercase(), path.clone(), operation));
            }
        }
        all
    }

    fn user_param(operation: &Value) -> Option<&Value> {
        operation["parameters"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == "user.name")
    }

    /// `user.name` is required exactly where the handler asks `identify_user`.
    #[test]
    fn user_name_is_required_on_changes() {
        let changes = [
            "PUT /packages/{id}",
            "DELETE /packages/{id}",
            "PUT /applications/{name}",
            "DELETE /applications/{name}",
            "POST /applications/{name}/start",
            "POST /applications/{name}/stop",
            "POST /applications/{name}/savepoints",
            "POST /applications/{name}/upgrade",
            "DELETE /applications/{name}/savepoints/{id}",
        ];
        for mode in [AuthMode::None, AuthMode::TrustedHeader] {
            let doc = json(mode);
            assert!(doc["components"].get("securitySchemes").is_none());
            for (method, path, operation) in operations(&doc) {
                let label = format!("{method} {path}");
                let required = user_param(operation).map(|p| p["required"] == true);
                if changes.contains(&label.as_str()) {
                    assert_eq!(required, Some(true), "{label}");
                    assert_eq!(
                        user_param(operation).unwrap()["schema"]["$ref"],
                        "#/components/schemas/UserName"
                    );
                } else if !["/metrics", "/openapi.json", "/plugins"].contains(&path.as_str()) {
                    assert_eq!(required, Some(false), "{label}");
                }
            }
        }
    }

    #[test]
    fn bearer_mode_needs_a_token_for_changes() {
        let doc = json(AuthMode::Bearer);
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"],
            serde_json::json!({"type": "http", "scheme": "bearer"})
        );
        let deploy = &doc["paths"]["/packages/{id}"]["put"];
        assert_eq!(user_param(deploy).unwrap()["required"], false);
        assert_eq!(deploy["security"], serde_json::json!([{"bearer": []}]));
        assert_eq!(
            deploy["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
        let read = &doc["paths"]["/packages/{id}"]["get"];
        assert_eq!(read["security"], serde_json::json!([{}, {"bearer": []}]));
        assert!(read["responses"]["401"].is_object());
        // Operations that do not look at the caller are open.
        assert!(doc["paths"]["/metrics"]["get"].get("security").is_none());
        assert!(doc["paths"]["/metrics"]["get"]["responses"]
            .get("401")
            .is_none());
    }

    /// Generated clients name their methods after these.
    #[test]
    fn operation_ids_are_unique() {
        let doc = json(AuthMode::None);
        let mut ids: Vec<&str> = operations(&doc)
            .iter()
            .map(|(method, path, op)| {
                op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
            })
            .collect();
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "{ids:?}");
    }

    /// Every error an operation documents has the error body.
    #[test]
    fn errors_have_the_error_body() {
        let doc = json(AuthMode::None);
        for (method, path, operation) in operations(&doc) {
            for (code, response) in operation["responses"].as_object().unwrap() {
                if code.starts_with('4') || code.starts_with('5') {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {code}"
                    );
                }
            }
        }
    }
}
