//! Temporary git repositories, bare remotes and a real `git daemon` (receive-pack enabled)
//! on a free loopback port, for the write-back tests.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Runs `git` in `dir` with a fixed identity; panics with git's stderr on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Author")
        .env("GIT_COMMITTER_EMAIL", "author@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap_or_else(|err| panic!("cannot run git (install the `git` package): {err}"));
    assert!(
        output.status.success(),
        "git {args:?} failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A bare remote seeded from a work clone, both in one temporary directory.
pub struct Remote {
    /// Holds everything; removed on drop.
    pub dir: tempfile::TempDir,
    /// The bare repository (`<dir>/remote.git`).
    pub bare: PathBuf,
    /// A non-bare clone used to seed and inspect (`<dir>/work`).
    pub work: PathBuf,
}

impl Remote {
    /// A bare remote whose `main` holds `files` (path, text) in one initial commit.
    pub fn with_files(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("tempdir: {err}"));
        let bare = dir.path().join("remote.git");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap_or_else(|err| panic!("mkdir: {err}"));
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", "remote.git"],
        );
        git(&work, &["init", "-q", "-b", "main"]);
        for (path, text) in files {
            let target = work.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).unwrap_or_else(|err| panic!("mkdir: {err}"));
            }
            std::fs::write(&target, text).unwrap_or_else(|err| panic!("write: {err}"));
        }
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", "initial"]);
        git(&work, &["remote", "add", "origin", "../remote.git"]);
        git(&work, &["push", "-q", "origin", "main"]);
        Self { dir, bare, work }
    }

    /// `git <args>` in the bare remote.
    pub fn git_bare(&self, args: &[&str]) -> String {
        git(&self.bare, args)
    }

    /// The sha `main` (or another branch) points at in the remote.
    pub fn tip(&self, branch: &str) -> String {
        self.git_bare(&["rev-parse", &format!("refs/heads/{branch}")])
    }

    /// The text of `path` at the remote's `branch`.
    pub fn show(&self, branch: &str, path: &str) -> String {
        self.git_bare(&["show", &format!("{branch}:{path}")])
    }

    /// Number of commits on `branch`.
    pub fn count(&self, branch: &str) -> usize {
        self.git_bare(&["rev-list", "--count", branch])
            .parse()
            .unwrap_or_else(|err| panic!("rev-list count: {err}"))
    }

    /// Installs an executable hook script in the bare remote.
    pub fn hook(&self, name: &str, script: &str) {
        let path = self.bare.join("hooks").join(name);
        std::fs::write(&path, script).unwrap_or_else(|err| panic!("write hook: {err}"));
        let status = Command::new("chmod")
            .arg("+x")
            .arg(&path)
            .status()
            .unwrap_or_else(|err| panic!("chmod: {err}"));
        assert!(status.success());
    }
}

/// `git-daemon` itself, not the `git daemon` wrapper: killing the wrapper would leave the real
/// daemon running after the test.
pub fn daemon_command() -> Command {
    let output = Command::new("git")
        .arg("--exec-path")
        .output()
        .unwrap_or_else(|err| panic!("cannot run git (package `git`): {err}"));
    let exec_path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    Command::new(Path::new(&exec_path).join("git-daemon"))
}

/// A `git daemon` serving a directory with push enabled; killed on drop.
pub struct GitDaemon {
    child: Child,
    /// `git://127.0.0.1:<port>/`
    pub base_url: String,
}

impl GitDaemon {
    /// Serves every repository under `base` (`git://127.0.0.1:<port>/<name>`).
    pub fn start(base: &Path) -> Self {
        let port = free_port();
        let child = daemon_command()
            .args([
                "--reuseaddr",
                "--enable=receive-pack",
                "--export-all",
                "--informative-errors",
            ])
            .arg(format!("--base-path={}", base.display()))
            .arg(format!("--port={port}"))
            .arg("--listen=127.0.0.1")
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start `git daemon` (package `git`): {err}"));
        let daemon = Self {
            child,
            base_url: format!("git://127.0.0.1:{port}"),
        };
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return daemon;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("git daemon did not listen on 127.0.0.1:{port} within 5 s");
    }

    /// The URL of a repository under the served directory.
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base_url)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener =
        TcpListener::bind("127.0.0.1:0").unwrap_or_else(|err| panic!("bind loopback: {err}"));
    listener
        .local_addr()
        .unwrap_or_else(|err| panic!("local addr: {err}"))
        .port()
}
