//! Authentication (who is asking) and authorization (may they).
//!
//! Modes: `none` (development on loopback: PNDA's `user.name` query parameter is believed),
//! `trusted-header` (behind an authenticating proxy such as Knox: the user comes from a header,
//! or from `user.name`, which Knox sets), and `bearer` (tokens from a file; `user.name` is not
//! believed). Groups come from dmd's configuration, the tokens file, or the proxy's header.
//!
//! Authorization is PNDA's rule shapes as data instead of `eval`ed Python: named sets of action
//! names, and grants "any action in set S, for the resource's owner and/or members of groups G,
//! and/or anonymous callers". The defaults are PNDA's shipped rules. A small declarative engine
//! was chosen over `cedar-policy`: these two rule shapes are all PNDA's rule files ever used,
//! and it keeps existing rule files mapping 1:1 onto `[authorization]` without a heavy dependency.

use crate::config::Auth;
use crate::error::DmError;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The action names of PNDA's authorizer.
pub mod action {
    pub const ENVIRONMENT_READ: &str = "deployment_manager:environment:read";
    pub const REPOSITORY_READ: &str = "deployment_manager:repository:read";
    pub const REPOSITORY_WRITE: &str = "deployment_manager:repository:write";
    pub const REPOSITORY_DELETE: &str = "deployment_manager:repository:delete";
    pub const PACKAGES_READ: &str = "deployment_manager:packages:read";
    pub const PACKAGE_READ: &str = "deployment_manager:package:read";
    pub const PACKAGE_DEPLOY: &str = "deployment_manager:package:deploy";
    pub const PACKAGE_UNDEPLOY: &str = "deployment_manager:package:undeploy";
    pub const APPLICATIONS_READ: &str = "deployment_manager:applications:read";
    pub const APPLICATION_READ: &str = "deployment_manager:application:read";
    pub const APPLICATION_CREATE: &str = "deployment_manager:application:create";
    pub const APPLICATION_START: &str = "deployment_manager:application:start";
    pub const APPLICATION_STOP: &str = "deployment_manager:application:stop";
    pub const APPLICATION_DESTROY: &str = "deployment_manager:application:destroy";
    /// dm's own: reading the notebook repositories of `jupyter` components.
    pub const NOTEBOOKS_READ: &str = "deployment_manager:notebooks:read";

    /// The actions that change something. No grant gives them to an anonymous caller: a
    /// change needs someone to own it and to act as.
    pub const CHANGES: [&str; 8] = [
        REPOSITORY_WRITE,
        REPOSITORY_DELETE,
        PACKAGE_DEPLOY,
        PACKAGE_UNDEPLOY,
        APPLICATION_CREATE,
        APPLICATION_START,
        APPLICATION_STOP,
        APPLICATION_DESTROY,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    None,
    TrustedHeader,
    Bearer,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// Empty for an anonymous caller.
    pub user: String,
    pub groups: BTreeSet<String>,
}

impl Identity {
    pub fn is_anonymous(&self) -> bool {
        self.user.is_empty()
    }
}

/// User names end up in paths (`application_hdfs_root`) and logs.
pub(crate) fn check_user_name(user: &str) -> Result<(), DmError> {
    let ok = !user.starts_with(['.', '-'])
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(DmError::BadRequest(format!(
            "user name {user:?} may only contain a-z A-Z 0-9 . _ - @"
        )))
    }
}

pub struct Authenticator {
    mode: AuthMode,
    user_header: String,
    groups_header: String,
    /// token → (user, groups)
    tokens: HashMap<String, (String, BTreeSet<String>)>,
    /// user → groups, from `[auth.groups]`
    groups_of: BTreeMap<String, BTreeSet<String>>,
    /// Also take groups from the host's account database, as PNDA did.
    os_groups: bool,
    trusted_proxies: Vec<std::net::IpAddr>,
}

