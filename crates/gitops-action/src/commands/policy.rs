//! `gitops policy`: check, explain, schema and test the pipeline policy.

use std::path::PathBuf;

use anyhow::Context as _;
use gitops_core::policy::cases::CaseFile;
use gitops_core::policy::{Diagnostic, Policy, PolicyError, json_schema};
use serde::Serialize;

use crate::context::{Context, PolicySource, emit};
use crate::exit::{Denied, Status};
use crate::github_actions::{self, Level, Location};

/// Policy subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Validate the policy; lists every problem with file:line:column (exit 2 if any).
    Check,
    /// Print the effective policy with every default filled in (YAML; JSON with --format json).
    Explain,
    /// Print the JSON Schema of gitops.yaml (for editors and CI validation).
    Schema,
    /// Run table-driven policy tests: events in, expected environment/stages/tags/approval out
    /// (exit 1 when a case fails).
    Test {
        /// YAML file of cases (`cases: [{ name, event: {...}, expect: {...} }]`).
        file: PathBuf,
    },
}

/// Runs `gitops policy ...`.
pub fn run(command: PolicyCommand, ctx: &Context) -> anyhow::Result<Status> {
    match command {
        PolicyCommand::Check => check(ctx),
        PolicyCommand::Explain => explain(ctx),
        PolicyCommand::Schema => {
            emit(&format!(
                "{}\n",
                serde_json::to_string_pretty(&json_schema())?
            ))?;
            Ok(Status::Success)
        }
        PolicyCommand::Test { file } => test(&file, ctx),
    }
}

#[derive(Serialize)]
struct DiagnosticJson<'a> {
    file: &'a str,
    line: Option<usize>,
    column: Option<usize>,
    path: Option<&'a str>,
    message: &'a str,
    help: Option<&'a str>,
}

#[derive(Serialize)]
struct CheckJson<'a> {
    valid: bool,
    source: String,
    environments: usize,
    images: usize,
    diagnostics: Vec<DiagnosticJson<'a>>,
}

fn check(ctx: &Context) -> anyhow::Result<Status> {
    let source = ctx.policy_source();
    let (result, origin) = match &source {
        PolicySource::File(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read policy file {}", path.display()))?;
            let origin = path.display().to_string();
            (Policy::load(&text, &origin), origin)
        }
        PolicySource::Embedded => (
            Policy::load(
                gitops_core::policy::DEFAULT_POLICY_YAML,
                "<embedded default>",
            ),
            "<embedded default>".to_owned(),
        ),
    };
    let diagnostics: Vec<Diagnostic> = match &result {
        Ok(_) => Vec::new(),
        Err(err @ (PolicyError::Invalid { .. } | PolicyError::Parse { .. })) => err.diagnostics(),
    };
    if ctx.json() {
        let out = CheckJson {
            valid: diagnostics.is_empty(),
            source: origin.clone(),
            environments: result.as_ref().map_or(0, |p| p.environments.len()),
            images: result.as_ref().map_or(0, |p| p.images.len()),
            diagnostics: diagnostics
                .iter()
                .map(|d| DiagnosticJson {
                    file: &d.origin,
                    line: d.position.map(|p| p.line),
                    column: d.position.map(|p| p.column),
                    path: d.path.as_deref(),
                    message: &d.message,
                    help: d.help.as_deref(),
                })
                .collect(),
        };
        emit(&format!("{}\n", serde_json::to_string_pretty(&out)?))?;
    }
    match result {
        Ok(policy) => {
            if !ctx.json() {
                let note = if source == PolicySource::Embedded {
                    " (no gitops.yaml or .github/gitops.yaml found)"
                } else {
                    ""
                };
                emit(&format!(
                    "{origin}: ok, {} environment(s), {} image(s){note}\n",
                    policy.environments.len(),
                    policy.images.len()
                ))?;
            }
            Ok(Status::Success)
        }
        Err(_) => {
            for d in &diagnostics {
                if !ctx.json() {
                    eprintln!("{d}");
                }
                let line = d
                    .position
                    .map(|p| u32::try_from(p.line).unwrap_or(u32::MAX));
                let col = d
                    .position
                    .map(|p| u32::try_from(p.column).unwrap_or(u32::MAX));
                github_actions::annotation(
                    Level::Error,
                    &match &d.help {
                        Some(help) => format!("{} ({help})", d.message),
                        None => d.message.clone(),
                    },
                    &Location {
                        file: Some(&d.origin),
                        line,
                        col,
                        title: d.path.as_deref(),
                    },
                );
            }
            anyhow::bail!(
                "{origin}: {} problem(s) found; fix them and run `gitops policy check` again",
                diagnostics.len()
            )
        }
    }
}

fn explain(ctx: &Context) -> anyhow::Result<Status> {
    let (policy, source) = ctx.loaded_policy()?;
    let effective = policy.effective();
    if ctx.json() {
        emit(&format!("{}\n", serde_json::to_string_pretty(&effective)?))?;
    } else {
        emit(&format!(
            "# Effective policy from {source}, every default filled in.\n{}",
            serde_norway::to_string(&effective)?
        ))?;
    }
    Ok(Status::Success)
}

#[derive(Serialize)]
struct TestJson<'a> {
    passed: usize,
    failed: usize,
    cases: &'a [gitops_core::policy::cases::CaseResult],
}

fn test(file: &std::path::Path, ctx: &Context) -> anyhow::Result<Status> {
    let policy = ctx.policy()?;
    let origin = file.display().to_string();
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read policy test file {origin}"))?;
    let cases = CaseFile::parse(&text, &origin)?;
    let results = cases.run(policy, &origin)?;
    let failed = results.iter().filter(|r| !r.passed).count();
    let passed = results.len() - failed;
    if ctx.json() {
        let json = serde_json::to_string_pretty(&TestJson {
            passed,
            failed,
            cases: &results,
        })?;
        emit(&format!("{json}\n"))?;
    } else {
        let mut out = String::new();
        for result in &results {
            if result.passed {
                out.push_str(&format!("ok   {}\n", result.name));
                continue;
            }
            out.push_str(&format!("FAIL {}\n", result.name));
            for m in &result.mismatches {
                out.push_str(&format!(
                    "     {}:\n       - expected: {}\n       + actual:   {}\n",
                    m.field, m.expected, m.actual
                ));
            }
        }
        out.push_str(&format!("\n{passed} passed, {failed} failed ({origin})\n"));
        emit(&out)?;
    }
    if failed > 0 {
        for result in results.iter().filter(|r| !r.passed) {
            github_actions::annotation(
                Level::Error,
                &format!("policy test failed: {}", result.name),
                &Location {
                    file: Some(&origin),
                    ..Location::default()
                },
            );
        }
        return Err(Denied(anyhow::anyhow!("{failed} policy test case(s) failed")).into());
    }
    Ok(Status::Success)
}
