//! Writing YAML scalars so that every reader takes them as the intended string.
//!
//! `kubectl kustomize` and many tools still resolve plain scalars with YAML 1.1 rules (and
//! Go's `strconv`), so tags such as `1.10`, `08`, `1_000`, `y` or `off` become numbers or
//! booleans and the build fails with `cannot unmarshal number`. Such values are written
//! double-quoted; everything that reads the same under YAML 1.1, 1.2 and Go stays plain.

use std::sync::LazyLock;

use regex::Regex;
use serde_norway::Value;

/// How a scalar was (or is to be) written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Unquoted.
    Plain,
    /// `'...'`.
    Single,
    /// `"..."`.
    Double,
}

/// Words any YAML 1.1 or 1.2 reader may resolve to a boolean or null (compared
/// case-insensitively; quoting a harmless variant costs nothing).
const NON_STRING_WORDS: &[&str] = &[
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "=", "<<",
];

static NUMBER_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    // Underscores are removed before matching (YAML 1.1 and Go's yaml.v2 ignore them).
    let patterns = [
        r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", // decimal, float, exponent
        r"[-+]?0[xX][0-9a-fA-F]*(\.[0-9a-fA-F]*)?([pP][-+]?[0-9]+)?", // hex int / hex float
        r"[-+]?0[oO][0-7]+",                                  // YAML 1.2 octal
        r"[-+]?0[bB][01]+",                                   // YAML 1.1 binary
        r"[-+]?[0-9]+(:[0-5]?[0-9])+(\.[0-9]*)?",             // YAML 1.1 sexagesimal
        r"(?i)[-+]?\.?(inf|infinity|nan)",                    // infinities, NaN
        r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?",          // YAML 1.1 timestamp
    ];
    let joined = patterns
        .iter()
        .map(|p| format!("(?:{p})"))
        .collect::<Vec<_>>()
        .join("|");
    #[allow(clippy::expect_used)]
    Regex::new(&format!("^(?:{joined})$")).expect("the number pattern is a valid regex")
});

/// Whether some YAML reader would take the plain scalar `text` as something else than a string.
pub(crate) fn resolves_to_non_string(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    if text.is_empty() || NON_STRING_WORDS.contains(&lower.as_str()) {
        return true;
    }
    let without_underscores = text.replace('_', "");
    !without_underscores.is_empty() && NUMBER_LIKE.is_match(&without_underscores)
}

/// Whether `text` can be written unquoted and still read back as this exact string by
/// every YAML reader. Deliberately conservative: anything unusual is quoted.
pub(crate) fn plain_is_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    let first_ok = first.is_ascii_alphanumeric() || matches!(first, '_' | '/' | '.');
    let rest_ok = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '@' | '+'));
    first_ok && rest_ok && !text.ends_with(':') && !resolves_to_non_string(text)
}

/// Writes a string in the preferred style, falling back to double quotes when the style
/// cannot carry it.
pub(crate) fn render_string(text: &str, preferred: Style) -> String {
    match preferred {
        Style::Plain if plain_is_safe(text) => text.to_owned(),
        Style::Single if !text.chars().any(char::is_control) => {
            format!("'{}'", text.replace('\'', "''"))
        }
        _ => double_quoted(text),
    }
}

/// A double-quoted scalar with YAML escapes.
pub(crate) fn double_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // Outside YAML's printable set, or read as a line break / byte-order mark.
            c if c.is_control()
                || matches!(
                    c,
                    '\u{FEFF}' | '\u{FFFE}' | '\u{FFFF}' | '\u{2028}' | '\u{2029}'
                ) =>
            {
                out.push_str(&format!("\\u{:04X}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes a scalar value on one line, or `None` for collections (written by the caller).
pub(crate) fn render_scalar(value: &Value, preferred: Style) -> Option<String> {
    match value {
        Value::String(s) => Some(render_string(s, preferred)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some("null".to_owned()),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => None,
    }
}
