//! Kustomize's `edit set image` / `edit set replicas` argument grammar.
//!
//! Mirrors `kustomize/commands/edit/set/setimage.go` and `api/internal/image/image.go` at
//! kustomize v5.5.0 (the version `kubectl kustomize` embeds), with stricter validation of the
//! pieces: kustomize happily writes an empty tag or a malformed digest that only fails (or
//! silently does nothing) at build time.

use super::{FieldEdit, ImageEdit, KustomizeError, ReplicaEdit};

/// `*` as newName, newTag or digest keeps the existing value.
pub(crate) const PRESERVE: &str = "*";

/// Splits an image reference into `(name, tag, digest)` exactly like kustomize's
/// `image.Split`: everything before the first `/` is ignored when looking for `:` and `@`
/// (so `localhost:5000/app:v1` is `localhost:5000/app` + `v1`), which also yields kustomize's
/// quirk that a bare `localhost:5000` is name `localhost`, tag `5000`.
///
/// Returns `None` for the tag or digest when its separator is absent.
pub fn split_image(reference: &str) -> (&str, Option<&str>, Option<&str>) {
    let offset = match reference.find('/') {
        Some(index) if index > 0 => index,
        _ => 0,
    };
    let search = &reference[offset..];
    let at = search.find('@').map(|i| i + offset);
    let colon = search.find(':').map(|i| i + offset);
    match (colon, at) {
        (None, None) => (reference, None, None),
        (None, Some(at)) => (&reference[..at], None, Some(&reference[at + 1..])),
        (Some(colon), Some(at)) if at < colon => {
            (&reference[..at], None, Some(&reference[at + 1..]))
        }
        (Some(colon), Some(at)) => (
            &reference[..colon],
            Some(&reference[colon + 1..at]),
            Some(&reference[at + 1..]),
        ),
        (Some(colon), None) => (&reference[..colon], Some(&reference[colon + 1..]), None),
    }
}

/// Parses one `kustomize edit set image` argument.
///
/// Forms: `<image>=<newimage>:<newtag>`, `<image>=<newimage>@<digest>`,
/// `<image>=<newimage>:<newtag>@<digest>`, `<image>=<newimage>`, `<image>:<newtag>`,
/// `<image>:<newtag>@<digest>`, `<image>@<digest>`; `*` in place of newName, newTag or digest
/// keeps the existing value.
pub fn parse_image_arg(arg: &str) -> Result<ImageEdit, KustomizeError> {
    let invalid = |reason: String| KustomizeError::InvalidImageArg {
        arg: arg.to_owned(),
        reason,
    };
    let (key, value) = match arg.split_once('=') {
        Some((key, value)) => (Some(key), value),
        None => (None, arg),
    };
    let (name, tag, digest) = split_image(value);
    if key.is_none() && tag.is_none() && digest.is_none() {
        return Err(invalid(
            "it has neither `=<newimage>`, `:<newtag>` nor `@<digest>`".to_owned(),
        ));
    }
    for (part, separator) in [(tag, ':'), (digest, '@')] {
        if part == Some("") {
            return Err(invalid(format!("nothing follows `{separator}`")));
        }
    }
    if key.is_some() && name.is_empty() {
        return Err(invalid(
            "nothing follows `=` (give the new image name, or `*`)".to_owned(),
        ));
    }
    let image_name = key.unwrap_or(name);
    check_name(image_name).map_err(|problem| invalid(format!("image name {problem}")))?;
    if image_name == PRESERVE {
        return Err(invalid(
            "`*` keeps a field's value; it cannot stand for the image name".to_owned(),
        ));
    }
    let new_name = match key {
        None => FieldEdit::Unspecified,
        Some(_) if name == PRESERVE => FieldEdit::Keep,
        Some(_) => {
            check_name(name).map_err(|problem| invalid(format!("new image name {problem}")))?;
            FieldEdit::Set(name.to_owned())
        }
    };
    let new_tag = match tag {
        None => FieldEdit::Unspecified,
        Some(PRESERVE) => FieldEdit::Keep,
        Some(tag) => {
            check_tag(tag).map_err(|problem| invalid(format!("tag `{tag}` {problem}")))?;
            FieldEdit::Set(tag.to_owned())
        }
    };
    let digest = match digest {
        None => FieldEdit::Unspecified,
        Some(PRESERVE) => FieldEdit::Keep,
        Some(digest) => {
            check_digest(digest)
                .map_err(|problem| invalid(format!("digest `{digest}` {problem}")))?;
            FieldEdit::Set(digest.to_owned())
        }
    };
    Ok(ImageEdit {
        name: image_name.to_owned(),
        new_name,
        new_tag,
        digest,
    })
}

