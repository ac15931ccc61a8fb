//! The GitHub Actions of this repository (`action.yml` at the root and in each stage folder):
//! metadata complete, every input reaching a real `gitops` flag, every output written by the
//! command, the composite scripts run in a simulated runner, and the setup script's checks.

mod runner;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use runner::{
    ACTION_FOLDERS, FileServer, Runner, copy_release, expressions, help_flags, load_action,
    repo_root, usage_line,
};

/// The `gitops` command line(s) each stage action runs.
const STAGE_COMMANDS: &[(&str, &[&[&str]])] = &[
    ("plan", &[&["plan"]]),
    ("tag", &[&["tag"]]),
    ("push", &[&["push"]]),
    ("promote", &[&["promote"]]),
    ("deploy", &[&["deploy"]]),
    ("retention", &[&["retention", "apply"]]),
    ("gate", &[&["gate"]]),
    ("verify", &[&["verify"]]),
    ("rollback", &[&["rollback"]]),
    ("metrics", &[&["metrics"]]),
];

/// Inputs every stage action has that configure the step rather than a flag.
const STEP_INPUTS: &[&str] = &["working-directory", "gitops-version", "from-source"];

/// Rust sources under `dir`, recursively.
fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources_text(paths: &[PathBuf]) -> String {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            rust_sources(path, &mut files);
        } else if path.is_file() {
            files.push(path.clone());
        }
    }
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_action_yml_is_complete_and_passes_inputs_only_through_env() {
    for folder in ACTION_FOLDERS {
        let action = load_action(folder);
        let at = if folder.is_empty() {
            "action.yml".to_owned()
        } else {
            format!("{folder}/action.yml")
        };
        assert!(!action.name.trim().is_empty(), "{at}: name");
        assert!(
            action.description.contains("Permissions:"),
            "{at}: the description states the permissions"
        );
        let branding = action
            .branding
            .as_ref()
            .unwrap_or_else(|| panic!("{at}: branding"));
        assert!(
            branding.icon.is_some() && branding.color.is_some(),
            "{at}: branding icon and color"
        );
        assert_eq!(action.runs.using, "composite", "{at}: composite");
        assert!(!action.inputs.is_empty(), "{at}: inputs");
        for (name, input) in &action.inputs {
            assert!(
                input
                    .description
                    .as_deref()
                    .is_some_and(|d| !d.trim().is_empty()),
                "{at}: input {name} described"
            );
            assert!(input.default.is_some(), "{at}: input {name} has a default");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{at}: input {name} is kebab-case"
            );
        }
        assert!(!action.outputs.is_empty(), "{at}: outputs");
        for (name, output) in &action.outputs {
            assert!(
                output
                    .description
                    .as_deref()
                    .is_some_and(|d| !d.trim().is_empty()),
                "{at}: output {name} described"
            );
            let value = output.value.as_deref().unwrap_or_default();
            assert!(
                value.starts_with("${{ steps.") && value.contains(".outputs."),
                "{at}: output {name} is forwarded from a step, got {value:?}"
            );
        }
        for step in &action.runs.steps {
            assert!(
                step.name.as_deref().is_some_and(|n| !n.is_empty()),
                "{at}: every step is named"
            );
        }
        // Inputs reach the scripts only through env:, each exactly once, never inside run:.
        let mut uses: BTreeMap<String, usize> = BTreeMap::new();
        for step in &action.runs.steps {
            let run = step.run.as_deref().unwrap_or_default();
            assert!(
                expressions(run).is_empty(),
                "{at}: `${{{{ }}}}` inside run: ({run})"
            );
            for value in step.env.values() {
                for expression in expressions(value) {
                    if let Some(input) = expression.strip_prefix("inputs.") {
                        assert!(
                            action.inputs.contains_key(input),
                            "{at}: env uses undeclared input {input}"
                        );
                        *uses.entry(input.to_owned()).or_default() += 1;
                    }
                }
            }
            if let Some(wd) = &step.working_directory {
                for expression in expressions(wd) {
                    if let Some(input) = expression.strip_prefix("inputs.") {
                        *uses.entry(input.to_owned()).or_default() += 1;
                    }
                }
            }
        }
        for name in action.inputs.keys() {
            assert!(
                uses.get(name).copied().unwrap_or(0) >= 1,
                "{at}: input {name} is used"
            );
        }
    }
}

