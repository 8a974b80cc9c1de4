//! Carries out a `jupyter` component's plan ([`Notebooks`]): the users' notebook repositories
//! under `[jupyter] repos_root`, as PNDA kept them, and their read-only serving over git's dumb
//! HTTP protocol (what JupyterHub clones).
//!
//! - create: make `jupyter-<user>` if missing (`git init`, `README.ipynb`, "Initial commit"),
//!   refuse if the application's folder exists, copy the rendered files and `properties.json`
//!   into it and commit. A marker `.git/dm-apps/<folder>` is written before the folder is made,
//!   so a destroy (a rollback after a failure or a crash) removes only folders dm made.
//! - destroy: `git rm -r` the folder (or remove what a cut-short create left), commit when
//!   something committed went, drop the marker.
//!
//! After every commit `git update-server-info` refreshes `info/refs` and `objects/info/packs`
//! (the effect of PNDA's `post-update` hook), which is all a dumb-HTTP client needs. git runs
//! with argv vectors, without the host's or the user's git configuration, as `dm`.

use dm_plugin_api::Notebooks;
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Where a user's repository folder name starts.
const REPO_PREFIX: &str = "jupyter-";
/// Inside `.git`: which application folders dm made (one empty file each).
const MARKERS: &str = "dm-apps";

pub struct NotebookRepos {
    root: PathBuf,
    /// git keeps one index per repository: changes to repositories go one at a time.
    lock: Mutex<()>,
}

/// The repository and folder of a plan, checked to lie where dm keeps repositories.
#[derive(Debug, PartialEq, Eq)]
struct Place {
    repo: PathBuf,
    folder: String,
}

impl NotebookRepos {
    pub fn new(root: PathBuf) -> NotebookRepos {
        NotebookRepos {
            root,
            lock: Mutex::new(()),
        }
    }

    /// Whether this dmd can carry the plan out: its repository must be `<root>/jupyter-<user>`
    /// and its folder one plain name (the plan comes from a plugin: trusted with nothing).
    pub fn check(&self, plan: &Notebooks) -> Result<(), String> {
        self.place(plan).map(drop)
    }

    fn place(&self, plan: &Notebooks) -> Result<Place, String> {
        let repo = Path::new(&plan.repo);
        let name = repo
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if repo.parent() != Some(self.root.as_path()) || !is_repo_name(name) {
            return Err(format!(
                "the plugin planned the notebook repository {}, not jupyter-<user> in {}",
                plan.repo,
                self.root.display()
            ));
        }
        if !is_plain_name(&plan.folder) {
            return Err(format!(
                "the plugin planned the notebook folder {:?}, which is not one plain name",
                plan.folder
            ));
        }
        for file in &plan.files {
            if !is_relative_inside(file) {
                return Err(format!(
                    "the plugin planned to copy {file:?}, outside the component folder"
                ));
            }
        }
        Ok(Place {
            repo: repo.to_path_buf(),
            folder: plan.folder.clone(),
        })
    }

    /// Commits the component's notebooks (rendered in `component_dir`) to the user's repository.
    pub fn create(&self, plan: &Notebooks, component_dir: &Path) -> Result<(), String> {
        let place = self.place(plan)?;
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let repo = &place.repo;
        self.ensure_repo(repo, plan)?;
        let folder = repo.join(&place.folder);
        if std::fs::symlink_metadata(&folder).is_ok() {
            return Err(format!(
                "{} already exists in the notebook repository {}",
                place.folder,
                repo.display()
            ));
        }
        let marker = marker(repo, &place.folder);
        create_parent(&marker)?;
        std::fs::write(&marker, b"").map_err(|e| io("write", &marker, e))?;
        std::fs::create_dir(&folder).map_err(|e| io("create", &folder, e))?;
        for file in &plan.files {
            let from = component_dir.join(file);
            let meta = std::fs::symlink_metadata(&from).map_err(|e| io("read", &from, e))?;
            if !meta.is_file() {
                return Err(format!("{file} of the component is not a regular file"));
            }
            let to = folder.join(file);
            create_parent(&to)?;
            std::fs::copy(&from, &to).map_err(|e| io("copy", &from, e))?;
        }
        let properties = folder.join("properties.json");
        std::fs::write(&properties, &plan.properties_json)
            .map_err(|e| io("write", &properties, e))?;
        git(repo, &["add", "--", &place.folder])?;
        commit(repo, &plan.added_commit)?;
        log::info!(
            "notebooks of {} committed to {}",
            place.folder,
            repo.display()
        );
        Ok(())
    }

