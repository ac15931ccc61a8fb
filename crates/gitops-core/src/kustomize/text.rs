//! The line editor: changes only the lines of an `images:` / `replicas:` block that must
//! change, then verifies the result against the semantic model.
//!
//! It understands the block sequences of small mappings that kustomization files use
//! (`- name: x` with `key: value  # comment` fields, either sequence indentation style,
//! plain or quoted scalars). Anything else inside the list (flow style, anchors, multi-line
//! values) is handled by rewriting just that entry, or just that one node, in block style.

use std::borrow::Cow;
use std::ops::Range;

use serde_norway::{Mapping, Value};

use super::KustomizeError;
use super::model::{self, DataProblem, Outcome, Plan};
use super::scalar::{self, Style};

/// One physical line: content without its line ending, and the ending (`\n`, `\r\n` or none).
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    content: &'a str,
    eol: &'a str,
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::with_capacity(text.len() / 16 + 1);
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find('\n') {
            Some(nl) => {
                let (content, eol) = if nl > 0 && rest.as_bytes()[nl - 1] == b'\r' {
                    (&rest[..nl - 1], &rest[nl - 1..=nl])
                } else {
                    (&rest[..nl], &rest[nl..=nl])
                };
                out.push(Line { content, eol });
                rest = &rest[nl + 1..];
            }
            None => {
                out.push(Line {
                    content: rest,
                    eol: "",
                });
                rest = "";
            }
        }
    }
    out
}

fn indent(s: &str) -> usize {
    s.len() - s.trim_start_matches(' ').len()
}

fn is_blank(s: &str) -> bool {
    s.trim().is_empty()
}

fn is_comment(s: &str) -> bool {
    s.trim_start().starts_with('#')
}

/// `---`, `...` and `%` directives.
fn is_marker(s: &str) -> bool {
    let starts = |m: &str| {
        s == m
            || s.strip_prefix(m)
                .is_some_and(|r| r.starts_with([' ', '\t']))
    };
    starts("---") || starts("...") || s.starts_with('%')
}

fn is_content(s: &str) -> bool {
    !is_blank(s) && !is_comment(s) && !is_marker(s)
}

/// A sequence item line (`-` followed by a space or nothing) at its indentation.
fn is_dash(s: &str) -> bool {
    let t = s.trim_start_matches(' ');
    t == "-" || t.starts_with("- ") || t.starts_with("-\t")
}

/// Parses a mapping key starting at byte `col`; returns the key and the byte index just
/// after its `:`.
fn parse_key(s: &str, col: usize) -> Option<(String, usize)> {
    let rest = s.get(col..)?;
    let quote = rest.chars().next()?;
    if quote == '"' || quote == '\'' {
        let close = rest[1..].find(quote)? + 1;
        let key = &rest[1..close];
        let after = &rest[close + 1..];
        let colon = after.len() - after.trim_start().len();
        let after_colon = after[colon..].strip_prefix(':')?;
        if !(after_colon.is_empty() || after_colon.starts_with([' ', '\t'])) {
            return None;
        }
        return Some((key.to_owned(), col + close + 1 + colon + 1));
    }
    if matches!(
        quote,
        '-' | '?' | '[' | '{' | '#' | '&' | '*' | '!' | '|' | '>' | '%' | '@' | '`' | ':'
    ) {
        return None;
    }
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'#' && i > 0 && matches!(bytes[i - 1], b' ' | b'\t') {
            return None;
        }
        if bytes[i] == b':' && (i + 1 == bytes.len() || matches!(bytes[i + 1], b' ' | b'\t')) {
            let key = rest[..i].trim_end();
            return (!key.is_empty()).then(|| (key.to_owned(), col + i + 1));
        }
        i += 1;
    }
    None
}

/// A `key: value  # comment` line whose value is a one-line scalar.
#[derive(Debug, Clone)]
struct Field {
    key: String,
    line: usize,
    /// Byte range of the value token in the line's content.
    value: Range<usize>,
    style: Style,
}