#[test]
fn every_stage_input_reaches_a_real_gitops_flag() {
    let sources = sources_text(&[repo_root().join("crates")]);
    for (folder, commands) in STAGE_COMMANDS {
        let action = load_action(folder);
        let run_step = action
            .runs
            .steps
            .iter()
            .find(|s| s.id.as_deref() == Some("run"))
            .expect("a step with id run");
        let run = run_step.run.as_deref().unwrap_or_default();
        let command_line = commands[0].join(" ");
        assert!(
            run.contains(&format!("run-action.sh\" {command_line}")),
            "{folder}: runs gitops {command_line}"
        );
        for command in *commands {
            let flags = help_flags(command);
            for (variable, value) in &run_step.env {
                let [expression] = expressions(value)
                    .try_into()
                    .unwrap_or_else(|_| panic!("{folder}: {variable}"));
                let Some(input) = expression.strip_prefix("inputs.") else {
                    continue;
                };
                if let Some(flag) = variable.strip_prefix("INPUT_") {
                    let flag = flag.to_ascii_lowercase().replace('_', "-");
                    assert_eq!(
                        flag,
                        input,
                        "{folder}: input {input} must be passed as INPUT_{}",
                        input.to_uppercase().replace('-', "_")
                    );
                    assert!(
                        flags.contains_key(&flag),
                        "{folder}: input {input} has no flag --{flag} in `gitops {}`; flags are {:?}",
                        command.join(" "),
                        flags.keys().collect::<Vec<_>>()
                    );
                } else if variable.starts_with("ARG_") {
                    let usage = usage_line(command);
                    assert!(
                        usage.replace("[OPTIONS]", "").contains('<'),
                        "{folder}: input {input} is positional but `gitops {}` takes no argument ({usage})",
                        command.join(" ")
                    );
                } else {
                    // Secrets and switches travel in the environment: gitops (or the step) must read them.
                    assert!(
                        run.contains(variable.as_str())
                            || sources.contains(&format!("\"{variable}\"")),
                        "{folder}: input {input} is passed as {variable}, which neither the step nor gitops reads"
                    );
                }
            }
        }
        for input in action.inputs.keys() {
            let passed = run_step
                .env
                .values()
                .any(|v| v == &format!("${{{{ inputs.{input} }}}}"));
            assert!(
                passed || STEP_INPUTS.contains(&input.as_str()),
                "{folder}: input {input} reaches no flag"
            );
        }
    }
}

const SHA: &str = "860c1904a1ce19322e91ac35af1ab07466440c37";

/// Inputs that make a stage action succeed here without any backend (the ones run for real).
fn runnable_inputs(folder: &str) -> Option<Vec<(&'static str, &'static str)>> {
    match folder {
        "tag" => Some(vec![
            ("env", "development"),
            ("sha", SHA),
            ("time", "2025-12-03T12:00:00Z"),
            ("image", "registry.example.com/app/backend"),
        ]),
        "plan" => Some(vec![
            ("event", "push"),
            ("branch", "dev"),
            ("sha", SHA),
            ("time", "2025-12-03T12:00:00Z"),
        ]),
        _ => None,
    }
}

/// Source files where a stage's outputs are written (the command, and what it reuses).
fn output_sources(folder: &str) -> Vec<PathBuf> {
    let commands = repo_root().join("crates/gitops-action/src/commands");
    let mut paths = vec![commands.join(format!("{folder}.rs")), commands.join(folder)];
    match folder {
        "rollback" => paths.push(commands.join("deploy.rs")),
        "metrics" => paths.push(repo_root().join("crates/gitops-core/src/metrics")),
        _ => {}
    }
    paths
}

#[test]
fn every_declared_output_is_written_by_the_command() {
    let release = tempfile::tempdir().expect("tempdir");
    copy_release(release.path());
    let server = FileServer::start(release.path());
    for (folder, _) in STAGE_COMMANDS {
        let action = load_action(folder);
        if let Some(inputs) = runnable_inputs(folder) {
            // Run it: every declared output must come out of the simulated runner.
            let runner = Runner::new(&server.base_url);
            let run = runner.run_action(folder, &inputs);
            assert_eq!(run.code, 0, "{folder}: {}", run.stderr);
            for name in action.outputs.keys() {
                assert!(
                    run.outputs.contains_key(name),
                    "{folder}: output {name} was not written; got {:?}",
                    run.outputs.keys()
                );
            }
        } else {
            // Otherwise the command's source must write it: as an Actions output or a JSON field.
            let source = sources_text(&output_sources(folder));
            for name in action.outputs.keys().filter(|n| *n != "json") {
                let snake = name.replace('-', "_");
                let field = regex::Regex::new(&format!(r"\b{snake}\s*:")).expect("regex");
                assert!(
                    source.contains(&format!("\"{name}\""))
                        || source.contains(&format!("\"{snake}\""))
                        || field.is_match(&source),
                    "{folder}: output {name} is written nowhere in the command's source"
                );
            }
        }
    }
}

