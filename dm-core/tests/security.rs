//! The security suite: every operation of dmd's own `/openapi.json` that changes something is
//! tried, in the `bearer` and the `trusted-header` modes, with no credentials, a wrong one,
//! another user's, its owner's and an admin's. The rules are the table [`POLICY`]; an operation
//! of the document without a rule there fails the suite, so no route is added without its rule.

mod common;

use common::{two_components, Dmd, Options};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Bearer,
    TrustedHeader,
}

/// Who a request is made as.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    /// No credentials at all.
    Nobody,
    /// Bearer: a token nobody holds. Behind a proxy: a token (which that mode ignores) and no
    /// user: not authenticated either.
    Wrong,
    /// alice, who prepared (owns) what the operation acts on.
    Owner,
    /// bob, neither the owner nor an admin.
    Other,
    /// root, of the admin group.
    Admin,
}

const TOKENS: &str = "alice-token alice\nbob-token bob\nroot-token root\n";

fn headers(mode: Mode, caller: Caller) -> Vec<(&'static str, &'static str)> {
    match (mode, caller) {
        (_, Caller::Nobody) => vec![],
        (Mode::Bearer, Caller::Wrong) => vec![("Authorization", "Bearer not-a-token")],
        (Mode::Bearer, Caller::Owner) => vec![("Authorization", "Bearer alice-token")],
        (Mode::Bearer, Caller::Other) => vec![("Authorization", "Bearer bob-token")],
        (Mode::Bearer, Caller::Admin) => vec![("Authorization", "Bearer root-token")],
        (Mode::TrustedHeader, Caller::Wrong) => vec![("Authorization", "Bearer alice-token")],
        (Mode::TrustedHeader, Caller::Owner) => vec![("X-Forwarded-User", "alice")],
        (Mode::TrustedHeader, Caller::Other) => vec![("X-Forwarded-User", "bob")],
        (Mode::TrustedHeader, Caller::Admin) => vec![("X-Forwarded-User", "root")],
    }
}

/// A dmd in `mode` and what the suite knows of it.
struct Env {
    dmd: Dmd,
    mode: Mode,
}

impl Env {
    fn start(root: &std::path::Path, mode: Mode) -> Env {
        let tokens = root.join("tokens");
        std::fs::write(&tokens, TOKENS).unwrap();
        let auth = match mode {
            Mode::Bearer => format!("mode = \"bearer\"\ntokens_file = {:?}\n", tokens),
            Mode::TrustedHeader => "mode = \"trusted-header\"\n".to_string(),
        };
        let config = format!("[auth]\n{auth}\n[auth.groups]\nadmin = [\"root\"]\n");
        let dmd = Dmd::start_with(
            root,
            &Options {
                config: Some(config),
                ..Options::default()
            },
        );
        Env { dmd, mode }
    }

    fn call(&self, caller: Caller, method: &str, path: &str, body: Option<&[u8]>) -> common::Reply {
        self.dmd
            .call(method, path, body, &headers(self.mode, caller))
    }

    /// Does `method path` as the owner and expects `code`: how the suite prepares targets.
    fn as_owner(&self, method: &str, path: &str, body: Option<&[u8]>, code: u16) {
        let reply = self.call(Caller::Owner, method, path, body);
        assert_eq!(
            reply.code, code,
            "preparing: {method} {path}: {}",
            reply.body
        );
    }

    fn uploaded(&self, id: &str) {
        let bytes = two_components(id);
        self.as_owner(
            "PUT",
            &format!("/repository/packages/{id}.tar.gz"),
            Some(&bytes),
            200,
        );
    }

    fn deployed(&self, id: &str) {
        self.uploaded(id);
        self.as_owner("PUT", &format!("/packages/{id}"), None, 202);
        self.dmd
            .wait_status(&format!("/packages/{id}/status"), "DEPLOYED");
    }

    fn created(&self, app: &str) {
        let id = format!("{app}-1.0.0");
        self.deployed(&id);
        let body = json!({"package": id}).to_string();
        self.as_owner(
            "PUT",
            &format!("/applications/{app}"),
            Some(body.as_bytes()),
            202,
        );
        self.dmd
            .wait_status(&format!("/applications/{app}/status"), "CREATED");
    }

    fn started(&self, app: &str) {
        self.created(app);
        self.as_owner("POST", &format!("/applications/{app}/start"), None, 202);
        self.dmd
            .wait_status(&format!("/applications/{app}/status"), "STARTED");
    }
}

/// A request ready to send: its path and body.
type Target = (String, Option<Vec<u8>>);

/// One changing operation: who may call it, and how to make something for it to act on
/// (`prepare` gets a name no other target uses).
struct Rule {
    method: &'static str,
    /// As `/openapi.json` writes it.
    path: &'static str,
    /// Acts on something owned (by who uploaded, deployed or created it): only its owner or an
    /// admin may. Otherwise any authenticated user may.
    owned: bool,
    /// The answer of a call that is allowed, on a fresh target; `None` for operations whose
    /// success needs a running engine (savepoints), where an allowed call is any answer but
    /// 401 and 403 (the slow suites see them succeed).
    success: Option<u16>,
    prepare: fn(&Env, &str) -> Target,
}