/// Parses a field at byte `col` of `s`; `None` when the line is not a simple one-line field.
fn parse_field(s: &str, col: usize, line: usize) -> Option<Field> {
    let (key, after_colon) = parse_key(s, col)?;
    let after = &s[after_colon..];
    let start = after_colon + (after.len() - after.trim_start_matches([' ', '\t']).len());
    let v = &s[start..];
    let (len, style) = match v.chars().next()? {
        '#' => return None,
        '"' => {
            let bytes = v.as_bytes();
            let mut i = 1;
            let mut end = None;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'"' => {
                        end = Some(i + 1);
                        break;
                    }
                    _ => i += 1,
                }
            }
            (end?, Style::Double)
        }
        '\'' => {
            let bytes = v.as_bytes();
            let mut i = 1;
            let mut end = None;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    end = Some(i + 1);
                    break;
                }
                i += 1;
            }
            (end?, Style::Single)
        }
        '[' | '{' | '|' | '>' | '&' | '*' | '!' | '%' | '@' | '`' => return None,
        _ => {
            let bytes = v.as_bytes();
            let mut end = bytes.len();
            for i in 1..bytes.len() {
                if bytes[i] == b'#' && matches!(bytes[i - 1], b' ' | b'\t') {
                    end = i;
                    break;
                }
            }
            (v[..end].trim_end_matches([' ', '\t']).len(), Style::Plain)
        }
    };
    let tail = v[len..].trim_start_matches([' ', '\t']);
    if !(tail.is_empty()
        || (tail.starts_with('#') && len < v.len() && v[len..].starts_with([' ', '\t'])))
    {
        return None;
    }
    Some(Field {
        key,
        line,
        value: start..start + len,
        style,
    })
}

/// One `- ...` item of the list.
#[derive(Debug, Clone)]
struct Entry {
    /// First line of the comments right above the dash line that belong to this entry
    /// (at the dash's indentation or less); `dash` when there are none.
    lead: usize,
    /// The dash line.
    dash: usize,
    /// One past the entry's last line (comments up to the next item belong to it).
    end: usize,
    /// Column of the entry's keys.
    key_col: usize,
    /// `-` alone on its line, fields below.
    bare_dash: bool,
    fields: Vec<Field>,
    /// Every content line is a simple field at `key_col`.
    simple: bool,
}

/// Where the list lives in the file.
#[derive(Debug, Clone)]
struct Block {
    key_line: usize,
    /// The value starts on the key line (`images: [...]`, `images: ~`, ...).
    inline: bool,
    /// One past the last line of the value.
    end: usize,
    /// Indentation of the `-` items, when there are items.
    seq_indent: Option<usize>,
    entries: Vec<Entry>,
    /// The items are a block sequence this editor can walk.
    parsed: bool,
}

/// The document's lines and top-level layout.
struct Layout<'a> {
    lines: Vec<Line<'a>>,
    top_indent: usize,
    /// Top-level keys: (key, line).
    keys: Vec<(String, usize)>,
    eol: &'static str,
}

