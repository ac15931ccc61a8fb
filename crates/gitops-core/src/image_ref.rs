//! OCI image references: `[registry[:port]/]path[:tag][@sha256:<hex>]`, and the image-layout
//! form `oci:PATH[:tag][@digest]` for a folder on disk.
//!
//! Parsing is pure and never panics. References are kept as written (no `docker.io/library/`
//! expansion): a reference without a registry part has `registry == None`.
//!
//! ```
//! use gitops_core::image_ref::ImageRef;
//! let r = ImageRef::parse("registry.example.com:5000/app/backend:dev-latest").unwrap();
//! assert_eq!(r.registry.as_deref(), Some("registry.example.com:5000"));
//! assert_eq!(r.repository, "app/backend");
//! assert_eq!(r.tag.as_deref(), Some("dev-latest"));
//! assert_eq!(r.to_string(), "registry.example.com:5000/app/backend:dev-latest");
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::tag::is_valid_tag;

/// Why an image reference could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageRefError {
    /// The reference is empty.
    #[error("empty image reference; expected [registry[:port]/]path[:tag][@sha256:digest]")]
    Empty,
    /// The repository path is missing or malformed.
    #[error(
        "invalid repository '{repository}' in image reference '{reference}': path components are lower-case letters, digits and separators (., _, __, -), joined by '/'"
    )]
    InvalidRepository {
        /// The whole reference.
        reference: String,
        /// The repository part.
        repository: String,
    },
    /// The registry host is malformed.
    #[error("invalid registry '{registry}' in image reference '{reference}': expected host[:port]")]
    InvalidRegistry {
        /// The whole reference.
        reference: String,
        /// The registry part.
        registry: String,
    },
    /// The tag is not a valid OCI tag.
    #[error(
        "invalid tag '{tag}' in image reference '{reference}': 1-128 characters of [A-Za-z0-9_.-], not starting with '.' or '-'"
    )]
    InvalidTag {
        /// The whole reference.
        reference: String,
        /// The tag part.
        tag: String,
    },
    /// The digest is not `algorithm:hex` with a known algorithm and length.
    #[error(
        "invalid digest '{digest}' in image reference '{reference}': expected sha256:<64 hex> or sha512:<128 hex>"
    )]
    InvalidDigest {
        /// The whole reference.
        reference: String,
        /// The digest part.
        digest: String,
    },
    /// An `oci:` reference without a path.
    #[error("image-layout reference '{reference}' has no path; expected oci:PATH[:tag]")]
    MissingLayoutPath {
        /// The whole reference.
        reference: String,
    },
}

