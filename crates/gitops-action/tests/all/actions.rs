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

fn commands_of(folder: &str) -> &'static [&'static [&'static str]] {
    STAGE_COMMANDS
        .iter()
        .find(|(f, _)| *f == folder)
        .map(|(_, c)| *c)
        .unwrap_or_else(|| panic!("no command table entry for {folder}"))
}

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
            assert_eq!(
                uses.get(name).copied().unwrap_or(0),
                1,
                "{at}: input {name} is used exactly once"
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
    assert!(run.outputs.get("path").is_none(), "no path output");
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