/// A simulated runner downloading from a local server holding an untouched release.
fn runner_with_release() -> (FileServer, Runner, tempfile::TempDir) {
    let release = tempfile::tempdir().expect("tempdir");
    copy_release(release.path());
    let server = FileServer::start(release.path());
    let runner = Runner::new(&server.base_url);
    (server, runner, release)
}

#[test]
fn setup_action_installs_from_the_release_then_hits_the_tool_cache() {
    let (server, runner, _release) = runner_with_release();
    let cold = runner.run_action("", &[]);
    assert_eq!(cold.code, 0, "cold setup failed: {}", cold.stderr);
    assert_eq!(
        cold.outputs.get("cache-hit").map(String::as_str),
        Some("false")
    );
    assert_eq!(
        cold.outputs.get("version").map(String::as_str),
        Some(runner::version())
    );
    let path = PathBuf::from(&cold.outputs["path"]);
    assert!(
        path.starts_with(runner.tool_cache()),
        "installed into the tool cache: {}",
        path.display()
    );
    let version = std::process::Command::new(&path)
        .arg("--version")
        .output()
        .expect("installed gitops runs");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("gitops {}", runner::version())
    );
    let on_path = std::fs::read_to_string(runner.path_file()).unwrap_or_default();
    assert!(
        on_path
            .lines()
            .any(|l| Path::new(l) == path.parent().expect("bin dir")),
        "GITHUB_PATH: {on_path}"
    );
    let downloads = server.requests.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(downloads, 2, "archive and its .sha256");

    let warm = runner.run_action("", &[]);
    assert_eq!(warm.code, 0, "warm setup failed: {}", warm.stderr);
    assert_eq!(
        warm.outputs.get("cache-hit").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        warm.step_outputs["setup"]["path"], cold.outputs["path"],
        "same binary from the cache"
    );
    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::SeqCst),
        downloads,
        "a warm cache downloads nothing"
    );
}

#[test]
fn setup_refuses_a_tampered_archive_and_installs_nothing() {
    let (_server, runner, release) = runner_with_release();
    let archive = release
        .path()
        .join(format!("v{}", runner::version()))
        .join(runner::archive_name());
    let mut bytes = std::fs::read(&archive).expect("read archive");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&archive, bytes).expect("tamper");
    let run = runner.run_action("", &[]);
    assert_eq!(
        run.code, 1,
        "a checksum mismatch fails the step: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("checksum mismatch"),
        "says why: {}",
        run.stderr
    );
    assert!(!run.outputs.contains_key("path"), "no path output");
    assert!(
        std::fs::read_to_string(runner.path_file())
            .unwrap_or_default()
            .is_empty(),
        "nothing added to PATH"
    );
    assert!(
        !runner.tool_cache().join("gitops").exists(),
        "nothing in the tool cache"
    );
    let leftovers: Vec<_> = std::fs::read_dir(runner.dir.path().join("temp"))
        .expect("temp")
        .flatten()
        .collect();
    assert!(leftovers.is_empty(), "downloads cleaned up: {leftovers:?}");
}

#[test]
fn setup_fails_cleanly_when_the_release_is_missing() {
    let empty = tempfile::tempdir().expect("tempdir");
    let server = FileServer::start(empty.path());
    let runner = Runner::new(&server.base_url);
    let run = runner.run_action("", &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("cannot download"), "{}", run.stderr);
    assert!(!runner.tool_cache().join("gitops").exists());
}

#[test]
fn setup_rejects_a_version_that_is_not_a_release() {
    let (_server, runner, _release) = runner_with_release();
    let run = runner.run_action("", &[("version", "../../etc")]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("not a release version"),
        "{}",
        run.stderr
    );
}