/// Where an image lives: a registry (or the default one) or an OCI image-layout folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// An OCI distribution registry (`registry` is its host, if given).
    Registry,
    /// An OCI image-layout folder on disk (`oci:PATH`); `repository` holds the path.
    Layout,
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// Registry or layout.
    pub transport: Transport,
    /// Registry host with optional port (`ghcr.io`, `localhost:5000`); `None` for a bare
    /// path such as `backend:1.0`, and always `None` for a layout reference.
    pub registry: Option<String>,
    /// Repository path (`app/backend`), or the folder path for a layout reference.
    pub repository: String,
    /// Tag, if any.
    pub tag: Option<String>,
    /// Digest (`sha256:...`), if any.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `[registry[:port]/]path[:tag][@digest]` or `oci:PATH[:tag][@digest]`.
    ///
    /// The first path component is a registry when it contains `.` or `:` or is `localhost`
    /// (the rule Docker and containerd use).
    ///
    /// ```
    /// use gitops_core::image_ref::{ImageRef, Transport};
    /// let r = ImageRef::parse("oci:./registry/backend:dev-latest").unwrap();
    /// assert_eq!(r.transport, Transport::Layout);
    /// assert_eq!(r.repository, "./registry/backend");
    /// assert_eq!(r.tag.as_deref(), Some("dev-latest"));
    /// assert!(ImageRef::parse("Bad Ref").is_err());
    /// ```
    pub fn parse(reference: &str) -> Result<Self, ImageRefError> {
        let text = reference.trim();
        if text.is_empty() {
            return Err(ImageRefError::Empty);
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                check_digest(reference, digest)?;
                (rest, Some(digest.to_ascii_lowercase()))
            }
            None => (text, None),
        };
        if let Some(path) = rest.strip_prefix("oci:") {
            return parse_layout(reference, path, digest);
        }
        // The tag is after the last ':' that follows the last '/'.
        let last_slash = rest.rfind('/');
        let (name, tag) = match rest.rfind(':') {
            Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
                (&rest[..colon], Some(&rest[colon + 1..]))
            }
            _ => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(reference, tag)?;
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                check_registry(reference, first)?;
                (Some(first.to_owned()), path)
            }
            _ => (None, name),
        };
        check_repository(reference, repository)?;
        Ok(Self {
            transport: Transport::Registry,
            registry,
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// A registry reference from its parts (no tag or digest); the caller's parts are
    /// validated like [`ImageRef::parse`] would.
    pub fn new(registry: Option<&str>, repository: &str) -> Result<Self, ImageRefError> {
        let text = match registry {
            Some(host) => format!("{host}/{repository}"),
            None => repository.to_owned(),
        };
        let parsed = Self::parse(&text)?;
        if parsed.tag.is_some() || parsed.digest.is_some() || parsed.registry.as_deref() != registry
        {
            return Err(ImageRefError::InvalidRepository {
                reference: text,
                repository: repository.to_owned(),
            });
        }
        Ok(parsed)
    }

    /// The same image with this tag (validated), keeping any digest.
    ///
    /// ```
    /// use gitops_core::image_ref::ImageRef;
    /// let r = ImageRef::parse("ghcr.io/acme/api").unwrap().with_tag("prod-latest").unwrap();
    /// assert_eq!(r.to_string(), "ghcr.io/acme/api:prod-latest");
    /// ```
    pub fn with_tag(&self, tag: &str) -> Result<Self, ImageRefError> {
        check_tag(&self.to_string(), tag)?;
        Ok(Self {
            tag: Some(tag.to_owned()),
            ..self.clone()
        })
    }

    /// The same image pinned to this digest (validated), keeping any tag.
    pub fn with_digest(&self, digest: &str) -> Result<Self, ImageRefError> {
        check_digest(&self.to_string(), digest)?;
        Ok(Self {
            digest: Some(digest.to_ascii_lowercase()),
            ..self.clone()
        })
    }

    /// The same image without tag and digest.
    pub fn without_tag_or_digest(&self) -> Self {
        Self {
            tag: None,
            digest: None,
            ..self.clone()
        }
    }

    /// `registry/repository` (or `oci:path`) without tag or digest.
    pub fn name(&self) -> String {
        self.without_tag_or_digest().to_string()
    }

    /// Whether this is an `oci:` image-layout reference.
    pub fn is_layout(&self) -> bool {
        self.transport == Transport::Layout
    }

    /// What should be pulled: the digest when known, else the tag, else `latest`.
    pub fn reference_or_latest(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

fn parse_layout(
    reference: &str,
    path: &str,
    digest: Option<String>,
) -> Result<ImageRef, ImageRefError> {
    // A tag is what follows the last ':' if it is a valid tag and contains no '/'.
    let (path, tag) = match path.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') && !p.is_empty() => {
            check_tag(reference, t)?;
            (p, Some(t.to_owned()))
        }
        _ => (path, None),
    };
    if path.is_empty() {
        return Err(ImageRefError::MissingLayoutPath {
            reference: reference.to_owned(),
        });
    }
    Ok(ImageRef {
        transport: Transport::Layout,
        registry: None,
        repository: path.to_owned(),
        tag,
        digest,
    })
}

fn check_tag(reference: &str, tag: &str) -> Result<(), ImageRefError> {
    if is_valid_tag(tag) {
        Ok(())
    } else {
        Err(ImageRefError::InvalidTag {
            reference: reference.to_owned(),
            tag: tag.to_owned(),
        })
    }
}

fn check_digest(reference: &str, digest: &str) -> Result<(), ImageRefError> {
    let ok = match digest.split_once(':') {
        Some(("sha256", hex)) => hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        Some(("sha512", hex)) => hex.len() == 128 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ImageRefError::InvalidDigest {
            reference: reference.to_owned(),
            digest: digest.to_owned(),
        })
    }
}