impl<'a> Layout<'a> {
    fn scan(text: &'a str) -> Self {
        let lines = split_lines(text);
        let eol = match lines.iter().find(|l| !l.eol.is_empty()) {
            Some(l) if l.eol == "\r\n" => "\r\n",
            _ => "\n",
        };
        let top_indent = lines
            .iter()
            .find(|l| is_content(l.content))
            .map_or(0, |l| indent(l.content));
        let keys = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                is_content(l.content) && indent(l.content) == top_indent && !is_dash(l.content)
            })
            .filter_map(|(i, l)| parse_key(l.content, top_indent).map(|(k, _)| (k, i)))
            .collect();
        Self {
            lines,
            top_indent,
            keys,
            eol,
        }
    }

    fn find_key(&self, key: &str) -> Option<usize> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, line)| *line)
    }

    /// One past the last line of the value of the top-level key on line `k`.
    fn value_end(&self, k: usize) -> usize {
        let mut end = k + 1;
        for (i, line) in self.lines.iter().enumerate().skip(k + 1) {
            let c = line.content;
            if is_blank(c) {
                continue;
            }
            if is_marker(c) {
                break;
            }
            let ind = indent(c);
            if is_comment(c) {
                if ind > self.top_indent {
                    end = i + 1;
                }
                continue;
            }
            if ind > self.top_indent || (ind == self.top_indent && is_dash(c)) {
                end = i + 1;
            } else {
                break;
            }
        }
        end
    }

    fn block(&self, key: &str) -> Option<Block> {
        let k = self.find_key(key)?;
        let content = self.lines[k].content;
        let (_, after_colon) = parse_key(content, self.top_indent)?;
        let rest = content[after_colon..].trim();
        let inline = !(rest.is_empty() || rest.starts_with('#'));
        let end = self.value_end(k);
        let mut block = Block {
            key_line: k,
            inline,
            end,
            seq_indent: None,
            entries: Vec::new(),
            parsed: !inline,
        };
        if !inline {
            self.parse_entries(&mut block);
        }
        Some(block)
    }

    fn parse_entries(&self, block: &mut Block) {
        let range = block.key_line + 1..block.end;
        let content_lines: Vec<usize> = range
            .clone()
            .filter(|&i| is_content(self.lines[i].content))
            .collect();
        let Some(&first) = content_lines.first() else {
            return;
        };
        let seq_indent = indent(self.lines[first].content);
        if !is_dash(self.lines[first].content) {
            block.parsed = false;
            return;
        }
        block.seq_indent = Some(seq_indent);
        let dashes: Vec<usize> = content_lines
            .iter()
            .copied()
            .filter(|&i| indent(self.lines[i].content) <= seq_indent)
            .collect();
        if dashes.iter().any(|&i| {
            indent(self.lines[i].content) != seq_indent || !is_dash(self.lines[i].content)
        }) {
            block.parsed = false;
            return;
        }
        let leads: Vec<usize> = dashes
            .iter()
            .enumerate()
            .map(|(n, &dash)| {
                let floor = if n == 0 {
                    block.key_line + 1
                } else {
                    dashes[n - 1] + 1
                };
                let mut lead = dash;
                while lead > floor && {
                    let c = self.lines[lead - 1].content;
                    is_comment(c) && indent(c) <= seq_indent
                } {
                    lead -= 1;
                }
                lead
            })
            .collect();
        for (n, &dash) in dashes.iter().enumerate() {
            let end = leads.get(n + 1).copied().unwrap_or(block.end);
            let mut entry = self.parse_entry(dash, end, seq_indent);
            entry.lead = leads[n];
            block.entries.push(entry);
        }
    }

    fn parse_entry(&self, dash: usize, end: usize, seq_indent: usize) -> Entry {
        let content = self.lines[dash].content;
        let after = &content[seq_indent + 1..];
        let spaces = after.len() - after.trim_start_matches(' ').len();
        let mut key_col = seq_indent + 1 + spaces;
        let bare_dash = {
            let rest = &content[key_col..];
            rest.is_empty() || rest.starts_with('#') || after.starts_with('\t')
        };
        let mut entry = Entry {
            lead: dash,
            dash,
            end,
            key_col,
            bare_dash,
            fields: Vec::new(),
            simple: !after.starts_with('\t'),
        };
        let mut first_field_line = dash + 1;
        if bare_dash {
            match (dash + 1..end).find(|&i| is_content(self.lines[i].content)) {
                Some(i) => {
                    key_col = indent(self.lines[i].content);
                    entry.key_col = key_col;
                    first_field_line = i;
                }
                None => {
                    entry.simple = false;
                    return entry;
                }
            }
        } else {
            match parse_field(content, key_col, dash) {
                Some(field) => entry.fields.push(field),
                None => entry.simple = false,
            }
        }
        for i in first_field_line..end {
            let c = self.lines[i].content;
            if !is_content(c) {
                continue;
            }
            if indent(c) != key_col {
                entry.simple = false;
                continue;
            }
            match parse_field(c, key_col, i) {
                Some(field) => entry.fields.push(field),
                None => entry.simple = false,
            }
        }
        entry
    }

    /// Indentation of block sequences in this file relative to their key (0: flush `- `).
    fn sequence_style(&self) -> usize {
        for &(_, k) in &self.keys {
            let next = (k + 1..self.lines.len()).find(|&i| is_content(self.lines[i].content));
            if let Some(i) = next {
                let c = self.lines[i].content;
                if is_dash(c) && indent(c) >= self.top_indent {
                    return indent(c) - self.top_indent;
                }
            }
        }
        0
    }

    /// Whether top-level sections are separated by blank lines.
    fn sections_spaced(&self) -> bool {
        self.keys
            .iter()
            .skip(1)
            .any(|&(_, line)| line > 0 && is_blank(self.lines[line - 1].content))
    }
}

