//! GitHub Actions runner I/O: inputs, outputs, step summary, annotations and masking.
//!
//! The API every command uses:
//! - [`in_actions`]: whether we run inside GitHub Actions (`GITHUB_ACTIONS=true`).
//! - [`input`] / [`input_bool`]: an action input from `INPUT_<NAME>`.
//! - [`set_output`]: appends `name=value` (or a heredoc with a random delimiter for
//!   multi-line values) to the file named by `$GITHUB_OUTPUT`. The variable itself is never
//!   set: that would not reach the runner.
//! - [`append_summary`]: appends Markdown to `$GITHUB_STEP_SUMMARY`.
//! - [`annotation`], [`error_annotation`]: `::error file=F,line=L,col=C,title=T::message`
//!   with the documented escaping.
//! - [`mask`]: `::add-mask::VALUE` so a secret never reaches a log.
//! - [`group`] / [`end_group`]: fold noisy logs.
//!
//! Workflow commands are written to **stderr**: the runner reads commands from both streams,
//! and stdout stays reserved for the command's own output (one JSON document with
//! `--format json`). Outside GitHub Actions the output and summary functions do nothing when
//! their variable is unset, so commands can call them unconditionally.
//!
//! [`Runner`] holds the file paths explicitly, so tests (and callers that want to) can point
//! them at temporary files instead of reading the process environment.

// A shared API: some functions are only called by a few commands, or only by later ones.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rand::Rng as _;

/// Whether we run inside GitHub Actions (`GITHUB_ACTIONS=true`).
pub fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// The environment variable holding an action input: `INPUT_` + the name upper-cased with
/// spaces replaced by `_` (dashes are kept, as the runner does).
pub fn input_var(name: &str) -> String {
    format!("INPUT_{}", name.replace(' ', "_").to_ascii_uppercase())
}

/// An action input (`INPUT_<NAME>`), trimmed; `None` when unset or empty.
pub fn input(name: &str) -> Option<String> {
    input_from(name, |var| std::env::var(var).ok())
}

/// An action input looked up through `lookup` (an environment map in tests).
pub fn input_from(name: &str, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    lookup(&input_var(name))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A boolean action input: `true`/`True`/`TRUE` or `false`/`False`/`FALSE` (the YAML 1.2
/// core schema, as `@actions/core` accepts); `None` when unset or empty.
pub fn input_bool(name: &str) -> anyhow::Result<Option<bool>> {
    parse_bool_input(name, input(name))
}

fn parse_bool_input(name: &str, value: Option<String>) -> anyhow::Result<Option<bool>> {
    match value.as_deref() {
        None => Ok(None),
        Some("true" | "True" | "TRUE") => Ok(Some(true)),
        Some("false" | "False" | "FALSE") => Ok(Some(false)),
        Some(other) => anyhow::bail!(
            "input '{name}' is '{other}', expected true or false (set {} to true or false)",
            input_var(name)
        ),
    }
}

/// Appends an output to `$GITHUB_OUTPUT` (no-op when unset).
pub fn set_output(name: &str, value: &str) -> anyhow::Result<()> {
    Runner::from_env().set_output(name, value)
}

/// Appends several outputs to `$GITHUB_OUTPUT` in one write (no-op when unset).
pub fn set_outputs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> anyhow::Result<()> {
    Runner::from_env().set_outputs(pairs)
}

/// Appends Markdown to `$GITHUB_STEP_SUMMARY` (no-op when unset).
pub fn append_summary(markdown: &str) -> anyhow::Result<()> {
    Runner::from_env().append_summary(markdown)
}

/// Appends a variable for later steps to `$GITHUB_ENV` (no-op when unset).
pub fn export_env(name: &str, value: &str) -> anyhow::Result<()> {
    Runner::from_env().export_env(name, value)
}

/// Asks the runner to mask `secret` in all later log lines (only inside GitHub Actions;
/// empty values are skipped because masking "" would be meaningless). Multi-line secrets are
/// masked line by line, as the runner only matches single lines.
pub fn mask(secret: &str) {
    if in_actions() {
        eprint!("{}", mask_command(secret));
    }
}

/// The `::add-mask::` lines for `secret` (one per non-empty line).
pub fn mask_command(secret: &str) -> String {
    secret
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .map(|l| format!("::add-mask::{}\n", escape_data(l)))
        .collect()
}

/// Annotation severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `::error`.
    Error,
    /// `::warning`.
    Warning,
    /// `::notice`.
    Notice,
}

impl Level {
    fn command(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Notice => "notice",
        }
    }
}