    /// Removes the application's folder, if dm made it; repeated or after a cut-short create,
    /// removes what is left.
    pub fn destroy(&self, plan: &Notebooks) -> Result<(), String> {
        let place = self.place(plan)?;
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let repo = &place.repo;
        let marker = marker(repo, &place.folder);
        if !marker.exists() {
            // Never made by dm (or already gone): a folder of that name is someone else's.
            return Ok(());
        }
        if !git(repo, &["ls-files", "--", &place.folder])?
            .trim()
            .is_empty()
        {
            git(repo, &["rm", "-r", "-q", "-f", "--", &place.folder])?;
        }
        let folder = repo.join(&place.folder);
        match std::fs::remove_dir_all(&folder) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("remove", &folder, e))
            }
            _ => {}
        }
        // Nothing staged when the create was cut short before its commit.
        if !staged_changes(repo)?.is_empty() {
            commit(repo, &plan.deleted_commit)?;
        }
        std::fs::remove_file(&marker).map_err(|e| io("remove", &marker, e))?;
        log::info!(
            "notebooks of {} removed from {}",
            place.folder,
            repo.display()
        );
        Ok(())
    }

    /// A repository with its initial commit, finishing one a crash left half-made.
    fn ensure_repo(&self, repo: &Path, plan: &Notebooks) -> Result<(), String> {
        if !repo.join(".git").is_dir() {
            std::fs::create_dir_all(repo).map_err(|e| io("create", repo, e))?;
            git(repo, &["init", "-q", "-b", "master"])?;
        }
        if !has_head(repo) {
            let readme = repo.join("README.ipynb");
            std::fs::write(&readme, &plan.readme).map_err(|e| io("write", &readme, e))?;
            git(repo, &["add", "--", "README.ipynb"])?;
            commit(repo, &plan.initial_commit)?;
        }
        Ok(())
    }

    /// The file of `GET /notebooks/<path>`: only what git's dumb HTTP protocol reads
    /// (`HEAD`, `info/refs`, `objects/…`) inside the `.git` of a repository under the root,
    /// never through a symbolic link leading elsewhere. `None` when there is no such file.
    pub fn served_file(&self, path: &str) -> Option<PathBuf> {
        let (repo, inside) = served_path(path)?;
        let file = self.root.join(repo).join(".git").join(inside);
        let real = file.canonicalize().ok()?;
        let root = self.root.canonicalize().ok()?;
        (real.starts_with(root.join(repo).join(".git")) && real.is_file()).then_some(real)
    }
}

/// `jupyter-<user>` and the file inside its `.git` that a dumb-HTTP clone may ask for.
fn served_path(path: &str) -> Option<(&str, String)> {
    let (repo, rest) = path.split_once('/')?;
    if !is_repo_name(repo) {
        return None;
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let hex =
        |s: &str, n: &[usize]| n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit());
    let wanted = match segments.as_slice() {
        ["HEAD"] | ["info", "refs"] | ["objects", "info", "packs"] => true,
        // Loose objects: two hex digits, then the rest of a SHA-1 or SHA-256 name.
        ["objects", dir, name] if hex(dir, &[2]) && hex(name, &[38, 62]) => true,
        ["objects", "pack", name] => ["pack", "idx"].iter().any(|ext| {
            name.strip_prefix("pack-")
                .and_then(|n| n.strip_suffix(&format!(".{ext}")))
                .is_some_and(|h| hex(h, &[40, 64]))
        }),
        _ => false,
    };
    wanted.then(|| (repo, rest.to_string()))
}