impl Authenticator {
    pub fn new(config: &Auth) -> anyhow::Result<Authenticator> {
        let mut groups_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (group, users) in &config.groups {
            for user in users {
                groups_of
                    .entry(user.clone())
                    .or_default()
                    .insert(group.clone());
            }
        }
        let tokens = match (&config.tokens_file, config.mode) {
            (Some(path), AuthMode::Bearer) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("cannot read auth.tokens_file {}: {e}", path.display())
                })?;
                parse_tokens(&text)
                    .map_err(|e| anyhow::anyhow!("auth.tokens_file {}: {e}", path.display()))?
            }
            _ => HashMap::new(),
        };
        Ok(Authenticator {
            mode: config.mode,
            user_header: config.user_header.clone(),
            groups_header: config.groups_header.clone(),
            tokens,
            groups_of,
            os_groups: config.os_groups,
            trusted_proxies: config.trusted_proxies.clone(),
        })
    }

    /// `trusted-header` mode: whether a request from `peer` may say who it is. Anyone who can
    /// reach dmd past the proxy could otherwise name any user in the header.
    pub fn check_peer(&self, peer: Option<std::net::IpAddr>) -> Result<(), DmError> {
        if self.mode != AuthMode::TrustedHeader
            || peer.is_some_and(|p| self.trusted_proxies.contains(&p))
        {
            return Ok(());
        }
        Err(DmError::Unauthorized(format!(
            "requests are only believed from the proxies of auth.trusted_proxies; {} is not one",
            peer.map_or_else(|| "an unknown peer".to_string(), |p| p.to_string())
        )))
    }

    /// The header naming the user in `trusted-header` mode.
    pub fn user_header(&self) -> &str {
        &self.user_header
    }

    /// The caller, from request headers (looked up by `header`) and the `user.name` parameter.
    pub fn identify(
        &self,
        header: impl Fn(&str) -> Option<String>,
        user_param: Option<&str>,
    ) -> Result<Identity, DmError> {
        let user_param = user_param.filter(|u| !u.is_empty());
        let (user, mut groups) =
            match self.mode {
                AuthMode::None => (user_param.unwrap_or_default().to_string(), BTreeSet::new()),
                AuthMode::TrustedHeader => {
                    let from_header = header(&self.user_header).filter(|u| !u.is_empty());
                    let user = from_header
                        .as_deref()
                        .or(user_param)
                        .unwrap_or_default()
                        .to_string();
                    let groups = if self.groups_header.is_empty() {
                        BTreeSet::new()
                    } else {
                        header(&self.groups_header)
                            .map(|g| {
                                g.split(',')
                                    .map(str::trim)
                                    .filter(|g| !g.is_empty())
                                    .map(str::to_string)
                                    .collect()
                            })
                            .unwrap_or_default()
                    };
                    (user, groups)
                }
                AuthMode::Bearer => {
                    let token = header("Authorization")
                        .and_then(|h| h.strip_prefix("Bearer ").map(|t| t.trim().to_string()));
                    match token {
                        None if user_param.is_some() => return Err(DmError::Unauthorized(
                            "user.name is not accepted with bearer authentication: send a token"
                                .into(),
                        )),
                        None => (String::new(), BTreeSet::new()),
                        Some(token) => {
                            let (user, groups) =
                                self.tokens.get(&token).cloned().ok_or_else(|| {
                                    DmError::Unauthorized("unknown bearer token".into())
                                })?;
                            if user_param.is_some_and(|u| u != user) {
                                return Err(DmError::Forbidden(format!(
                                    "user.name does not match the authenticated user {user}"
                                )));
                            }
                            (user, groups)
                        }
                    }
                }
            };
        check_user_name(&user)?;
        if self.os_groups && !user.is_empty() {
            let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
            let found =
                os_groups(&user, &read("/etc/passwd"), &read("/etc/group")).ok_or_else(|| {
                    DmError::Forbidden(format!("Failed to find details for user \"{user}\""))
                })?;
            groups.extend(found);
        }
        if let Some(configured) = self.groups_of.get(&user) {
            groups.extend(configured.iter().cloned());
        }
        Ok(Identity { user, groups })
    }
}