/// Where an annotation points (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location<'a> {
    /// File path relative to the repository root.
    pub file: Option<&'a str>,
    /// 1-based line.
    pub line: Option<u32>,
    /// 1-based column.
    pub col: Option<u32>,
    /// Annotation title.
    pub title: Option<&'a str>,
}

/// Prints an annotation (inside GitHub Actions only; elsewhere the caller prints for a person).
pub fn annotation(level: Level, message: &str, location: &Location<'_>) {
    if in_actions() {
        eprintln!("{}", annotation_command(level, message, location));
    }
}

/// The workflow command text of an annotation, escaped as documented: `%`, CR and LF in the
/// message; additionally `:` and `,` in property values.
pub fn annotation_command(level: Level, message: &str, location: &Location<'_>) -> String {
    let mut props = Vec::new();
    if let Some(file) = location.file {
        props.push(format!("file={}", escape_property(file)));
    }
    if let Some(line) = location.line {
        props.push(format!("line={line}"));
    }
    if let Some(col) = location.col {
        props.push(format!("col={col}"));
    }
    if let Some(title) = location.title {
        props.push(format!("title={}", escape_property(title)));
    }
    let props = if props.is_empty() {
        String::new()
    } else {
        format!(" {}", props.join(","))
    };
    format!("::{}{props}::{}", level.command(), escape_data(message))
}

/// Prints an `::error` annotation, optionally tied to a file and line (exit.rs uses it for
/// every failing command).
pub fn error_annotation(message: &str, location: Option<(&str, Option<u32>)>) {
    let location = match location {
        Some((file, line)) => Location {
            file: Some(file),
            line,
            ..Location::default()
        },
        None => Location::default(),
    };
    annotation(Level::Error, message, &location);
}

/// Starts a collapsible log group (inside GitHub Actions only).
pub fn group(name: &str) {
    if in_actions() {
        eprintln!("::group::{}", escape_data(name));
    }
}

/// Ends the current log group (inside GitHub Actions only).
pub fn end_group() {
    if in_actions() {
        eprintln!("::endgroup::");
    }
}

/// Escapes data for a workflow command message: `%` -> `%25`, CR -> `%0D`, LF -> `%0A`.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command property value: as [`escape_data`] plus `:` -> `%3A`,
/// `,` -> `%2C`.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The runner's command files, resolved once. Missing paths make the writes no-ops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runner {
    /// `$GITHUB_OUTPUT`.
    pub output: Option<PathBuf>,
    /// `$GITHUB_STEP_SUMMARY`.
    pub summary: Option<PathBuf>,
    /// `$GITHUB_ENV`.
    pub env: Option<PathBuf>,
}

impl Runner {
    /// Paths from the process environment (empty values count as unset).
    pub fn from_env() -> Self {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// Paths from an environment lookup (an environment map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let path = |var: &str| lookup(var).filter(|v| !v.is_empty()).map(PathBuf::from);
        Self {
            output: path("GITHUB_OUTPUT"),
            summary: path("GITHUB_STEP_SUMMARY"),
            env: path("GITHUB_ENV"),
        }
    }

    /// Appends one output.
    pub fn set_output(&self, name: &str, value: &str) -> anyhow::Result<()> {
        self.set_outputs([(name, value)])
    }

    /// Appends several outputs in a single write, so a failure leaves none half-written.
    pub fn set_outputs<'a>(
        &self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<()> {
        let Some(path) = &self.output else {
            return Ok(());
        };
        let mut text = String::new();
        for (name, value) in pairs {
            text.push_str(&file_command_entry(name, value)?);
        }
        append(path, &text, "GITHUB_OUTPUT")
    }

    /// Appends a `NAME=value` for later steps.
    pub fn export_env(&self, name: &str, value: &str) -> anyhow::Result<()> {
        let Some(path) = &self.env else {
            return Ok(());
        };
        append(path, &file_command_entry(name, value)?, "GITHUB_ENV")
    }

    /// Appends Markdown (a newline is added when missing).
    pub fn append_summary(&self, markdown: &str) -> anyhow::Result<()> {
        let Some(path) = &self.summary else {
            return Ok(());
        };
        let mut text = markdown.to_owned();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        append(path, &text, "GITHUB_STEP_SUMMARY")
    }
}

