//! GitHub Actions runner I/O: inputs, outputs, step summary, annotations and masking.

/// Whether we run inside GitHub Actions (`GITHUB_ACTIONS=true`).
pub fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// Escapes data for a workflow command message.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command property value.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Prints an `::error` annotation, optionally tied to a file and line.
pub fn error_annotation(message: &str, location: Option<(&str, Option<u32>)>) {
    let props = match location {
        Some((file, Some(line))) => format!(" file={},line={line}", escape_property(file)),
        Some((file, None)) => format!(" file={}", escape_property(file)),
        None => String::new(),
    };
    println!("::error{props}::{}", escape_data(message));
}