#[test]
fn tag_action_runs_in_a_simulated_runner_and_forwards_outputs() {
    let (_server, runner, _release) = runner_with_release();
    let run = runner.run_action(
        "tag",
        &[
            ("env", "development"),
            ("sha", "860c1904a1ce19322e91ac35af1ab07466440c37"),
            ("time", "2025-12-03T12:00:00Z"),
            (
                "image",
                "registry.example.com/app/backend\nregistry.example.com/app/frontend",
            ),
        ],
    );
    assert_eq!(run.code, 0, "tag action failed: {}", run.stderr);
    assert!(
        run.stdout.contains("\"version\""),
        "the JSON result is shown in the log: {}",
        run.stdout
    );
    assert_eq!(
        run.outputs.get("tags").map(String::as_str),
        Some(
            "registry.example.com/app/backend:dev-860c190-20251203-120000\n\
             registry.example.com/app/backend:dev-latest\n\
             registry.example.com/app/frontend:dev-860c190-20251203-120000\n\
             registry.example.com/app/frontend:dev-latest"
        ),
        "outputs: {:?}",
        run.outputs
    );
    assert_eq!(
        run.outputs.get("version").map(String::as_str),
        Some("dev-860c190-20251203-120000")
    );
    assert_eq!(
        run.outputs.get("environment").map(String::as_str),
        Some("development")
    );
    let json = run.outputs.get("json").expect("json output");
    assert!(!json.contains('\n'), "json output on one line");
    let parsed: serde_json::Value = serde_json::from_str(json).expect("json output parses");
    assert_eq!(parsed["version"], "dev-860c190-20251203-120000");
    let labels = run.outputs.get("labels").expect("labels");
    assert!(
        labels
            .lines()
            .any(|l| l
                == "org.opencontainers.image.revision=860c1904a1ce19322e91ac35af1ab07466440c37"),
        "labels as key=value lines: {labels}"
    );
}

#[test]
fn plan_action_runs_in_a_simulated_runner_and_forwards_outputs() {
    let (_server, runner, _release) = runner_with_release();
    let run = runner.run_action(
        "plan",
        &[
            ("event", "push"),
            ("branch", "dev"),
            ("sha", "860c1904a1ce19322e91ac35af1ab07466440c37"),
        ],
    );
    assert_eq!(run.code, 0, "plan action failed: {}", run.stderr);
    assert_eq!(
        run.outputs.get("environment").map(String::as_str),
        Some("development"),
        "{:?}",
        run.outputs
    );
    let plan: serde_json::Value =
        serde_json::from_str(run.outputs.get("json").expect("json")).expect("plan JSON");
    assert!(plan.is_object(), "{plan}");
    // The reusable workflow's matrix: `fromJSON(outputs.json).images`, one object per image.
    let images = plan["images"]
        .as_array()
        .expect("images array in the plan JSON");
    assert!(!images.is_empty(), "images for the matrix: {plan}");
    for image in images {
        assert!(
            image["name"].is_string() && image["repository"].is_string(),
            "matrix entry: {image}"
        );
    }
    assert_eq!(run.outputs.get("build").map(String::as_str), Some("true"));
    assert_eq!(
        run.outputs.get("approval").map(String::as_str),
        Some("false")
    );
    let references = run.outputs.get("images").expect("images output");
    assert_eq!(
        references.lines().count(),
        2 * images.len(),
        "two tags per image: {references}"
    );
}

#[test]
fn input_values_are_arguments_never_shell_code() {
    let (_server, runner, _release) = runner_with_release();
    let marker = runner.dir.path().join("pwned");
    let hostile = format!(
        "registry.example.com/app/backend\n$(touch {})\n`touch {}`",
        marker.display(),
        marker.display()
    );
    let run = runner.run_action(
        "tag",
        &[
            ("env", "development"),
            ("sha", "860c1904a1ce19322e91ac35af1ab07466440c37"),
            ("image", &hostile),
        ],
    );
    assert!(!marker.exists(), "an input was executed by a shell");
    assert_ne!(
        run.code, 0,
        "an invalid image reference is refused: {:?}",
        run.outputs
    );
}

