//! Where each key of a YAML document sits (line and column), so that errors found after
//! deserialising (cross-field checks) can still point at the text.

use std::fmt;

use saphyr_parser::{Event, Parser, Span};

/// One step of a path into the document: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSeg {
    /// A mapping key.
    Key(String),
    /// A sequence index (0-based).
    Index(usize),
}

impl PathSeg {
    /// A key step.
    pub fn key(name: impl Into<String>) -> Self {
        Self::Key(name.into())
    }
}

/// A dotted rendering of a path: `environments.staging.tag_prefix`, `images[1].paths[0]`.
#[derive(Debug, Clone, Copy)]
pub struct DisplayPath<'a>(pub &'a [PathSeg]);

impl fmt::Display for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSeg::Key(k) if i == 0 => f.write_str(k)?,
                PathSeg::Key(k) => write!(f, ".{k}")?,
                PathSeg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl Position {
    fn of(span: Span) -> Self {
        Self {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Map(Vec<Entry>),
    Seq(Vec<Node>),
    Scalar,
    Alias,
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) at: Position,
    pub(crate) kind: NodeKind,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) at: Position,
    pub(crate) value: Node,
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) message: String,
    pub(crate) at: Position,
}

/// The positions of every node of the first document of a YAML text.
#[derive(Debug, Clone)]
pub(crate) struct SourceMap {
    pub(crate) root: Option<Node>,
}

/// Deepest nesting accepted; deeper documents are refused rather than risking the stack.
const MAX_DEPTH: usize = 128;

impl SourceMap {
    /// Parses `text`; a syntax error is returned with its position.
    pub(crate) fn parse(text: &str) -> Result<Self, SyntaxError> {
        let mut events = Parser::new_from_str(text);
        let mut next = move || -> Result<Option<(Event<'_>, Span)>, SyntaxError> {
            match events.next() {
                None => Ok(None),
                Some(Ok(ev)) => Ok(Some(ev)),
                Some(Err(e)) => Err(SyntaxError {
                    message: e.info().to_owned(),
                    at: Position {
                        line: e.marker().line(),
                        column: e.marker().col() + 1,
                    },
                }),
            }
        };
        // Skip to the first node of the first document.
        loop {
            match next()? {
                None | Some((Event::StreamEnd, _)) => return Ok(Self { root: None }),
                Some((Event::StreamStart | Event::DocumentStart(_), _)) => {}
                Some((event, span)) => {
                    let root = build(event, span, &mut next, 0)?;
                    return Ok(Self { root: Some(root) });
                }
            }
        }
    }

    /// The position of the deepest existing part of `path`: a key's own position for a
    /// key step, the element's position for an index step. `None` when not even the first
    /// step exists (the value comes from a default) or the document is empty.
    pub(crate) fn locate(&self, path: &[PathSeg]) -> Option<Position> {
        let mut node = self.root.as_ref()?;
        let mut at = None;
        for seg in path {
            match (seg, &node.kind) {
                (PathSeg::Key(k), NodeKind::Map(entries)) => {
                    match entries.iter().find(|e| &e.key == k) {
                        Some(entry) => {
                            at = Some(entry.at);
                            node = &entry.value;
                        }
                        None => break,
                    }
                }
                (PathSeg::Index(i), NodeKind::Seq(items)) => match items.get(*i) {
                    Some(item) => {
                        at = Some(item.at);
                        node = item;
                    }
                    None => break,
                },
                _ => break,
            }
        }
        at
    }
}

fn build<'n>(
    event: Event<'n>,
    span: Span,
    next: &mut impl FnMut() -> Result<Option<(Event<'n>, Span)>, SyntaxError>,
    depth: usize,
) -> Result<Node, SyntaxError> {
    let at = Position::of(span);
    if depth > MAX_DEPTH {
        return Err(SyntaxError {
            message: format!("nesting deeper than {MAX_DEPTH} levels"),
            at,
        });
    }
    let unexpected_end = |at| SyntaxError {
        message: "unexpected end of document".to_owned(),
        at,
    };
    let kind = match event {
        Event::Scalar(..) => NodeKind::Scalar,
        Event::Alias(_) => NodeKind::Alias,
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            loop {
                match next()? {
                    None => return Err(unexpected_end(at)),
                    Some((Event::SequenceEnd, _)) => break,
                    Some((ev, sp)) => items.push(build(ev, sp, next, depth + 1)?),
                }
            }
            NodeKind::Seq(items)
        }
        Event::MappingStart(..) => {
            let mut entries = Vec::new();
            loop {
                let (key_event, key_span) = match next()? {
                    None => return Err(unexpected_end(at)),
                    Some((Event::MappingEnd, _)) => break,
                    Some(pair) => pair,
                };
                let key = match &key_event {
                    Event::Scalar(text, ..) => Some(text.to_string()),
                    _ => None,
                };
                let key_at = Position::of(key_span);
                // Complex keys are walked (to stay in step) but cannot be looked up.
                if key.is_none() {
                    build(key_event, key_span, next, depth + 1)?;
                }
                let value = match next()? {
                    None => return Err(unexpected_end(at)),
                    Some((ev, sp)) => build(ev, sp, next, depth + 1)?,
                };
                if let Some(key) = key {
                    entries.push(Entry {
                        key,
                        at: key_at,
                        value,
                    });
                }
            }
            NodeKind::Map(entries)
        }
        _ => NodeKind::Scalar,
    };
    Ok(Node { at, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_block_and_flow_keys() {
        let text = "a: 1\nenvs:\n  dev:\n    retention: { max_age: 7d }\nlist:\n  - x\n  - y: 2\n";
        let map = SourceMap::parse(text).expect("valid");
        let key = |k: &str| PathSeg::key(k);
        assert_eq!(
            map.locate(&[key("envs"), key("dev"), key("retention"), key("max_age")]),
            Some(Position {
                line: 4,
                column: 18
            })
        );
        assert_eq!(
            map.locate(&[key("list"), PathSeg::Index(1), key("y")]),
            Some(Position { line: 7, column: 5 })
        );
        // Missing parts resolve to the deepest existing one.
        assert_eq!(
            map.locate(&[key("envs"), key("nope")]),
            Some(Position { line: 2, column: 1 })
        );
        assert_eq!(
            DisplayPath(&[key("images"), PathSeg::Index(1), key("paths")]).to_string(),
            "images[1].paths"
        );
    }

    #[test]
    fn reports_syntax_errors_with_position() {
        let err = SourceMap::parse("a: [1, 2\nb: 3\n").expect_err("invalid");
        assert!(err.at.line >= 1);
        assert!(SourceMap::parse("").expect("empty").root.is_none());
    }
}
