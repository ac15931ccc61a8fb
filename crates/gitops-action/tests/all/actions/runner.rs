//! A simulated GitHub Actions runner for the composite actions of this repository: it reads an
//! `action.yml`, evaluates the `${{ inputs.* }}` / `${{ steps.*.outputs.* }}` expressions of each
//! step's `env:` the way the runner does, runs each `run:` with `bash -eo pipefail` and the runner's
//! variables (`GITHUB_OUTPUT` per step, `GITHUB_PATH`, `GITHUB_STEP_SUMMARY`, `GITHUB_ACTION_PATH`,
//! `RUNNER_TEMP`, `RUNNER_TOOL_CACHE`), and a tiny loopback HTTP server stands in for GitHub
//! Releases, serving an archive of the locally built `gitops`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The repository root (where the root `action.yml` lives).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The `gitops` binary built for this test run.
pub fn gitops_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gitops"))
}

/// Folders holding an `action.yml`: the root setup action (`""`) and every stage.
pub const ACTION_FOLDERS: &[&str] = &[
    "",
    "plan",
    "tag",
    "push",
    "promote",
    "deploy",
    "retention",
    "gate",
    "verify",
    "rollback",
    "metrics",
];

/// An `action.yml` (the fields the tests check).
#[derive(Debug, Deserialize)]
pub struct ActionYml {
    /// Display name.
    pub name: String,
    /// Description (states the permissions).
    pub description: String,
    /// Marketplace branding.
    pub branding: Option<Branding>,
    /// Inputs by name.
    #[serde(default)]
    pub inputs: BTreeMap<String, Input>,
    /// Outputs by name.
    #[serde(default)]
    pub outputs: BTreeMap<String, Output>,
    /// How it runs.
    pub runs: Runs,
}

/// Marketplace branding.
#[derive(Debug, Deserialize)]
pub struct Branding {
    /// Feather icon name.
    pub icon: Option<String>,
    /// Colour.
    pub color: Option<String>,
}

/// One input.
#[derive(Debug, Deserialize)]
pub struct Input {
    /// Description shown on the Marketplace.
    pub description: Option<String>,
    /// Default value.
    pub default: Option<String>,
}

/// One output.
#[derive(Debug, Deserialize)]
pub struct Output {
    /// Description shown on the Marketplace.
    pub description: Option<String>,
    /// Expression giving the value.
    pub value: Option<String>,
}

/// `runs:`.
#[derive(Debug, Deserialize)]
pub struct Runs {
    /// `composite`.
    pub using: String,
    /// Steps.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// A composite step.
#[derive(Debug, Deserialize)]
pub struct Step {
    /// Step id.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Shell.
    pub shell: Option<String>,
    /// `env:`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Script.
    pub run: Option<String>,
    /// `working-directory:`.
    #[serde(rename = "working-directory")]
    pub working_directory: Option<String>,
    /// `uses:` (none of ours use it).
    pub uses: Option<String>,
}

/// Reads and parses `<folder>/action.yml`.
pub fn load_action(folder: &str) -> ActionYml {
    let path = repo_root().join(folder).join("action.yml");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Every `${{ ... }}` expression in `text`, trimmed.
pub fn expressions(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\$\{\{\s*(.*?)\s*\}\}").expect("regex");
    re.captures_iter(text).map(|c| c[1].to_owned()).collect()
}

/// Parses a `GITHUB_OUTPUT` file (`name=value` and `name<<DELIM` ... `DELIM`); later lines win.
pub fn parse_output_file(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for next in lines.by_ref() {
                if next == delimiter {
                    break;
                }
                value.push(next);
            }
            out.insert(name.to_owned(), value.join("\n"));
        } else if let Some((name, value)) = line.split_once('=') {
            out.insert(name.to_owned(), value.to_owned());
        }
    }
    out
}

/// The `--long` flags of `gitops <command> --help`, each with whether it takes a value.
pub fn help_flags(command: &[&str]) -> BTreeMap<String, bool> {
    let out = Command::new(gitops_bin())
        .args(command)
        .arg("--help")
        .output()
        .expect("run gitops --help");
    assert!(
        out.status.success(),
        "gitops {command:?} --help failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let re = regex::Regex::new(r"^\s+(?:-[[:alnum:]], )?--([a-z0-9][a-z0-9-]*)([ =]\[?<)?")
        .expect("regex");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            re.captures(line)
                .map(|c| (c[1].to_owned(), c.get(2).is_some()))
        })
        .collect()
}

/// The `Usage:` line of `gitops <command> --help`.
pub fn usage_line(command: &[&str]) -> String {
    let out = Command::new(gitops_bin())
        .args(command)
        .arg("--help")
        .output()
        .expect("run gitops --help");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .unwrap_or_default()
        .to_owned()
}

/// A loopback HTTP/1.1 server that serves the files of one directory (GET only) until dropped.
pub struct FileServer {
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// Requests answered so far.
    pub requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Serves `root` on a free loopback port.
    pub fn start(root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (root, stop2, requests2) = (root.to_owned(), stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    requests2.fetch_add(1, Ordering::SeqCst);
                    let _ = serve(stream, &root);
                }
            }
        });
        Self {
            base_url: format!("http://{addr}"),
            requests,
            stop,
            addr,
            thread: Some(thread),
        }
    }
}