#[test]
fn an_input_without_a_matching_flag_is_an_error_not_ignored() {
    let (_server, runner, _release) = runner_with_release();
    let setup = runner.run_action("", &[]);
    assert_eq!(setup.code, 0, "{}", setup.stderr);
    let out = std::process::Command::new("bash")
        .arg(repo_root().join("scripts/run-action.sh"))
        .arg("tag")
        .env("GITOPS_BIN", &setup.outputs["path"])
        .env("INPUT_NO_SUCH_FLAG", "x")
        .env("RUNNER_TEMP", runner.dir.path().join("temp"))
        .env_remove("GITHUB_OUTPUT")
        .output()
        .expect("run run-action.sh");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no-such-flag") && stderr.contains("no matching flag"),
        "{stderr}"
    );
}

#[test]
fn docs_list_every_action_input_and_output() {
    let docs =
        std::fs::read_to_string(repo_root().join("docs/actions.md")).expect("docs/actions.md");
    for folder in ACTION_FOLDERS {
        let action = load_action(folder);
        let reference = if folder.is_empty() {
            "gitops-action/gitops-action@v1".to_owned()
        } else {
            format!("gitops-action/gitops-action/{folder}@v1")
        };
        let start = docs
            .find(&format!("`uses: {reference}`"))
            .unwrap_or_else(|| panic!("docs/actions.md lacks {reference}"));
        let section = &docs[start..];
        let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
        for name in action.inputs.keys().chain(action.outputs.keys()) {
            assert!(
                section.contains(&format!("| `{name}` |")),
                "docs/actions.md: {reference} lacks `{name}`"
            );
        }
        assert!(
            section.contains("**Permissions:**"),
            "docs/actions.md: {reference} states permissions"
        );
        assert!(
            section.contains("```yaml"),
            "docs/actions.md: {reference} has an example"
        );
    }
}

/// An lcov report with `hit` of 4 lines covered.
fn lcov(hit: usize) -> String {
    let mut text = String::from("TN:\nSF:src/lib.rs\n");
    for line in 1..=4 {
        text.push_str(&format!("DA:{line},{}\n", usize::from(line <= hit)));
    }
    text.push_str(&format!("LF:4\nLH:{hit}\nend_of_record\n"));
    text
}

#[test]
fn gate_action_passes_and_fails_closed_with_its_outputs() {
    let (_server, runner, _release) = runner_with_release();
    std::fs::write(runner.workspace().join("good.info"), lcov(3)).expect("write lcov");
    std::fs::write(runner.workspace().join("poor.info"), lcov(1)).expect("write lcov");

    let pass = runner.run_action("gate", &[("coverage", "good.info")]);
    assert_eq!(pass.code, 0, "{}", pass.stderr);
    assert_eq!(
        pass.outputs.get("passed").map(String::as_str),
        Some("true"),
        "{:?}",
        pass.outputs
    );
    let report: serde_json::Value =
        serde_json::from_str(&pass.outputs["report"]).expect("report JSON");
    assert_eq!(report["gates"][0]["gate"], "coverage");
    assert!(
        pass.summary.contains("coverage"),
        "step summary written: {}",
        pass.summary
    );

    let fail = runner.run_action("gate", &[("coverage", "poor.info\ngood.info")]);
    assert_eq!(fail.code, 1, "a failed gate stops the job: {}", fail.stderr);
    assert_eq!(
        fail.outputs.get("passed").map(String::as_str),
        Some("false"),
        "{:?}",
        fail.outputs
    );
    let report: serde_json::Value =
        serde_json::from_str(&fail.outputs["json"]).expect("json output");
    assert_eq!(
        report["gates"].as_array().map(Vec::len),
        Some(2),
        "one gate row per file: {report}"
    );

    let missing = runner.run_action("gate", &[("coverage", "absent.info")]);
    assert_eq!(
        missing.code, 1,
        "a missing report fails closed: {}",
        missing.stderr
    );
    assert_eq!(
        missing.outputs.get("passed").map(String::as_str),
        Some("false")
    );
}

