//! Loading a policy text into a validated [`Policy`], with every problem located at
//! file:line:column.
//!
//! Three passes, all run so that one report lists everything: YAML syntax (saphyr, with
//! positions), unknown keys (walking the document against the JSON Schema, with a "did you
//! mean" for typos), then typing (serde) and the cross-field checks of [`Policy::validate`].

use std::fmt;

use serde_json::Value;

use super::source_map::{DisplayPath, Node, NodeKind, PathSeg, Position, SourceMap};
use super::validate::closest;
use super::{Policy, PolicyError};

/// One located problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the text came from (a path or `<embedded default>`).
    pub origin: String,
    /// Position in the text, when known.
    pub position: Option<Position>,
    /// Dotted path of the offending key (`environments.staging.tag_prefix`), when known.
    pub path: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(at) = self.position {
            write!(f, ":{}:{}", at.line, at.column)?;
        }
        f.write_str(": ")?;
        if let Some(path) = self.path.as_deref().filter(|p| !p.is_empty()) {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

/// The diagnostics of a failed load, printed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl Policy {
    /// Parses and validates policy text; `origin` names it in errors. On failure the error
    /// lists every problem found, each with its line and column.
    ///
    /// ```
    /// use gitops_core::policy::{Policy, PolicyError};
    /// let text = "registry: ghcr.io/acme\nimages: [{ name: api }]\nenvironments:\n  dev: { branch: dev, tag_prefix: dev, overlay: k8s/dev, retension: {} }\n";
    /// let Err(PolicyError::Invalid { diagnostics, .. }) = Policy::load(text, "gitops.yaml") else {
    ///     panic!("expected an error");
    /// };
    /// assert_eq!(
    ///     diagnostics.0[0].to_string(),
    ///     "gitops.yaml:4:58: environments.dev: unknown field 'retension', did you mean 'retention'?"
    /// );
    /// ```
    pub fn load(text: &str, origin: &str) -> Result<Self, PolicyError> {
        let invalid = |diagnostics: Vec<Diagnostic>| PolicyError::Invalid {
            origin: origin.to_owned(),
            count: diagnostics.len(),
            diagnostics: Diagnostics(diagnostics),
        };
        let diag =
            |position, path: Option<String>, message: String, help: Option<String>| Diagnostic {
                origin: origin.to_owned(),
                position,
                path,
                message,
                help,
            };
        let map = match SourceMap::parse(text) {
            Ok(map) => map,
            Err(err) => {
                return Err(invalid(vec![diag(
                    Some(err.at),
                    None,
                    format!("invalid YAML: {}", err.message),
                    None,
                )]));
            }
        };
        let Some(root) = &map.root else {
            return Err(invalid(vec![diag(
                None,
                None,
                "the policy file is empty".to_owned(),
                Some("start from `gitops policy explain > gitops.yaml`".to_owned()),
            )]));
        };
        let mut diagnostics = Vec::new();
        let schema = super::json_schema();
        let mut unknown = Vec::new();
        walk(root, &schema, &schema, &mut Vec::new(), &mut unknown, 0);
        let unknown_paths: Vec<(Vec<PathSeg>, String)> = unknown
            .iter()
            .map(|u| (u.parent.clone(), u.key.clone()))
            .collect();
        for found in unknown {
            let candidates: Vec<&str> = found.known.iter().map(String::as_str).collect();
            let (message, help) = match closest(&found.key, &candidates) {
                Some(c) => (
                    format!("unknown field '{}', did you mean '{c}'?", found.key),
                    None,
                ),
                None => (
                    format!("unknown field '{}'", found.key),
                    Some(format!("expected one of: {}", candidates.join(", "))),
                ),
            };
            diagnostics.push(diag(
                Some(found.at),
                Some(DisplayPath(&found.parent).to_string()),
                message,
                help,
            ));
        }
        let parsed: Result<Policy, _> = serde_norway::from_str(text);
        let policy = match parsed {
            Ok(policy) => Some(policy),
            Err(err) => {
                let message = strip_location(&err.to_string());
                // An unknown field was already reported with a suggestion by the walk.
                if unknown_paths.is_empty() || !message.contains("unknown field") {
                    let position = err.location().map(|l| Position {
                        line: l.line(),
                        column: l.column(),
                    });
                    diagnostics.push(diag(position, None, message, type_help(&err)));
                    None
                } else {
                    // Drop the unknown keys and try again, so the cross-field checks still
                    // run and one report lists everything.
                    without_unknown(text, &unknown_paths)
                }
            }
        };
        let Some(policy) = policy else {
            return Err(invalid(diagnostics));
        };
        let issues = policy.validate();
        if issues.is_empty() && diagnostics.is_empty() {
            return Ok(policy);
        }
        diagnostics.extend(issues.into_iter().map(|issue| {
            diag(
                map.locate(&issue.path),
                Some(DisplayPath(&issue.path).to_string()),
                issue.message,
                issue.help,
            )
        }));
        diagnostics.sort_by_key(|d| d.position);
        Err(invalid(diagnostics))
    }
}