/// PNDA's lookup: the groups whose member list names `user`, plus the user's primary group;
/// `None` when `passwd` does not know the user.
fn os_groups(user: &str, passwd: &str, group: &str) -> Option<BTreeSet<String>> {
    let primary_gid = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 3 && fields[0] == user).then(|| fields[3].to_string())
    })?;
    let groups = group
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 4 {
                return None;
            }
            let member = fields[3].split(',').any(|m| m.trim() == user);
            (member || fields[2] == primary_gid).then(|| fields[0].to_string())
        })
        .collect();
    Some(groups)
}

fn parse_tokens(text: &str) -> Result<HashMap<String, (String, BTreeSet<String>)>, String> {
    let mut tokens = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(token), Some(user)) = (fields.next(), fields.next()) else {
            return Err(format!(
                "line {}: expected `<token> <user> [group,group…]`",
                n + 1
            ));
        };
        let groups = fields
            .next()
            .map(|g| {
                g.split(',')
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if fields.next().is_some() {
            return Err(format!("line {}: too many fields", n + 1));
        }
        check_user_name(user).map_err(|e| format!("line {}: {e}", n + 1))?;
        if tokens
            .insert(token.to_string(), (user.to_string(), groups))
            .is_some()
        {
            return Err(format!("line {}: duplicate token", n + 1));
        }
    }
    Ok(tokens)
}

/// `[authorization]`: named sets of actions, and grants over them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub sets: BTreeMap<String, BTreeSet<String>>,
    pub grant: Vec<Grant>,
}

/// Grants every action of set `actions` to: anyone, anonymous callers included, when
/// `anonymous`; else to identified callers who, when `owner` or `groups` are given, own the
/// resource (`owner`) or belong to one of `groups`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub actions: String,
    #[serde(default)]
    pub owner: bool,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub anonymous: bool,
}

impl Default for Policy {
    /// PNDA's shipped `authorizer_rules.yaml`, plus the repository's actions: any user uploads,
    /// the uploader (or an admin) deletes.
    fn default() -> Self {
        use action::*;
        let set = |actions: &[&str]| {
            actions
                .iter()
                .map(|a| a.to_string())
                .collect::<BTreeSet<_>>()
        };
        let sets = BTreeMap::from([
            (
                "owner_only_actions".to_string(),
                set(&[
                    PACKAGE_UNDEPLOY,
                    REPOSITORY_DELETE,
                    APPLICATION_START,
                    APPLICATION_STOP,
                    APPLICATION_DESTROY,
                ]),
            ),
            (
                "everyone_actions".to_string(),
                set(&[
                    PACKAGE_DEPLOY,
                    APPLICATION_CREATE,
                    PACKAGE_READ,
                    APPLICATION_READ,
                    ENVIRONMENT_READ,
                    PACKAGES_READ,
                    APPLICATIONS_READ,
                    REPOSITORY_READ,
                    REPOSITORY_WRITE,
                    NOTEBOOKS_READ,
                ]),
            ),
        ]);
        let grant = vec![
            Grant {
                actions: "owner_only_actions".into(),
                owner: true,
                groups: vec!["admin".into()],
                anonymous: false,
            },
            Grant {
                actions: "everyone_actions".into(),
                owner: false,
                groups: Vec::new(),
                anonymous: true,
            },
        ];
        Policy { sets, grant }
    }
}

impl Policy {
    pub fn problems(&self) -> Vec<String> {
        self.grant
            .iter()
            .filter(|g| !self.sets.contains_key(&g.actions))
            .map(|g| {
                format!(
                    "authorization.grant refers to an undefined set {:?}",
                    g.actions
                )
            })
            .collect()
    }

    pub fn allows(&self, identity: &Identity, action: &str, owner: Option<&str>) -> bool {
        self.grant.iter().any(|grant| {
            let in_set = self
                .sets
                .get(&grant.actions)
                .is_some_and(|s| s.contains(action));
            let anonymous_change = identity.is_anonymous() && action::CHANGES.contains(&action);
            if !in_set || anonymous_change || (identity.is_anonymous() && !grant.anonymous) {
                return false;
            }
            if !grant.owner && grant.groups.is_empty() {
                return true;
            }
            let is_owner =
                grant.owner && !identity.is_anonymous() && owner == Some(identity.user.as_str());
            is_owner || grant.groups.iter().any(|g| identity.groups.contains(g))
        })
    }