/// The policy every changing route must follow.
const POLICY: &[Rule] = &[
    Rule {
        method: "PUT",
        path: "/repository/packages/{file}",
        owned: false,
        success: Some(200),
        prepare: |_, n| {
            let id = format!("{n}-1.0.0");
            (
                format!("/repository/packages/{id}.tar.gz"),
                Some(two_components(&id)),
            )
        },
    },
    Rule {
        method: "DELETE",
        path: "/repository/packages/{file}",
        owned: true,
        success: Some(200),
        prepare: |env, n| {
            env.uploaded(&format!("{n}-1.0.0"));
            (format!("/repository/packages/{n}-1.0.0.tar.gz"), None)
        },
    },
    Rule {
        method: "PUT",
        path: "/packages/{id}",
        owned: false,
        success: Some(202),
        prepare: |env, n| {
            env.uploaded(&format!("{n}-1.0.0"));
            (format!("/packages/{n}-1.0.0"), None)
        },
    },
    Rule {
        method: "DELETE",
        path: "/packages/{id}",
        owned: true,
        success: Some(202),
        prepare: |env, n| {
            env.deployed(&format!("{n}-1.0.0"));
            (format!("/packages/{n}-1.0.0"), None)
        },
    },
    Rule {
        method: "PUT",
        path: "/applications/{name}",
        owned: false,
        success: Some(202),
        prepare: |env, n| {
            env.deployed(&format!("{n}-1.0.0"));
            let body = json!({"package": format!("{n}-1.0.0")}).to_string();
            (format!("/applications/{n}"), Some(body.into_bytes()))
        },
    },
    Rule {
        method: "DELETE",
        path: "/applications/{name}",
        owned: true,
        success: Some(202),
        prepare: |env, n| {
            env.created(n);
            (format!("/applications/{n}"), None)
        },
    },
    Rule {
        method: "POST",
        path: "/applications/{name}/start",
        owned: true,
        success: Some(202),
        prepare: |env, n| {
            env.created(n);
            (format!("/applications/{n}/start"), None)
        },
    },
    Rule {
        method: "POST",
        path: "/applications/{name}/stop",
        owned: true,
        success: Some(202),
        prepare: |env, n| {
            env.started(n);
            (format!("/applications/{n}/stop"), None)
        },
    },
    Rule {
        method: "POST",
        path: "/applications/{name}/upgrade",
        owned: true,
        success: Some(202),
        prepare: |env, n| {
            env.started(n);
            env.deployed(&format!("{n}-1.0.1"));
            let body = json!({"package": format!("{n}-1.0.1"), "mode": "stateless"}).to_string();
            (
                format!("/applications/{n}/upgrade"),
                Some(body.into_bytes()),
            )
        },
    },
    Rule {
        method: "POST",
        path: "/applications/{name}/savepoints",
        owned: true,
        success: None,
        prepare: |env, n| {
            env.started(n);
            (format!("/applications/{n}/savepoints"), None)
        },
    },
    Rule {
        method: "DELETE",
        path: "/applications/{name}/savepoints/{id}",
        owned: true,
        success: None,
        prepare: |env, n| {
            env.started(n);
            (format!("/applications/{n}/savepoints/1"), None)
        },
    },
];

/// Every operation of the document that is not a GET, as `METHOD path`.
fn changing_operations(doc: &Value) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("the document has paths") {
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            if method != "GET" {
                all.push((method, path.clone()));
            }
        }
    }
    all
}

/// The rules of the operations `doc` has, in its order; fails naming every operation without
/// a rule and every rule without an operation.
fn rules_for(doc: &Value) -> Vec<&'static Rule> {
    let operations = changing_operations(doc);
    let missing: Vec<String> = operations
        .iter()
        .filter(|(m, p)| !POLICY.iter().any(|r| r.method == m && r.path == p))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "operations of /openapi.json without a rule in tests/security.rs POLICY (say who may \
         call each and what it acts on): {missing:?}"
    );
    let stale: Vec<String> = POLICY
        .iter()
        .filter(|r| !operations.iter().any(|(m, p)| r.method == m && r.path == p))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        stale.is_empty(),
        "rules for operations dmd no longer has: {stale:?}"
    );
    POLICY.iter().collect()
}

/// An answer that refuses with `code` and the error body.
fn refused(reply: &common::Reply, code: u16, what: &str) {
    assert_eq!(
        reply.code,
        code,
        "{what}: expected {code}, got {}",
        String::from_utf8_lossy(&reply.bytes)
    );
    let status = if code == 401 {
        "UNAUTHORIZED"
    } else {
        "FORBIDDEN"
    };
    assert_eq!(reply.body["status"], status, "{what}: {}", reply.body);
}