/// Points a data problem at its line.
pub(crate) fn locate(text: &str, key: &'static str, problem: DataProblem) -> KustomizeError {
    let layout = Layout::scan(text);
    let (mut line, mut column) = (0, 0);
    if let Some(block) = layout.block(key) {
        line = block.key_line + 1;
        column = layout.top_indent + 1;
        if let Some(entry) = problem.index.and_then(|i| block.entries.get(i)) {
            line = entry.dash + 1;
            column = block.seq_indent.unwrap_or(0) + 1;
            if let Some(field) = problem
                .field
                .and_then(|f| entry.fields.iter().find(|x| x.key == f))
            {
                line = field.line + 1;
                column = field.value.start + 1;
            }
        }
    }
    KustomizeError::Invalid {
        line,
        column,
        problem: problem.problem,
        hint: problem.hint,
    }
}

/// An output line: content and line ending.
type OutLine<'a> = (Cow<'a, str>, &'a str);

/// Applies a plan to the text.
pub(crate) fn apply(text: &str, plan: &Plan) -> Result<String, KustomizeError> {
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(body) => ("\u{feff}", body),
        None => ("", text),
    };
    let doc = model::parse_document(body)?;
    let key = plan.key();
    let existing = model::list(&doc, key).map_err(|p| locate(body, key, p))?;
    let outcomes = model::outcomes(plan, existing);
    let unchanged = doc.contains_key(key)
        && outcomes.len() == existing.len()
        && outcomes
            .iter()
            .enumerate()
            .all(|(i, o)| o.source == Some(i) && existing[i].as_mapping() == Some(&o.entry));
    if unchanged {
        return Ok(text.to_owned());
    }
    let layout = Layout::scan(body);
    if doc.contains_key(key) && layout.find_key(key).is_none() {
        return Err(KustomizeError::Invalid {
            line: 0,
            column: 0,
            problem: format!(
                "`{key}:` is written in a form this editor cannot find line by line (a flow-style `{{...}}` document or a multi-line key)"
            ),
            hint: format!("write the kustomization in block style with a plain `{key}:` key"),
        });
    }
    let edited = edit(&layout, plan, existing, &outcomes);
    let mut expected = doc.clone();
    expected.insert(
        Value::String(key.to_owned()),
        Value::Sequence(
            outcomes
                .iter()
                .map(|o| Value::Mapping(o.entry.clone()))
                .collect(),
        ),
    );
    verify(&edited, &expected, key)?;
    Ok(format!("{bom}{edited}"))
}