    /// 403 with PNDA's message unless allowed.
    pub fn check(
        &self,
        identity: &Identity,
        action: &str,
        owner: Option<&str>,
    ) -> Result<(), DmError> {
        if self.allows(identity, action, owner) {
            Ok(())
        } else {
            Err(DmError::Forbidden(format!(
                "User \"{}\" does not have authorization for \"{action}\"",
                identity.user
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::action::*;
    use super::*;

    fn who(user: &str, groups: &[&str]) -> Identity {
        Identity {
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn pnda_default_rules() {
        let p = Policy::default();
        // Owner may create and start their own application; anyone may read others'.
        assert!(p.allows(&who("alice", &[]), APPLICATION_CREATE, None));
        assert!(p.allows(&who("alice", &[]), APPLICATION_START, Some("alice")));
        assert!(p.allows(&who("bob", &[]), APPLICATION_READ, Some("alice")));
        // admin may act on others' applications; others may not.
        assert!(p.allows(&who("root", &["admin"]), APPLICATION_STOP, Some("alice")));
        assert!(!p.allows(&who("bob", &["users"]), APPLICATION_STOP, Some("alice")));
        // Unknown actions are denied even to an admin owner.
        assert!(!p.allows(
            &who("alice", &["admin"]),
            "deployment_manager:application:explode",
            Some("alice")
        ));
        // Anonymous callers read (PNDA's console and health checks do) but never act as owner.
        assert!(p.allows(&who("", &[]), PACKAGES_READ, None));
        assert!(!p.allows(&who("", &[]), APPLICATION_DESTROY, Some("")));
        assert!(!p.allows(&who("", &[]), APPLICATION_DESTROY, None));
        // The repository: any user uploads; the uploader or an admin deletes.
        assert!(p.allows(&who("bob", &[]), REPOSITORY_WRITE, None));
        assert!(p.allows(&who("alice", &[]), REPOSITORY_DELETE, Some("alice")));
        assert!(p.allows(&who("root", &["admin"]), REPOSITORY_DELETE, Some("alice")));
        assert!(!p.allows(&who("bob", &[]), REPOSITORY_DELETE, Some("alice")));
        assert!(
            !p.allows(&who("bob", &[]), REPOSITORY_DELETE, None),
            "a file without a recorded owner is an admin's to delete"
        );
    }

    #[test]
    fn anonymous_callers_never_change_anything() {
        // Even a policy that grants every change to anonymous callers.
        let mut p = Policy::default();
        p.sets.insert(
            "all".into(),
            CHANGES.iter().map(|a| a.to_string()).collect(),
        );
        p.grant.push(Grant {
            actions: "all".into(),
            owner: false,
            groups: vec![],
            anonymous: true,
        });
        for change in CHANGES {
            assert!(!p.allows(&who("", &[]), change, None), "{change}");
            assert!(p.allows(&who("bob", &[]), change, None), "{change}");
        }
        assert!(p.allows(&who("", &[]), PACKAGES_READ, None));
    }

    #[test]
    fn changed_rules_change_decisions() {
        // Authors-only deploy: drop deploy from everyone, grant it to the "authors" group.
        let mut p = Policy::default();
        p.sets
            .get_mut("everyone_actions")
            .unwrap()
            .remove(PACKAGE_DEPLOY);
        p.sets
            .insert("author_actions".into(), [PACKAGE_DEPLOY.to_string()].into());
        p.grant.push(Grant {
            actions: "author_actions".into(),
            owner: false,
            groups: vec!["authors".into()],
            anonymous: false,
        });
        assert!(!p.allows(&who("bob", &[]), PACKAGE_DEPLOY, None));
        assert!(p.allows(&who("ann", &["authors"]), PACKAGE_DEPLOY, None));
        p.grant.push(Grant {
            actions: "missing".into(),
            owner: false,
            groups: vec![],
            anonymous: false,
        });
        assert_eq!(p.problems().len(), 1);
    }

    #[test]
    fn policy_from_toml() {
        let p: Policy = toml::from_str(
            "[[grant]]\nactions = \"everyone_actions\"\n[[grant]]\nactions = \"owner_only_actions\"\nowner = true\n",
        )
        .unwrap();
        assert!(
            !p.allows(&who("", &[]), PACKAGES_READ, None),
            "a stricter policy is a config change"
        );
        assert!(p.allows(&who("bob", &[]), PACKAGES_READ, None));
        assert!(!p.allows(&who("root", &["admin"]), APPLICATION_STOP, Some("alice")));
    }

    fn auth(mode: AuthMode, tokens: Option<&str>) -> Authenticator {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Auth {
            mode,
            groups_header: "X-Groups".into(),
            ..Auth::default()
        };
        config.groups.insert("admin".into(), vec!["root".into()]);
        if let Some(text) = tokens {
            let path = dir.path().join("tokens");
            std::fs::write(&path, text).unwrap();
            config.tokens_file = Some(path);
        }
        Authenticator::new(&config).unwrap()
    }

    #[test]
    fn modes() {
        let none = auth(AuthMode::None, None);
        assert_eq!(
            none.identify(|_| None, Some("root")).unwrap(),
            who("root", &["admin"])
        );
        assert!(
            none.identify(|_| None, Some("a/b")).is_err(),
            "user names are checked"
        );

        let proxy = auth(AuthMode::TrustedHeader, None);
        let headers = |h: &str| match h {
            "X-Forwarded-User" => Some("carol".to_string()),
            "X-Groups" => Some("ops, admin".to_string()),
            _ => None,
        };
        assert_eq!(
            proxy.identify(headers, Some("mallory")).unwrap(),
            who("carol", &["admin", "ops"])
        );
        assert_eq!(proxy.identify(|_| None, Some("dave")).unwrap().user, "dave");

        let bearer = auth(
            AuthMode::Bearer,
            Some("# tokens\ns3cret alice admin,ops\nother bob\n"),
        );
        let with =
            |t: &'static str| move |h: &str| (h == "Authorization").then(|| format!("Bearer {t}"));
        assert_eq!(
            bearer.identify(with("s3cret"), None).unwrap(),
            who("alice", &["admin", "ops"])
        );
        assert_eq!(
            bearer.identify(with("nope"), None).unwrap_err().http_code(),
            401
        );
        assert_eq!(
            bearer
                .identify(|_| None, Some("alice"))
                .unwrap_err()
                .http_code(),
            401,
            "user.name alone is not believed"
        );
        assert_eq!(
            bearer
                .identify(with("other"), Some("alice"))
                .unwrap_err()
                .http_code(),
            403
        );
        assert!(bearer.identify(|_| None, None).unwrap().is_anonymous());
    }

    #[test]
    fn only_trusted_proxies_speak_for_users() {
        let proxy = auth(AuthMode::TrustedHeader, None);
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let other: std::net::IpAddr = "192.0.2.7".parse().unwrap();
        assert!(proxy.check_peer(Some(local)).is_ok());
        let refused = proxy.check_peer(Some(other)).unwrap_err();
        assert_eq!(refused.http_code(), 401);
        assert!(
            refused.to_string().contains("192.0.2.7 is not one"),
            "{refused}"
        );
        assert_eq!(proxy.check_peer(None).unwrap_err().http_code(), 401);
        let bearer = auth(AuthMode::Bearer, Some("t u\n"));
        assert!(
            bearer.check_peer(Some(other)).is_ok(),
            "only the proxy mode asks"
        );
    }

    #[test]
    fn os_group_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        let group = "root:x:0:\nadmin:x:27:alice,bob\nalice:x:1000:\nops:x:30:bob\n";
        assert_eq!(
            os_groups("alice", passwd, group).unwrap(),
            ["admin".to_string(), "alice".to_string()].into()
        );
        assert_eq!(
            os_groups("root", passwd, group).unwrap(),
            ["root".to_string()].into()
        );
        assert_eq!(
            os_groups("bob", passwd, group),
            None,
            "not in passwd: unknown, as in PNDA"
        );
    }

    #[test]
    fn token_file_errors_name_the_line() {
        assert!(parse_tokens("onlytoken\n").unwrap_err().contains("line 1"));
        assert!(parse_tokens("a u\na v\n")
            .unwrap_err()
            .contains("duplicate"));
    }
}