fn check_registry(reference: &str, registry: &str) -> Result<(), ImageRefError> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (registry, None),
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(ImageRefError::InvalidRegistry {
            reference: reference.to_owned(),
            registry: registry.to_owned(),
        })
    }
}

/// Path components: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, joined by `/`.
fn check_repository(reference: &str, repository: &str) -> Result<(), ImageRefError> {
    let component_ok = |c: &str| {
        let bytes = c.as_bytes();
        if bytes.is_empty()
            || !bytes[0].is_ascii_alphanumeric()
            || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
        {
            return false;
        }
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b.is_ascii_lowercase() || b.is_ascii_digit() {
                i += 1;
                continue;
            }
            // A separator run: '.', '_', '__', or one or more '-'.
            let start = i;
            while i < bytes.len() && matches!(bytes[i], b'.' | b'_' | b'-') {
                i += 1;
            }
            let sep = &c[start..i];
            let valid = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
            if !valid || sep.is_empty() {
                return false;
            }
        }
        true
    };
    if repository.len() <= 255 && repository.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(ImageRefError::InvalidRepository {
            reference: reference.to_owned(),
            repository: repository.to_owned(),
        })
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transport {
            Transport::Layout => write!(f, "oci:{}", self.repository)?,
            Transport::Registry => match &self.registry {
                Some(registry) => write!(f, "{registry}/{}", self.repository)?,
                None => f.write_str(&self.repository)?,
            },
        }
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ImageRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ImageRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> ImageRef {
        match ImageRef::parse(s) {
            Ok(r) => r,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn parses_common_forms() {
        let r = ok("backend");
        assert_eq!(
            (r.registry, r.repository.as_str(), r.tag),
            (None, "backend", None)
        );
        let r = ok("localhost:5000/backend:1.0");
        assert_eq!(r.registry.as_deref(), Some("localhost:5000"));
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        let r = ok("localhost/backend");
        assert_eq!(r.registry.as_deref(), Some("localhost"));
        let r = ok("library/nginx:1.27");
        assert_eq!(r.registry, None);
        assert_eq!(r.repository, "library/nginx");
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = ok(&format!("ghcr.io/acme/api:v1@{digest}"));
        assert_eq!(r.digest.as_deref(), Some(digest.as_str()));
        assert_eq!(r.to_string(), format!("ghcr.io/acme/api:v1@{digest}"));
        let r = ok(&format!("127.0.0.1:5000/a/b@{digest}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.name(), "127.0.0.1:5000/a/b");
    }

    #[test]
    fn parses_layout_forms() {
        let r = ok("oci:/tmp/layout");
        assert_eq!((r.repository.as_str(), r.tag), ("/tmp/layout", None));
        let r = ok("oci:./store:prod-latest");
        assert_eq!(r.repository, "./store");
        assert_eq!(r.to_string(), "oci:./store:prod-latest");
        assert!(ImageRef::parse("oci:").is_err());
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "UPPER/case",
            "a//b",
            "repo:-bad",
            "repo@sha256:abc",
            "host..com/x",
            "ghcr.io/",
            "a/b:",
            "x:y:z",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn with_tag_and_digest() {
        let base = ok("registry.example.com/app/backend");
        let tagged = base.with_tag("dev-latest").expect("valid");
        assert_eq!(
            tagged.to_string(),
            "registry.example.com/app/backend:dev-latest"
        );
        assert!(base.with_tag("no/slash").is_err());
        let pinned = tagged
            .with_digest(&format!("sha256:{}", "B".repeat(64)))
            .expect("valid");
        assert!(
            pinned
                .to_string()
                .ends_with(&format!("@sha256:{}", "b".repeat(64)))
        );
        assert!(base.with_digest("md5:00").is_err());
        assert_eq!(
            ImageRef::new(Some("ghcr.io"), "acme/x").expect("ok"),
            ok("ghcr.io/acme/x")
        );
        assert!(ImageRef::new(None, "x:1").is_err());
    }
}