fn verify(edited: &str, expected: &Mapping, key: &str) -> Result<(), KustomizeError> {
    let actual = model::parse_document(edited).map_err(|err| KustomizeError::Verification {
        detail: format!("the result does not parse: {err}"),
    })?;
    if &actual == expected {
        return Ok(());
    }
    let differing: Vec<String> = expected
        .iter()
        .filter(|(k, v)| actual.get(*k) != Some(*v))
        .map(|(k, _)| k.as_str().unwrap_or("<non-string key>").to_owned())
        .chain(
            actual
                .keys()
                .filter(|k| !expected.contains_key(*k))
                .map(|k| k.as_str().unwrap_or("<non-string key>").to_owned()),
        )
        .collect();
    Err(KustomizeError::Verification {
        detail: if differing.iter().all(|k| k == key) {
            format!("`{key}` would not hold the requested entries")
        } else {
            format!("fields {} would change", differing.join(", "))
        },
    })
}

fn edit<'a>(layout: &Layout<'a>, plan: &Plan, existing: &[Value], outcomes: &[Outcome]) -> String {
    let lines = &layout.lines;
    let block = layout.block(plan.key());
    let alphabetical = block.as_ref().is_some_and(|b| {
        b.entries.iter().any(|e| {
            let marker = e
                .fields
                .iter()
                .position(|f| f.key == plan.alphabetical_marker());
            let name = e.fields.iter().position(|f| f.key == "name");
            matches!((marker, name), (Some(m), Some(n)) if m < n)
        })
    });
    let order = plan.field_order(alphabetical);
    let file_seq_indent = layout.sequence_style();
    let mut out: Vec<OutLine<'a>> = Vec::with_capacity(lines.len() + 8);
    let verbatim = |range: Range<usize>, out: &mut Vec<OutLine<'a>>| {
        out.extend(
            lines[range]
                .iter()
                .map(|l| (Cow::Borrowed(l.content), l.eol)),
        );
    };
    // New entries copy the existing items' layout (`- name` vs `-   name`).
    let key_gap = block
        .as_ref()
        .and_then(|b| Some(b.entries.iter().find(|e| !e.bare_dash)?.key_col - b.seq_indent?))
        .unwrap_or(2);
    let new_entry = |outcome: &Outcome, seq_indent: usize| {
        render_fresh_entry(&outcome.entry, None, order, seq_indent, key_gap)
    };
    let push_new = |out: &mut Vec<OutLine<'a>>, text_lines: Vec<String>| {
        out.extend(text_lines.into_iter().map(|l| (Cow::Owned(l), layout.eol)));
    };

    match block {
        None => {
            // No such key: append a new block after the last non-blank line (before `...`).
            let mut at = lines.len();
            while at > 0 && is_blank(lines[at - 1].content) {
                at -= 1;
            }
            if at > 0 && lines[at - 1].content.starts_with("...") {
                at -= 1;
            }
            verbatim(0..at, &mut out);
            if at > 0 && layout.sections_spaced() {
                out.push((Cow::Borrowed(""), layout.eol));
            }
            let top = " ".repeat(layout.top_indent);
            out.push((Cow::Owned(format!("{top}{}:", plan.key())), layout.eol));
            for outcome in outcomes {
                push_new(
                    &mut out,
                    new_entry(outcome, layout.top_indent + file_seq_indent),
                );
            }
            verbatim(at..lines.len(), &mut out);
        }
        Some(block) if !block.parsed || block.entries.len() != existing.len() => {
            // Flow style or something this editor does not walk: rewrite this one node.
            let k = block.key_line;
            verbatim(0..k, &mut out);
            let content = lines[k].content;
            let head =
                parse_key(content, layout.top_indent).map_or(content, |(_, c)| &content[..c]);
            let comment = if block.inline {
                String::new()
            } else {
                content[head.len()..].to_owned()
            };
            out.push((Cow::Owned(format!("{head}{comment}")), lines[k].eol));
            for outcome in outcomes {
                push_new(
                    &mut out,
                    new_entry(outcome, layout.top_indent + file_seq_indent),
                );
            }
            verbatim(block.end..lines.len(), &mut out);
        }
        Some(block) => {
            let seq_indent = block
                .seq_indent
                .unwrap_or(layout.top_indent + file_seq_indent);
            let first_entry = block.entries.first().map_or(block.end, |e| e.lead);
            verbatim(0..first_entry, &mut out);
            for outcome in outcomes {
                match outcome.source {
                    Some(i) => {
                        let entry = &block.entries[i];
                        let old = existing[i].as_mapping();
                        if old == Some(&outcome.entry) {
                            verbatim(entry.lead..entry.end, &mut out);
                            continue;
                        }
                        verbatim(entry.lead..entry.dash, &mut out);
                        if entry.simple && same_keys(entry, old) {
                            out.extend(edit_entry(
                                lines,
                                entry,
                                old,
                                &outcome.entry,
                                order,
                                layout.eol,
                            ));
                        } else {
                            push_new(
                                &mut out,
                                render_fresh_entry(&outcome.entry, old, order, seq_indent, key_gap),
                            );
                        }
                    }
                    None => push_new(&mut out, new_entry(outcome, seq_indent)),
                }
            }
            verbatim(block.end..lines.len(), &mut out);
        }
    }
    assemble(&out, layout)
}