#[test]
fn verify_action_reports_a_healthy_endpoint() {
    let (_server, runner, _release) = runner_with_release();
    let site = tempfile::tempdir().expect("tempdir");
    std::fs::write(site.path().join("healthz"), "ok: version 1").expect("write page");
    let app = FileServer::start(site.path());
    let url = format!("{}/healthz", app.base_url);
    let run = runner.run_action(
        "verify",
        &[
            ("url", &url),
            ("expect-body", "version [0-9]+"),
            ("timeout", "10s"),
            ("interval", "1s"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.outputs.get("healthy").map(String::as_str),
        Some("true"),
        "{:?}",
        run.outputs
    );
    assert_eq!(
        run.outputs.get("rollback").map(String::as_str),
        Some("false")
    );
}

#[test]
fn metrics_action_reads_an_empty_ledger() {
    let (_server, runner, _release) = runner_with_release();
    let repo = runner.workspace().join("gitops");
    std::fs::create_dir_all(&repo).expect("mkdir");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(&repo)
            .output()
            .expect("git is needed (Debian package git)");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["commit", "-q", "--allow-empty", "-m", "init"]);
    let run = runner.run_action(
        "metrics",
        &[
            ("gitops-repo", "gitops"),
            ("branch", "main"),
            ("since", "30d"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let window: serde_json::Value =
        serde_json::from_str(run.outputs.get("window").expect("window")).expect("window JSON");
    assert_eq!(window["days"], 30.0, "{window}");
    // No deploys: an empty array, which as an output is the empty string (no lines).
    assert_eq!(
        run.outputs.get("environments").map(String::as_str),
        Some(""),
        "{:?}",
        run.outputs
    );
    let doc: serde_json::Value = serde_json::from_str(&run.outputs["json"]).expect("json output");
    assert_eq!(doc["environments"], serde_json::json!([]), "{doc}");
}

/// Runs git in `dir` with a fixed identity; panics with git's message on failure.
fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .output()
        .expect("git is needed (Debian package git)");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn deploy_and_rollback_actions_write_gitops_commits() {
    let (_server, runner, _release) = runner_with_release();
    // A GitOps remote (bare, reached by file:// URL) with a dev overlay.
    let seed = runner.dir.path().join("seed");
    let overlay = seed.join("infra/k8s/overlays/dev");
    std::fs::create_dir_all(&overlay).expect("mkdir overlay");
    std::fs::write(
        overlay.join("kustomization.yaml"),
        "# dev overlay\nresources: []\nimages:\n  - name: backend\n    newName: registry.example.com/acme/backend\n    newTag: dev-0000000-20251201-000000 # first\n",
    )
    .expect("write overlay");
    git_in(&seed, &["init", "-q"]);
    git_in(&seed, &["add", "."]);
    git_in(&seed, &["commit", "-q", "-m", "seed"]);
    let remote = runner.dir.path().join("remote.git");
    git_in(
        runner.dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            seed.to_str().expect("utf-8 path"),
            "remote.git",
        ],
    );
    let url = format!("file://{}", remote.display());
    std::fs::write(
        runner.workspace().join("gitops.yaml"),
        format!(
            "version: 1\nregistry: registry.example.com/acme\nimages:\n  - name: backend\nenvironments:\n  development:\n    branch: dev\n    tag_prefix: dev\n    overlay: infra/k8s/overlays/dev\n    replicas: 1\ngitops:\n  repo: {url}\n  branch: main\n"
        ),
    )
    .expect("write policy");

    let deploy = |tag: &str| {
        let image = format!("backend=registry.example.com/acme/backend:{tag}");
        runner.run_action(
            "deploy",
            &[
                ("env", "development"),
                ("image", &image),
                ("source-commit", SHA),
            ],
        )
    };
    let first = deploy("dev-860c190-20251203-120000");
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(
        first.outputs.get("deployed").map(String::as_str),
        Some("true"),
        "{:?}",
        first.outputs
    );
    let second = deploy("dev-9f1e2d3-20251204-090000");
    assert_eq!(second.code, 0, "{}", second.stderr);
    let commit = second.outputs.get("commit").expect("commit output").clone();
    assert_eq!(
        git_in(&remote, &["rev-parse", "main"]),
        commit,
        "the commit output is the remote's new tip"
    );
    let file = git_in(
        &remote,
        &["show", "main:infra/k8s/overlays/dev/kustomization.yaml"],
    );
    assert!(
        file.contains("newTag: dev-9f1e2d3-20251204-090000") && file.starts_with("# dev overlay"),
        "{file}"
    );

    let again = deploy("dev-9f1e2d3-20251204-090000");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        again.outputs.get("deployed").map(String::as_str),
        Some("false"),
        "idempotent: {:?}",
        again.outputs
    );

    let back = runner.run_action("rollback", &[("env", "development")]);
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(
        back.outputs.get("deployed").map(String::as_str),
        Some("true"),
        "{:?}",
        back.outputs
    );
    let file = git_in(
        &remote,
        &["show", "main:infra/k8s/overlays/dev/kustomization.yaml"],
    );
    assert!(
        file.contains("newTag: dev-860c190-20251203-120000"),
        "rolled back to the first deploy: {file}"
    );
    let message = git_in(&remote, &["log", "-1", "--format=%B", "main"]);
    assert!(message.contains("Gitops-Rollback-Of:"), "{message}");
}

#[test]
fn plan_action_matrix_keeps_only_images_whose_sources_changed() {
    let (_server, mut runner, _release) = runner_with_release();
    let work = runner.workspace();
    std::fs::write(
        work.join("gitops.yaml"),
        "version: 1\nregistry: registry.example.com/acme\nimages:\n  - name: api\n    paths: [services/api/**]\n    context: services/api\n  - name: web\n    paths: [services/web]\n    context: services/web\n  - name: docs\n    paths: ['**/*.md']\n  - name: shared\nenvironments:\n  development:\n    branch: dev\n    tag_prefix: dev\n    overlay: infra/k8s/overlays/dev\n    replicas: 1\n",
    )
    .expect("write policy");
    for dir in ["services/api/src", "services/web"] {
        std::fs::create_dir_all(work.join(dir)).expect("mkdir");
    }
    std::fs::write(work.join("services/api/src/main.rs"), "fn main() {}\n").expect("write");
    std::fs::write(work.join("services/web/index.html"), "<p>v1</p>\n").expect("write");
    git_in(&work, &["init", "-q", "-b", "dev"]);
    git_in(&work, &["add", "."]);
    git_in(&work, &["commit", "-q", "-m", "first"]);
    let before = git_in(&work, &["rev-parse", "HEAD"]);
    std::fs::write(
        work.join("services/api/src/main.rs"),
        "fn main() { println!(); }\n",
    )
    .expect("write");
    git_in(&work, &["commit", "-q", "-am", "api change"]);
    let after = git_in(&work, &["rev-parse", "HEAD"]);
    let event = runner.dir.path().join("files/event.json");
    std::fs::write(
        &event,
        serde_json::json!({"ref": "refs/heads/dev", "before": before, "after": after}).to_string(),
    )
    .expect("write event");
    runner.env = vec![
        ("GITHUB_EVENT_NAME".into(), "push".into()),
        ("GITHUB_EVENT_PATH".into(), event.display().to_string()),
    ];

    let inputs = [
        ("event", "push"),
        ("branch", "dev"),
        ("sha", after.as_str()),
    ];
    let run = runner.run_action("plan", &inputs);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let matrix: serde_json::Value =
        serde_json::from_str(&run.outputs["matrix"]).expect("matrix JSON");
    let names: Vec<&str> = matrix
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["api", "shared"],
        "api changed; shared has no paths: {matrix}"
    );
    assert_eq!(matrix[0]["context"], "services/api");
    assert_eq!(matrix[0]["repository"], "registry.example.com/acme/api");
    assert_eq!(
        run.outputs.get("changed").map(String::as_str),
        Some("api\nshared")
    );

    // A change to a Markdown file anywhere and to the web directory.
    std::fs::write(work.join("services/web/README.md"), "# web\n").expect("write");
    git_in(&work, &["add", "."]);
    git_in(&work, &["commit", "-q", "-m", "docs"]);
    let third = git_in(&work, &["rev-parse", "HEAD"]);
    std::fs::write(
        &event,
        serde_json::json!({"before": after, "after": third}).to_string(),
    )
    .expect("write event");
    let run = runner.run_action(
        "plan",
        &[
            ("event", "push"),
            ("branch", "dev"),
            ("sha", third.as_str()),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.outputs.get("changed").map(String::as_str),
        Some("web\ndocs\nshared")
    );

    // The first push of a branch (before = zeros): the base is unknown, every image is built.
    std::fs::write(
        &event,
        serde_json::json!({"before": "0".repeat(40), "after": third}).to_string(),
    )
    .expect("write event");
    let run = runner.run_action(
        "plan",
        &[
            ("event", "push"),
            ("branch", "dev"),
            ("sha", third.as_str()),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.outputs.get("changed").map(String::as_str),
        Some("api\nweb\ndocs\nshared")
    );
}