fn serve(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Headers: read up to the blank line (bounded).
    for _ in 0..100 {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let relative = path.trim_start_matches('/');
    let file = root.join(relative);
    let body = if relative.split('/').any(|part| part == "..") {
        None
    } else {
        std::fs::read(&file).ok()
    };
    match body {
        Some(body) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body)?;
        }
        None => {
            stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found")?;
        }
    }
    stream.flush()
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that the thread ends.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The release target name the setup script picks on this machine.
pub fn host_target() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64-unknown-linux-musl",
        _ => "x86_64-unknown-linux-musl",
    }
}

/// `RUNNER_ARCH` of this machine.
pub fn runner_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "ARM64",
        _ => "X64",
    }
}

/// The version the actions install by default (the workspace version).
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// File name of the release archive for this machine.
pub fn archive_name() -> String {
    format!("gitops-v{}-{}.tar.gz", version(), host_target())
}

/// Hex sha256 of a file.
pub fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read file to hash");
    hex::encode(Sha256::digest(&bytes))
}

/// A release directory (`<dir>/v<version>/<archive>` + `.sha256`) holding the locally built
/// binary, made once per test process under the cargo target tmpdir; returns the directory.
pub fn pristine_release() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Releases left by earlier test processes that have exited (their pid is gone).
        for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("actions-release-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let root = tmp.join(format!("actions-release-{}", std::process::id()));
        let staging = root.join("staging");
        let versioned = root.join("release").join(format!("v{}", version()));
        std::fs::create_dir_all(&staging).expect("mkdir staging");
        std::fs::create_dir_all(&versioned).expect("mkdir release");
        std::fs::copy(gitops_bin(), staging.join("gitops")).expect("copy gitops");
        let archive = versioned.join(archive_name());
        let status = Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(&staging)
            .arg("gitops")
            .status()
            .expect("tar is needed to pack the release archive");
        assert!(status.success(), "tar failed");
        let _ = std::fs::remove_dir_all(&staging);
        let sums = format!("{}  {}\n", sha256_hex(&archive), archive_name());
        std::fs::write(versioned.join(format!("{}.sha256", archive_name())), sums)
            .expect("write sha256");
        root.join("release")
    })
}

/// Copies the pristine release into `dest` (so a test may tamper with its copy).
pub fn copy_release(dest: &Path) {
    let source = pristine_release().join(format!("v{}", version()));
    let target = dest.join(format!("v{}", version()));
    std::fs::create_dir_all(&target).expect("mkdir release copy");
    for entry in std::fs::read_dir(&source).expect("read release") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), target.join(entry.file_name())).expect("copy release file");
    }
}

/// Result of one simulated action run.
#[derive(Debug)]
pub struct ActionRun {
    /// The action's outputs (evaluated from its `outputs:` expressions).
    pub outputs: BTreeMap<String, String>,
    /// Outputs of each step by id.
    pub step_outputs: BTreeMap<String, BTreeMap<String, String>>,
    /// Exit code of the first failing step, else 0.
    pub code: i32,
    /// Standard output of every step.
    pub stdout: String,
    /// Standard error of every step.
    pub stderr: String,
    /// The step summary written.
    pub summary: String,
}

/// A simulated runner: one job's worth of runner directories.
pub struct Runner {
    /// Root of this runner's directories (deleted on drop).
    pub dir: tempfile::TempDir,
    /// Base URL the setup script downloads from.
    pub download_base: String,
    /// More runner variables (e.g. `GITHUB_EVENT_NAME`, `GITHUB_EVENT_PATH`).
    pub env: Vec<(String, String)>,
}

impl Runner {
    /// A fresh runner (empty tool cache) downloading from `download_base`.
    pub fn new(download_base: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["temp", "tool-cache", "workspace", "files"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir runner dir");
        }
        Self {
            dir,
            download_base: download_base.to_owned(),
            env: Vec::new(),
        }
    }

    /// `RUNNER_TOOL_CACHE`.
    pub fn tool_cache(&self) -> PathBuf {
        self.dir.path().join("tool-cache")
    }

    /// `GITHUB_WORKSPACE`.
    pub fn workspace(&self) -> PathBuf {
        self.dir.path().join("workspace")
    }

    /// `GITHUB_PATH` file.
    pub fn path_file(&self) -> PathBuf {
        self.dir.path().join("files/path")
    }