fn assemble(out: &[OutLine<'_>], layout: &Layout<'_>) -> String {
    let ends_without_eol = layout.lines.last().is_some_and(|l| l.eol.is_empty());
    let mut text = String::with_capacity(out.iter().map(|(c, _)| c.len() + 2).sum());
    for (n, (content, eol)) in out.iter().enumerate() {
        text.push_str(content);
        let last = n + 1 == out.len();
        if last && ends_without_eol {
            break;
        }
        text.push_str(if eol.is_empty() { layout.eol } else { eol });
    }
    text
}

fn same_keys(entry: &Entry, old: Option<&Mapping>) -> bool {
    let Some(old) = old else {
        return false;
    };
    entry.fields.len() == old.len()
        && entry
            .fields
            .iter()
            .all(|f| old.contains_key(f.key.as_str()))
}

/// Position of a field in the preferred order (unknown fields last).
fn rank(order: &[&str], key: &str) -> usize {
    order.iter().position(|k| *k == key).unwrap_or(order.len())
}

/// An item of an entry being edited: a field's text (from its key on), or an untouched
/// comment/blank line; each with its line ending.
enum Item<'a> {
    Field {
        key: String,
        text: Cow<'a, str>,
        eol: &'a str,
    },
    Other(&'a str, &'a str),
}

/// Inserts a new field where the preferred order puts it among the existing fields.
fn insert_field<'a>(
    items: &mut Vec<Item<'a>>,
    order: &[&str],
    key: &str,
    text: String,
    eol: &'a str,
) {
    let r = rank(order, key);
    let after = items
        .iter()
        .rposition(|item| matches!(item, Item::Field { key: k, .. } if rank(order, k) <= r));
    let at = match after {
        Some(i) => i + 1,
        None => items
            .iter()
            .position(|item| matches!(item, Item::Field { .. }))
            .unwrap_or(items.len()),
    };
    items.insert(
        at,
        Item::Field {
            key: key.to_owned(),
            text: Cow::Owned(text),
            eol,
        },
    );
}