fn every_changing_route_follows_the_policy(mode: Mode) {
    let root = tempfile::tempdir().unwrap();
    let env = Env::start(root.path(), mode);
    let doc = env.dmd.get("/openapi.json").body;
    let rules = rules_for(&doc);
    let mut fresh = 0;
    let mut name = |tag: &str| {
        fresh += 1;
        format!("{tag}{fresh}")
    };
    for rule in rules {
        let op = format!("{mode:?} {} {}", rule.method, rule.path);
        let send = |caller: Caller, (path, body): &Target| {
            env.call(caller, rule.method, path, body.as_deref())
        };
        // Refused callers first, on one target; then the owner on it, so a refusal that had
        // changed something would show as the owner's failure.
        let target = (rule.prepare)(&env, &name("t"));
        refused(
            &send(Caller::Nobody, &target),
            401,
            &format!("{op} without credentials"),
        );
        refused(
            &send(Caller::Wrong, &target),
            401,
            &format!("{op} with a wrong credential"),
        );
        if rule.owned {
            let reply = send(Caller::Other, &target);
            refused(&reply, 403, &format!("{op} by another user"));
            assert!(
                reply.body["information"]
                    .as_str()
                    .unwrap()
                    .starts_with("User \"bob\" does not have authorization for"),
                "{op}: {}",
                reply.body
            );
        } else {
            let other = (rule.prepare)(&env, &name("o"));
            allowed(
                rule,
                &send(Caller::Other, &other),
                &format!("{op} by any user"),
            );
        }
        allowed(
            rule,
            &send(Caller::Owner, &target),
            &format!("{op} by its owner"),
        );
        let admin = (rule.prepare)(&env, &name("a"));
        allowed(
            rule,
            &send(Caller::Admin, &admin),
            &format!("{op} by an admin"),
        );
    }
}

/// An answer to an allowed call: the rule's success code, or for operations that need an
/// engine, any answer but a refusal.
fn allowed(rule: &Rule, reply: &common::Reply, what: &str) {
    match rule.success {
        Some(code) => assert_eq!(reply.code, code, "{what}: {}", reply.body),
        None => assert!(
            ![401, 403].contains(&reply.code),
            "{what}: refused: {}",
            reply.body
        ),
    }
}

#[test]
fn bearer_mode_every_changing_route() {
    every_changing_route_follows_the_policy(Mode::Bearer);
}

#[test]
fn trusted_header_mode_every_changing_route() {
    every_changing_route_follows_the_policy(Mode::TrustedHeader);
}

/// The completeness check itself: an operation the table lacks fails the suite, naming it.
#[test]
fn a_route_without_a_rule_fails_the_suite() {
    use utoipa::OpenApi;
    let mut doc = serde_json::to_value(dm_core::api::ApiDoc::openapi()).unwrap();
    assert_eq!(
        rules_for(&doc).len(),
        POLICY.len(),
        "the document as it is passes"
    );
    doc["paths"]["/applications/{name}/explode"] = json!({"post": {}});
    let failure = std::panic::catch_unwind(|| rules_for(&doc).len()).unwrap_err();
    let message = failure
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("POST /applications/{name}/explode"),
        "{message}"
    );
}

/// Behind a proxy, only the proxy says who a request is from: from any other peer, the same
/// headers are answered 401, naming the key.
#[test]
fn trusted_header_mode_believes_only_its_proxies() {
    let root = tempfile::tempdir().unwrap();
    let dmd = Dmd::start_with(
        root.path(),
        &Options {
            env: vec![
                ("DMD__AUTH__MODE".into(), "trusted-header".into()),
                // A proxy elsewhere on loopback: these requests come from 127.0.0.1.
                (
                    "DMD__AUTH__TRUSTED_PROXIES".into(),
                    "[\"127.0.0.2\"]".into(),
                ),
            ],
            ..Options::default()
        },
    );
    let as_root = [("X-Forwarded-User", "root")];
    for (method, path) in [("GET", "/packages"), ("PUT", "/packages/p-1.0.0")] {
        let reply = dmd.call(method, path, None, &as_root);
        refused(
            &reply,
            401,
            &format!("{method} {path} from a peer that is not a proxy"),
        );
        assert_eq!(
            reply.body["information"],
            "requests are only believed from the proxies of auth.trusted_proxies; 127.0.0.1 is not one"
        );
    }
}

/// Without authentication anyone who connects acts as anyone: `none` is refused on any address
/// but loopback. Only the configuration check runs: nothing is bound.
#[test]
fn no_auth_is_refused_off_loopback() {
    let data = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dmd"))
        .args(["--check-config", "--listen", "0.0.0.0:5000", "--data-dir"])
        .arg(data.path())
        .env("DMD__DISCOVERY__ENABLED", "false")
        .env("DMD__AUTH__MODE", "none")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "auth.mode \"none\" is only allowed on a loopback address, but server.listen is 0.0.0.0:5000"
        ),
        "{stderr}"
    );
}