/// The policy parsed with the given keys removed, when that makes it parse.
fn without_unknown(text: &str, unknown: &[(Vec<PathSeg>, String)]) -> Option<Policy> {
    let mut value: serde_norway::Value = serde_norway::from_str(text).ok()?;
    for (parent, key) in unknown {
        let mut node = &mut value;
        for seg in parent {
            node = match seg {
                PathSeg::Key(k) => node.get_mut(k.as_str())?,
                PathSeg::Index(i) => node.get_mut(*i)?,
            };
        }
        node.as_mapping_mut()?.remove(key.as_str());
    }
    serde_norway::from_value(value).ok()
}

fn strip_location(message: &str) -> String {
    let without = match regex::Regex::new(r"\s*at line \d+ column \d+") {
        Ok(re) => re.replace_all(message, "").into_owned(),
        Err(_) => message.to_owned(),
    };
    without.replace('`', "'")
}

fn type_help(err: &serde_norway::Error) -> Option<String> {
    let text = err.to_string();
    if text.contains("missing field") {
        Some("add the field; `gitops policy explain` shows a complete policy".to_owned())
    } else if text.contains("invalid type") || text.contains("unknown variant") {
        Some("`gitops policy schema` describes every field and its type".to_owned())
    } else {
        None
    }
}

struct Unknown {
    parent: Vec<PathSeg>,
    key: String,
    at: Position,
    known: Vec<String>,
}

/// Follows `$ref` and picks the non-null branch of `anyOf`/`oneOf`.
fn resolve<'a>(mut schema: &'a Value, root: &'a Value) -> &'a Value {
    for _ in 0..32 {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.trim_start_matches("#/$defs/");
            match root.get("$defs").and_then(|d| d.get(name)) {
                Some(target) => {
                    schema = target;
                    continue;
                }
                None => return schema,
            }
        }
        let branches = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array);
        if let Some(branches) = branches {
            let pick = branches
                .iter()
                .find(|b| b.get("type").and_then(Value::as_str) != Some("null"));
            if let Some(pick) = pick {
                schema = pick;
                continue;
            }
        }
        return schema;
    }
    schema
}

fn walk(
    node: &Node,
    schema: &Value,
    root: &Value,
    path: &mut Vec<PathSeg>,
    out: &mut Vec<Unknown>,
    depth: usize,
) {
    if depth > 64 {
        return;
    }
    let schema = resolve(schema, root);
    match &node.kind {
        NodeKind::Map(entries) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for entry in entries {
                let sub = properties
                    .and_then(|p| p.get(&entry.key))
                    .or_else(|| additional.filter(|a| a.is_object()));
                match sub {
                    Some(sub) => {
                        path.push(PathSeg::Key(entry.key.clone()));
                        walk(&entry.value, sub, root, path, out, depth + 1);
                        path.pop();
                    }
                    None if properties.is_some() && additional == Some(&Value::Bool(false)) => {
                        out.push(Unknown {
                            parent: path.clone(),
                            key: entry.key.clone(),
                            at: entry.at,
                            known: properties
                                .map(|p| p.keys().cloned().collect())
                                .unwrap_or_default(),
                        });
                    }
                    None => {}
                }
            }
        }
        NodeKind::Seq(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    path.push(PathSeg::Index(i));
                    walk(item, item_schema, root, path, out, depth + 1);
                    path.pop();
                }
            }
        }
        NodeKind::Scalar | NodeKind::Alias => {}
    }
}
