//! `docs/policy.md` is generated from the policy's JSON Schema; this test keeps it in sync.
//! Regenerate with `UPDATE_DOCS=1 cargo test -p gitops-action --test all docs_policy`.

#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix("#/$defs/")
            .and_then(|name| root["$defs"].get(name))
            .unwrap_or(schema),
        None => schema,
    }
}

fn type_of(root: &Value, schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = resolve(root, schema);
        if let Some(values) = enum_values(target) {
            return values;
        }
        if target.get("type").and_then(Value::as_str) == Some("string") {
            return "string".to_owned();
        }
        return reference
            .trim_start_matches("#/$defs/")
            .to_lowercase()
            .replace("policy", "")
            + " (object)";
    }
    if let Some(values) = enum_values(schema) {
        return values;
    }
    match schema.get("type") {
        Some(Value::String(t)) if t == "array" => {
            format!(
                "list of {}",
                type_of(root, schema.get("items").unwrap_or(&Value::Null))
            )
        }
        Some(Value::String(t)) if t == "object" => "map".to_owned(),
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => schema
            .get("anyOf")
            .and_then(Value::as_array)
            .map(|alts| {
                alts.iter()
                    .map(|a| type_of(root, a))
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()
                    .join(" or ")
            })
            .unwrap_or_default(),
    }
}

fn enum_values(schema: &Value) -> Option<String> {
    let alts = schema
        .get("oneOf")
        .or_else(|| schema.get("enum"))?
        .as_array()?;
    let values: Vec<String> = alts
        .iter()
        .filter_map(|a| match a {
            Value::String(s) => Some(format!("`{s}`")),
            other => other
                .get("const")
                .and_then(Value::as_str)
                .map(|s| format!("`{s}`")),
        })
        .collect();
    (!values.is_empty()).then(|| values.join(" \\| "))
}

fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn walk(root: &Value, schema: &Value, path: &str, out: &mut String, depth: usize) {
    let target = resolve(root, schema);
    let Some(props) = target.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = target
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, prop) in props {
        let key = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        let description = prop
            .get("description")
            .or_else(|| resolve(root, prop).get("description"))
            .and_then(Value::as_str)
            .map(one_line)
            .unwrap_or_default();
        let requirement = if required.contains(&name.as_str()) {
            "required"
        } else {
            "optional"
        };
        let _ = writeln!(
            out,
            "| `{key}` | {} | {requirement} | {description} |",
            type_of(root, prop)
        );
        if depth < 6 {
            walk(root, prop, &key, out, depth + 1);
            if let Some(items) = prop.get("items") {
                walk(root, items, &format!("{key}[]"), out, depth + 1);
            }
            if let Some(values) = prop.get("additionalProperties").filter(|v| v.is_object()) {
                walk(root, values, &format!("{key}.<name>"), out, depth + 1);
            }
        }
    }
}

fn generate() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(gitops_core::policy::Policy)).unwrap();
    let mut out = String::from(
        "# `gitops.yaml` reference\n\n\
         <!-- Generated from the policy's JSON Schema by crates/gitops-action/tests/all/docs_policy.rs; \
         do not edit by hand. Regenerate: UPDATE_DOCS=1 cargo test -p gitops-action --test all docs_policy -->\n\n\
         `gitops` reads `--policy PATH`, else `./gitops.yaml`, else `./.github/gitops.yaml`, else its embedded \
         default (the documented dev -> staging -> production pipeline; print it with `gitops policy explain`). \
         Unknown keys are errors. Editors can validate the file against the schema printed by \
         `gitops policy schema`.\n\n",
    );
    let _ = writeln!(
        out,
        "{}\n",
        one_line(schema["description"].as_str().unwrap_or_default())
    );
    out.push_str("| key | type | | meaning and default |\n|---|---|---|---|\n");
    walk(&schema, &schema, "", &mut out, 0);
    out.push_str("\n## The embedded default\n\n```yaml\n");
    out.push_str(gitops_core::policy::DEFAULT_POLICY_YAML);
    out.push_str("```\n");
    out
}

#[test]
fn policy_reference_is_in_sync_with_the_schema() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/policy.md");
    let generated = generate();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/policy.md is out of date with the policy schema; regenerate it with \
         `UPDATE_DOCS=1 cargo test -p gitops-action --test all docs_policy`"
    );
    for key in [
        "environments.<name>.retention.max_age",
        "tags.template",
        "gates.coverage.min_percent",
    ] {
        assert!(
            generated.contains(&format!("`{key}`")),
            "{key} missing from the reference"
        );
    }
}