/// One `name=value` entry, or `name<<DELIM\nvalue\nDELIM` when the value spans lines (the
/// delimiter is random and checked not to occur in the value).
pub fn file_command_entry(name: &str, value: &str) -> anyhow::Result<String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        anyhow::bail!(
            "invalid output or variable name '{name}': use letters, digits, '_', '-' or '.'"
        );
    }
    if !value.contains('\n') && !value.contains('\r') {
        return Ok(format!("{name}={value}\n"));
    }
    let mut rng = rand::rng();
    // A 128-bit random delimiter colliding with the value is practically impossible; the
    // bound keeps the loop finite regardless.
    for _ in 0..16 {
        let delimiter = format!("ghadelimiter_{:032x}", rng.random::<u128>());
        if !value.contains(&delimiter) {
            return Ok(format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
        }
    }
    anyhow::bail!("could not find a heredoc delimiter absent from the value of '{name}'")
}

fn append(path: &Path, text: &str, var: &str) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("cannot open ${var} file {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot append to ${var} file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn runner(dir: &Path) -> Runner {
        let vars: HashMap<&str, String> = [
            ("GITHUB_OUTPUT", dir.join("out").display().to_string()),
            ("GITHUB_STEP_SUMMARY", dir.join("sum").display().to_string()),
            ("GITHUB_ENV", dir.join("env").display().to_string()),
        ]
        .into_iter()
        .collect();
        Runner::from_lookup(|k| vars.get(k).cloned())
    }

    #[test]
    fn outputs_single_and_multi_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = runner(dir.path());
        r.set_output("environment", "development").expect("write");
        r.set_outputs([("tags", "a:1\na:latest"), ("deploy", "true")])
            .expect("write");
        let text = std::fs::read_to_string(dir.path().join("out")).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "environment=development");
        let delim = lines[1].strip_prefix("tags<<").expect("heredoc");
        assert!(delim.starts_with("ghadelimiter_") && delim.len() > 20);
        assert_eq!(&lines[2..4], ["a:1", "a:latest"]);
        assert_eq!(lines[4], delim);
        assert_eq!(lines[5], "deploy=true");
    }

    #[test]
    fn rejects_bad_names_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = runner(dir.path());
        assert!(r.set_outputs([("ok", "1"), ("bad=name", "2")]).is_err());
        assert!(!dir.path().join("out").exists());
    }

    #[test]
    fn summary_and_env_append() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = runner(dir.path());
        r.append_summary("| a |\n|---|").expect("write");
        r.append_summary("more\n").expect("write");
        r.export_env("IMAGE", "x:1").expect("write");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("sum")).expect("read"),
            "| a |\n|---|\nmore\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("env")).expect("read"),
            "IMAGE=x:1\n"
        );
    }

    #[test]
    fn unset_paths_are_noops() {
        let r = Runner::from_lookup(|_| None);
        r.set_output("a", "b").expect("noop");
        r.append_summary("x").expect("noop");
        let r = Runner::from_lookup(|_| Some(String::new()));
        assert_eq!(r, Runner::default());
    }

    #[test]
    fn annotation_escaping() {
        let cmd = annotation_command(
            Level::Warning,
            "50% done\r\nnext",
            &Location {
                file: Some("a,b:c.yaml"),
                line: Some(3),
                col: Some(7),
                title: Some("bad: key"),
            },
        );
        assert_eq!(
            cmd,
            "::warning file=a%2Cb%3Ac.yaml,line=3,col=7,title=bad%3A key::50%25 done%0D%0Anext"
        );
        assert_eq!(
            annotation_command(Level::Error, "x", &Location::default()),
            "::error::x"
        );
    }

    #[test]
    fn mask_lines() {
        assert_eq!(
            mask_command("s3cr%t\nline2\n"),
            "::add-mask::s3cr%25t\n::add-mask::line2\n"
        );
        assert_eq!(mask_command(""), "");
    }

    #[test]
    fn inputs() {
        let vars: HashMap<String, String> = [
            ("INPUT_IMAGE-NAME".to_owned(), "  x  ".to_owned()),
            ("INPUT_EMPTY".to_owned(), String::new()),
        ]
        .into_iter()
        .collect();
        let get = |k: &str| vars.get(k).cloned();
        assert_eq!(input_from("image-name", get), Some("x".to_owned()));
        assert_eq!(input_from("empty", get), None);
        assert_eq!(input_var("dry run"), "INPUT_DRY_RUN");
        assert_eq!(
            parse_bool_input("a", Some("True".into())).expect("ok"),
            Some(true)
        );
        assert!(parse_bool_input("a", Some("yes".into())).is_err());
    }
}