/// Edits one simple entry in place: changed values are replaced inside their line (the
/// key, spacing, quoting style and comment stay), removed fields lose their line, new
/// fields get a line where the preferred order puts them.
fn edit_entry<'a>(
    lines: &[Line<'a>],
    entry: &Entry,
    old: Option<&Mapping>,
    new: &Mapping,
    order: &[&str],
    eol: &'static str,
) -> Vec<OutLine<'a>> {
    let mut items: Vec<Item<'a>> = Vec::new();
    let mut fields = entry.fields.iter().peekable();
    for (i, line) in lines.iter().enumerate().take(entry.end).skip(entry.dash) {
        let Line {
            content,
            eol: line_eol,
        } = *line;
        let line_eol = if line_eol.is_empty() { eol } else { line_eol };
        match fields.peek() {
            Some(field) if field.line == i => {
                let key = field.key.clone();
                let text = match new.get(key.as_str()) {
                    None => None,
                    Some(value) if old.and_then(|o| o.get(key.as_str())) == Some(value) => {
                        Some(Cow::Borrowed(&content[entry.key_col..]))
                    }
                    Some(value) => Some(Cow::Owned(format!(
                        "{}{}{}",
                        &content[entry.key_col..field.value.start],
                        scalar::render_scalar(value, field.style).unwrap_or_default(),
                        &content[field.value.end..]
                    ))),
                };
                if let Some(text) = text {
                    items.push(Item::Field {
                        key,
                        text,
                        eol: line_eol,
                    });
                }
                fields.next();
            }
            _ if i == entry.dash => {}
            _ => items.push(Item::Other(content, line_eol)),
        }
    }
    for (key, value) in new {
        let Some(key) = key.as_str() else { continue };
        if !old.is_some_and(|o| o.contains_key(key)) {
            let rendered = scalar::render_scalar(value, Style::Plain).unwrap_or_default();
            insert_field(&mut items, order, key, format!("{key}: {rendered}"), eol);
        }
    }
    let dash = lines[entry.dash];
    let dash_prefix = &dash.content[..entry.key_col.min(dash.content.len())];
    let indent_str = " ".repeat(entry.key_col);
    let mut out: Vec<OutLine<'a>> = Vec::with_capacity(items.len() + 1);
    if entry.bare_dash {
        out.push((Cow::Borrowed(dash.content), dash.eol));
    }
    let mut dash_pending = !entry.bare_dash;
    for item in items {
        match item {
            Item::Other(content, eol) => out.push((Cow::Borrowed(content), eol)),
            Item::Field { text, eol, .. } => {
                let prefix = if dash_pending {
                    dash_pending = false;
                    dash_prefix
                } else {
                    indent_str.as_str()
                };
                out.push((Cow::Owned(format!("{prefix}{text}")), eol));
            }
        }
    }
    out
}

/// Renders an entry from scratch in block style: known fields in the preferred order (an
/// existing entry's fields keep their relative order).
fn render_fresh_entry(
    entry: &Mapping,
    old: Option<&Mapping>,
    order: &[&str],
    seq_indent: usize,
    key_gap: usize,
) -> Vec<String> {
    let mut keys: Vec<&str> = Vec::with_capacity(entry.len());
    let mut sorted: Vec<&str> = entry.keys().filter_map(Value::as_str).collect();
    if let Some(old) = old {
        keys.extend(
            old.keys()
                .filter_map(Value::as_str)
                .filter(|k| entry.contains_key(*k)),
        );
        sorted.retain(|k| !keys.contains(k));
    }
    sorted.sort_by_key(|k| rank(order, k));
    for key in sorted {
        let r = rank(order, key);
        let at = keys
            .iter()
            .rposition(|k| rank(order, k) <= r)
            .map_or(0, |i| i + 1);
        keys.insert(at, key);
    }
    let key_col = seq_indent + key_gap.max(2);
    let pad = " ".repeat(key_col);
    let mut out = Vec::with_capacity(keys.len());
    for (n, key) in keys.iter().enumerate() {
        let prefix = if n == 0 {
            format!(
                "{}-{}",
                " ".repeat(seq_indent),
                " ".repeat(key_col - seq_indent - 1)
            )
        } else {
            pad.clone()
        };
        let Some(value) = entry.get(*key) else {
            continue;
        };
        // Unknown keys are copied from the file, where they may have needed quotes.
        let key = scalar::render_string(key, Style::Plain);
        match scalar::render_scalar(value, Style::Plain) {
            Some(rendered) => out.push(format!("{prefix}{key}: {rendered}")),
            None => {
                out.push(format!("{prefix}{key}:"));
                let nested = serde_norway::to_string(value).unwrap_or_default();
                out.extend(nested.lines().map(|l| format!("{pad}  {l}")));
            }
        }
    }
    out
}