    /// Runs the composite action in `folder` with `inputs` (unset inputs take their defaults).
    pub fn run_action(&self, folder: &str, inputs: &[(&str, &str)]) -> ActionRun {
        let action = load_action(folder);
        assert_eq!(
            action.runs.using, "composite",
            "{folder}: only composite actions are simulated"
        );
        let given: BTreeMap<&str, &str> = inputs.iter().copied().collect();
        for name in given.keys() {
            assert!(
                action.inputs.contains_key(*name),
                "{folder}: test passes unknown input {name}"
            );
        }
        let input_value = |name: &str| -> String {
            given.get(name).map(|v| (*v).to_owned()).unwrap_or_else(|| {
                action
                    .inputs
                    .get(name)
                    .and_then(|i| i.default.clone())
                    .unwrap_or_default()
            })
        };
        let files = self.dir.path().join("files");
        let summary_file = files.join("summary.md");
        let mut step_outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let (mut stdout, mut stderr, mut code) = (String::new(), String::new(), 0);
        for (index, step) in action.runs.steps.iter().enumerate() {
            assert!(
                step.uses.is_none(),
                "{folder}: nested `uses:` is not simulated"
            );
            let evaluate = |text: &str| -> String {
                let mut result = text.to_owned();
                for expression in expressions(text) {
                    let value = if let Some(name) = expression.strip_prefix("inputs.") {
                        assert!(
                            action.inputs.contains_key(name),
                            "{folder}: unknown input {name}"
                        );
                        input_value(name)
                    } else if let Some(rest) = expression.strip_prefix("steps.") {
                        let (id, output) = rest
                            .split_once(".outputs.")
                            .expect("steps.<id>.outputs.<name>");
                        step_outputs
                            .get(id)
                            .and_then(|o| o.get(output))
                            .cloned()
                            .unwrap_or_default()
                    } else if expression == "github.action_repository" {
                        String::new()
                    } else {
                        panic!("{folder}: expression `{expression}` is not simulated")
                    };
                    result = result.replace(&format!("${{{{ {expression} }}}}"), &value);
                }
                result
            };
            let output_file = files.join(format!("output-{index}"));
            std::fs::write(&output_file, "").expect("create GITHUB_OUTPUT");
            let script = files.join(format!("step-{index}.sh"));
            let run = step.run.as_deref().expect("composite step with run:");
            assert!(
                expressions(run).is_empty(),
                "{folder}: `${{{{ }}}}` inside run: is script injection"
            );
            std::fs::write(&script, run).expect("write step script");
            assert_eq!(
                step.shell.as_deref(),
                Some("bash"),
                "{folder}: every step uses bash"
            );
            let cwd = match &step.working_directory {
                Some(wd) => self.workspace().join(evaluate(wd)),
                None => self.workspace(),
            };
            // PATH as the runner builds it: GITHUB_PATH entries first.
            let extra_path = std::fs::read_to_string(self.path_file()).unwrap_or_default();
            let mut path: Vec<String> = extra_path.lines().rev().map(str::to_owned).collect();
            path.push(std::env::var("PATH").unwrap_or_default());
            let mut command = Command::new("bash");
            command
                .args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script)
                .current_dir(&cwd)
                .env_clear()
                .env("PATH", path.join(":"))
                .env("HOME", self.dir.path())
                .env("GITHUB_ACTIONS", "true")
                .env("CI", "true")
                .env("RUNNER_OS", "Linux")
                .env("RUNNER_ARCH", runner_arch())
                .env("RUNNER_TEMP", self.dir.path().join("temp"))
                .env("RUNNER_TOOL_CACHE", self.tool_cache())
                .env("GITHUB_WORKSPACE", self.workspace())
                .env("GITHUB_ACTION_PATH", repo_root().join(folder))
                .env("GITHUB_OUTPUT", &output_file)
                .env("GITHUB_PATH", self.path_file())
                .env("GITHUB_STEP_SUMMARY", &summary_file)
                .env("GITHUB_ENV", files.join("env"))
                .env("GITOPS_DOWNLOAD_BASE_URL", &self.download_base);
            for (key, value) in &self.env {
                command.env(key, value);
            }
            for (key, value) in &step.env {
                command.env(key, evaluate(value));
            }
            let out = command.output().expect("run bash");
            stdout.push_str(&String::from_utf8_lossy(&out.stdout));
            stderr.push_str(&String::from_utf8_lossy(&out.stderr));
            let written =
                parse_output_file(&std::fs::read_to_string(&output_file).unwrap_or_default());
            if let Some(id) = &step.id {
                step_outputs.insert(id.clone(), written);
            }
            if !out.status.success() {
                code = out.status.code().unwrap_or(-1);
                break;
            }
        }
        let mut outputs = BTreeMap::new();
        for (name, output) in &action.outputs {
            let expression = expressions(output.value.as_deref().unwrap_or_default());
            let [expression] = expression.as_slice() else {
                panic!("{folder}: output {name} must be one expression")
            };
            let rest = expression
                .strip_prefix("steps.")
                .expect("output from a step");
            let (id, step_output) = rest
                .split_once(".outputs.")
                .expect("steps.<id>.outputs.<name>");
            if let Some(value) = step_outputs.get(id).and_then(|o| o.get(step_output)) {
                outputs.insert(name.clone(), value.clone());
            }
        }
        let summary = std::fs::read_to_string(&summary_file).unwrap_or_default();
        ActionRun {
            outputs,
            step_outputs,
            code,
            stdout,
            stderr,
            summary,
        }
    }
}