/// Parses several `set image` arguments; later arguments for the same image name replace
/// earlier ones (as in kustomize). None at all is `no image specified`.
pub fn parse_image_args<S: AsRef<str>>(args: &[S]) -> Result<Vec<ImageEdit>, KustomizeError> {
    if args.is_empty() {
        return Err(KustomizeError::NoImageSpecified);
    }
    let mut edits: Vec<ImageEdit> = Vec::with_capacity(args.len());
    for arg in args {
        let edit = parse_image_arg(arg.as_ref())?;
        match edits.iter_mut().find(|e| e.name == edit.name) {
            Some(slot) => *slot = edit,
            None => edits.push(edit),
        }
    }
    Ok(edits)
}

/// Parses one `kustomize edit set replicas` argument: `<name>=<count>`.
pub fn parse_replica_arg(arg: &str) -> Result<ReplicaEdit, KustomizeError> {
    let invalid = |reason: String| KustomizeError::InvalidReplicaArg {
        arg: arg.to_owned(),
        reason,
    };
    let Some((name, count)) = arg.split_once('=') else {
        return Err(invalid("it has no `=<count>`".to_owned()));
    };
    check_name(name).map_err(|problem| invalid(format!("resource name {problem}")))?;
    if count.contains('=') {
        return Err(invalid("it has more than one `=`".to_owned()));
    }
    let count: i64 = count
        .parse()
        .map_err(|_| invalid(format!("count `{count}` is not a whole number")))?;
    if count < 0 {
        return Err(invalid(format!("count {count} is negative")));
    }
    Ok(ReplicaEdit {
        name: name.to_owned(),
        count,
    })
}

/// Parses several `set replicas` arguments; later ones win for the same name.
pub fn parse_replica_args<S: AsRef<str>>(args: &[S]) -> Result<Vec<ReplicaEdit>, KustomizeError> {
    if args.is_empty() {
        return Err(KustomizeError::NoReplicaSpecified);
    }
    let mut edits: Vec<ReplicaEdit> = Vec::with_capacity(args.len());
    for arg in args {
        let edit = parse_replica_arg(arg.as_ref())?;
        match edits.iter_mut().find(|e| e.name == edit.name) {
            Some(slot) => *slot = edit,
            None => edits.push(edit),
        }
    }
    Ok(edits)
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".to_owned());
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{name}` contains {c:?}"));
    }
    Ok(())
}

/// OCI tag grammar: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub(crate) fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err("is empty (nothing after `:`)".to_owned());
    }
    if tag.len() > 128 {
        return Err(format!("is {} characters long (at most 128)", tag.len()));
    }
    let mut chars = tag.chars();
    if chars
        .next()
        .is_some_and(|c| !(c.is_ascii_alphanumeric() || c == '_'))
    {
        return Err("must start with a letter, digit or `_`".to_owned());
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(format!(
            "contains {c:?} (tags may hold letters, digits, `.`, `_` and `-`)"
        ));
    }
    Ok(())
}

/// OCI digest grammar: `algorithm:encoded`; `sha256`/`sha512` need lowercase hex of the
/// right length.
pub(crate) fn check_digest(digest: &str) -> Result<(), String> {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return Err("has no `algorithm:` prefix (expected `sha256:<64 hex digits>`)".to_owned());
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if !algorithm_ok {
        return Err(format!("has an invalid algorithm `{algorithm}`"));
    }
    let expected_len = match algorithm {
        "sha256" => Some(64),
        "sha512" => Some(128),
        _ => None,
    };
    if let Some(len) = expected_len {
        if encoded.len() != len
            || !encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!(
                "is not `{algorithm}:` followed by {len} lowercase hex digits"
            ));
        }
    } else if encoded.is_empty()
        || !encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
    {
        return Err("has an invalid encoded part".to_owned());
    }
    Ok(())
}