fn is_repo_name(name: &str) -> bool {
    name.strip_prefix(REPO_PREFIX).is_some_and(|user| {
        !user.is_empty()
            && !user.starts_with(['.', '-'])
            && user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    })
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains('/')
}

fn is_relative_inside(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn marker(repo: &Path, folder: &str) -> PathBuf {
    repo.join(".git").join(MARKERS).join(folder)
}

fn create_parent(path: &Path) -> Result<(), String> {
    match path.parent() {
        Some(parent) => std::fs::create_dir_all(parent).map_err(|e| io("create", parent, e)),
        None => Ok(()),
    }
}

fn io(what: &str, path: &Path, e: std::io::Error) -> String {
    format!("cannot {what} {}: {e}", path.display())
}

fn has_head(repo: &Path) -> bool {
    git(repo, &["rev-parse", "-q", "--verify", "HEAD"]).is_ok()
}

fn staged_changes(repo: &Path) -> Result<String, String> {
    git(repo, &["diff", "--cached", "--name-only"])
}

fn commit(repo: &Path, message: &str) -> Result<(), String> {
    git(repo, &["commit", "-q", "--no-verify", "-m", message])?;
    git(repo, &["update-server-info"]).map(drop)
}

/// Runs git in `repo` as `dm`, whatever the host's or the user's git configuration says
/// (signing, hooks paths, default branch), and returns its output.
fn git(repo: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "user.name=dm", "-c", "user.email=dm@localhost"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "git {} in {} failed ({}): {}",
            args.join(" "),
            repo.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OID: &str = "8cff0f6a2108ceca50b12b169de548d765734f27";

    #[test]
    fn only_what_a_dumb_http_clone_reads_is_served() {
        let loose = format!("jupyter-alice/objects/{}/{}", &OID[..2], &OID[2..]);
        let pack = format!("jupyter-alice/objects/pack/pack-{OID}.idx");
        for path in [
            "jupyter-alice/HEAD",
            "jupyter-alice/info/refs",
            "jupyter-alice/objects/info/packs",
            loose.as_str(),
            pack.as_str(),
        ] {
            let (repo, inside) = served_path(path).unwrap_or_else(|| panic!("{path}"));
            assert_eq!(repo, "jupyter-alice");
            assert_eq!(format!("{repo}/{inside}"), path);
        }
        for path in [
            "jupyter-alice/config",
            "jupyter-alice/dm-apps/app",
            "jupyter-alice/hooks/post-update",
            "jupyter-alice/../jupyter-bob/HEAD",
            "jupyter-alice/objects/../config",
            "jupyter-alice/objects/zz/0000000000000000000000000000000000000000",
            "jupyter-alice/objects/pack/pack-../../config.idx",
            "jupyter-alice/HEAD/",
            "jupyter-/HEAD",
            "jupyter-../HEAD",
            "jupyter-.git/HEAD",
            "other/HEAD",
            "jupyter-alice",
            "",
        ] {
            assert_eq!(served_path(path), None, "{path}");
        }
    }

    fn plan(root: &Path, folder: &str, files: &[&str]) -> Notebooks {
        Notebooks {
            repo: root.join("jupyter-alice").display().to_string(),
            folder: folder.into(),
            files: files.iter().map(|f| f.to_string()).collect(),
            properties_json: "{}\n".into(),
            readme: "{}".into(),
            initial_commit: "Initial commit".into(),
            added_commit: format!("added {folder} app notebooks"),
            deleted_commit: format!("deleted {folder} app notebooks"),
        }
    }

    #[test]
    fn plans_outside_the_root_are_refused() {
        let root = Path::new("/data/git-repos");
        let repos = NotebookRepos::new(root.to_path_buf());
        let ok = plan(root, "app", &["a.ipynb"]);
        assert!(repos.check(&ok).is_ok());
        let mut bad = ok.clone();
        bad.repo = "/data/git-repos/../etc".into();
        assert!(repos
            .check(&bad)
            .unwrap_err()
            .contains("not jupyter-<user>"));
        bad.repo = "/elsewhere/jupyter-alice".into();
        assert!(repos.check(&bad).is_err());
        for folder in ["", "..", ".git", "a/b"] {
            let bad = plan(root, folder, &["a.ipynb"]);
            assert!(
                repos.check(&bad).unwrap_err().contains("plain name"),
                "{folder}"
            );
        }
        for file in ["../x", "/etc/passwd", "a/../../b"] {
            let bad = plan(root, "app", &[file]);
            assert!(repos.check(&bad).unwrap_err().contains("outside"), "{file}");
        }
    }

    fn log(repo: &Path) -> String {
        git(repo, &["log", "--format=%an <%ae> %s"]).unwrap()
    }

    #[test]
    fn create_commits_and_destroy_removes_only_what_dm_made() {
        let root = tempfile::tempdir().unwrap();
        let component = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(component.path().join("sub")).unwrap();
        std::fs::write(component.path().join("a.ipynb"), "{}").unwrap();
        std::fs::write(component.path().join("sub/b.py"), "print(1)").unwrap();
        let repos = NotebookRepos::new(root.path().to_path_buf());
        let app = plan(root.path(), "app", &["a.ipynb", "sub/b.py"]);
        repos.create(&app, component.path()).unwrap();
        let repo = root.path().join("jupyter-alice");
        assert_eq!(
            log(&repo),
            "dm <dm@localhost> added app app notebooks\ndm <dm@localhost> Initial commit\n"
        );
        let tracked = git(&repo, &["ls-files"]).unwrap();
        assert_eq!(
            tracked,
            "README.ipynb\napp/a.ipynb\napp/properties.json\napp/sub/b.py\n"
        );
        assert!(
            repo.join(".git/info/refs").is_file(),
            "update-server-info ran"
        );
        let again = repos.create(&app, component.path()).unwrap_err();
        assert!(again.contains("app already exists"), "{again}");

        // A folder dm did not make is left alone by a destroy (the rollback of that refusal).
        std::fs::create_dir(repo.join("theirs")).unwrap();
        repos.destroy(&plan(root.path(), "theirs", &[])).unwrap();
        assert!(repo.join("theirs").is_dir());

        repos.destroy(&app).unwrap();
        assert!(!repo.join("app").exists());
        assert!(log(&repo).starts_with("dm <dm@localhost> deleted app app notebooks\n"));
        repos.destroy(&app).unwrap();
        assert_eq!(
            log(&repo).lines().count(),
            3,
            "a second destroy commits nothing"
        );
    }

    #[test]
    fn destroy_cleans_up_after_a_create_cut_short() {
        let root = tempfile::tempdir().unwrap();
        let component = tempfile::tempdir().unwrap();
        std::fs::write(component.path().join("a.ipynb"), "{}").unwrap();
        let repos = NotebookRepos::new(root.path().to_path_buf());
        // The copy fails half-way: the second file is missing.
        let app = plan(root.path(), "app", &["a.ipynb", "missing.ipynb"]);
        repos.create(&app, component.path()).unwrap_err();
        let repo = root.path().join("jupyter-alice");
        assert!(repo.join("app/a.ipynb").is_file());
        // Staged but not committed, as a crash between add and commit leaves it.
        git(&repo, &["add", "app"]).unwrap();
        repos.destroy(&app).unwrap();
        assert!(!repo.join("app").exists());
        assert_eq!(git(&repo, &["status", "--porcelain"]).unwrap(), "");
        assert_eq!(
            log(&repo),
            "dm <dm@localhost> Initial commit\n",
            "nothing to commit"
        );
        assert!(!marker(&repo, "app").exists());
    }
}
