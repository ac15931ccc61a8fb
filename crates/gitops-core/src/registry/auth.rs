//! Registry credentials: environment, Docker's `config.json` (`auths`, `credHelpers`,
//! `credsStore`) and the bearer-token challenge.
//!
//! Lookup order for a host: `GITOPS_REGISTRY_USERNAME`/`GITOPS_REGISTRY_PASSWORD`, then
//! `credHelpers.<host>`, then `auths.<host>` (base64 `auth` or `identitytoken`), then
//! `credsStore`, else anonymous. Secrets are never formatted by `Debug`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use serde::Deserialize;

use super::{RegistryError, Result};

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials.
    Anonymous,
    /// User name and password (or token used as password).
    Basic {
        /// User name (may be printed).
        username: String,
        /// Password (never printed).
        password: String,
    },
    /// An OAuth2 refresh token from `docker login` (`identitytoken`).
    IdentityToken(String),
}

impl Credentials {
    /// The user name, for messages.
    pub fn username(&self) -> Option<&str> {
        match self {
            Self::Basic { username, .. } => Some(username),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Self::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// Where credentials come from.
#[derive(Debug, Clone, Default)]
pub enum CredentialSource {
    /// Environment variables, then Docker's config (the default).
    #[default]
    Ambient,
    /// These credentials for every registry.
    Fixed(Credentials),
    /// Anonymous only.
    Anonymous,
}

/// Environment variable with the registry user name.
pub const ENV_USERNAME: &str = "GITOPS_REGISTRY_USERNAME";
/// Environment variable with the registry password or token.
pub const ENV_PASSWORD: &str = "GITOPS_REGISTRY_PASSWORD";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperOutput {
    username: String,
    secret: String,
}

/// Docker's config file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker").join("config.json"))
}

/// The keys under which Docker may have stored a host (`host`, `https://host`,
/// `https://host/v1/`; Docker Hub as `https://index.docker.io/v1/`).
fn host_keys(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_owned(),
        format!("https://{host}"),
        format!("http://{host}"),
        format!("https://{host}/v1/"),
        format!("https://{host}/v2/"),
    ];
    if host == "docker.io" || host == "registry-1.docker.io" || host == "index.docker.io" {
        keys.push("https://index.docker.io/v1/".to_owned());
        keys.push("index.docker.io".to_owned());
    }
    keys
}

/// Credentials for `host` from `source`.
pub fn lookup(host: &str, source: &CredentialSource) -> Result<Credentials> {
    match source {
        CredentialSource::Fixed(c) => Ok(c.clone()),
        CredentialSource::Anonymous => Ok(Credentials::Anonymous),
        CredentialSource::Ambient => {
            if let (Ok(username), Ok(password)) =
                (std::env::var(ENV_USERNAME), std::env::var(ENV_PASSWORD))
                && !username.is_empty()
            {
                return Ok(Credentials::Basic { username, password });
            }
            match docker_config_path() {
                Some(path) if path.is_file() => {
                    let text =
                        std::fs::read_to_string(&path).map_err(|e| RegistryError::Credentials {
                            registry: host.to_owned(),
                            reason: format!("cannot read {}: {e}", path.display()),
                        })?;
                    from_docker_config(host, &text, &path.display().to_string())
                }
                _ => Ok(Credentials::Anonymous),
            }
        }
    }
}

/// Credentials for `host` from the text of a Docker `config.json` (`origin` names it in
/// errors). Runs `docker-credential-<helper> get` where the config says so.
pub fn from_docker_config(host: &str, text: &str, origin: &str) -> Result<Credentials> {
    let config: DockerConfig =
        serde_json::from_str(text).map_err(|e| RegistryError::Credentials {
            registry: host.to_owned(),
            reason: format!("{origin} is not a valid Docker config: {e}"),
        })?;
    let keys = host_keys(host);
    if let Some(helper) = keys.iter().find_map(|k| config.cred_helpers.get(k)) {
        return run_helper(helper, host);
    }
    if let Some(entry) = keys.iter().find_map(|k| config.auths.get(k)) {
        if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Credentials::IdentityToken(token.clone()));
        }
        if let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| RegistryError::Credentials {
                    registry: host.to_owned(),
                    reason: format!("auths.{host}.auth in {origin} is not base64 of user:password"),
                })?;
            let (username, password) =
                decoded
                    .split_once(':')
                    .ok_or_else(|| RegistryError::Credentials {
                        registry: host.to_owned(),
                        reason: format!(
                            "auths.{host}.auth in {origin} has no ':' between user and password"
                        ),
                    })?;
            return Ok(Credentials::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            });
        }
        if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
            return Ok(Credentials::Basic {
                username: username.clone(),
                password: password.clone(),
            });
        }
    }
    if let Some(store) = config.creds_store.as_ref().filter(|s| !s.is_empty()) {
        return match run_helper(store, host) {
            // A store that has nothing for this host means anonymous, not an error.
            Err(RegistryError::Credentials { reason, .. })
                if reason.contains("credentials not found") =>
            {
                Ok(Credentials::Anonymous)
            }
            other => other,
        };
    }
    Ok(Credentials::Anonymous)
}

/// Runs `docker-credential-<helper> get` with the host on stdin.
fn run_helper(helper: &str, host: &str) -> Result<Credentials> {
    use std::io::Write as _;
    let program = format!("docker-credential-{helper}");
    let mut child = std::process::Command::new(&program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| RegistryError::Credentials {
            registry: host.to_owned(),
            reason: format!(
                "cannot run {program}: {e}; install it or remove it from the Docker config"
            ),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(host.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| RegistryError::Credentials {
            registry: host.to_owned(),
            reason: format!("{program} get failed: {e}"),
        })?;
    if !output.status.success() {
        // Helpers print "credentials not found in native keychain" on stdout.
        let said = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        return Err(RegistryError::Credentials {
            registry: host.to_owned(),
            reason: format!("{program} get exited with {}: {said}", output.status),
        });
    }
    let parsed: HelperOutput =
        serde_json::from_slice(&output.stdout).map_err(|e| RegistryError::Credentials {
            registry: host.to_owned(),
            reason: format!("{program} get printed something that is not its JSON answer: {e}"),
        })?;
    if parsed.username == "<token>" {
        Ok(Credentials::IdentityToken(parsed.secret))
    } else {
        Ok(Credentials::Basic {
            username: parsed.username,
            password: parsed.secret,
        })
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Bearer realm=...,service=...`.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// `service` parameter.
        service: Option<String>,
    },
    /// `Basic realm=...`.
    Basic,
}

/// Parses a `WWW-Authenticate` header value.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    Some(Challenge::Bearer {
        realm: params.get("realm")?.clone(),
        service: params.get("service").cloned(),
    })
}

/// `k="v",k2=v2` (quotes optional, commas inside quotes kept).
fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_owned());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn reads_auths_from_docker_config() {
        let text = r#"{"auths":{"ghcr.io":{"auth":"dXNlcjpzM2NyZXQ="},"r.example":{"identitytoken":"tok"}}}"#;
        let c = from_docker_config("ghcr.io", text, "config.json").expect("creds");
        assert_eq!(c.username(), Some("user"));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(
            from_docker_config("r.example", text, "config.json").expect("creds"),
            Credentials::IdentityToken("tok".into())
        );
        assert_eq!(
            from_docker_config("other.example", text, "config.json").expect("creds"),
            Credentials::Anonymous
        );
    }

    proptest::proptest! {
        #[test]
        fn challenge_parser_never_panics(header in ".{0,200}") {
            let _ = parse_challenge(&header);
        }

        #[test]
        fn docker_config_reader_never_panics(text in ".{0,300}", host in "[a-z0-9.:]{1,30}") {
            let _ = from_docker_config(&host, &text, "config.json");
        }

        #[test]
        fn bearer_parameters_round_trip(realm in "https://[a-z]{1,10}/[a-z]{0,10}", service in "[a-z.]{1,20}") {
            let header = format!(r#"Bearer realm="{realm}",service="{service}""#);
            proptest::prop_assert_eq!(
                parse_challenge(&header),
                Some(Challenge::Bearer { realm, service: Some(service) })
            );
        }
    }

    #[test]
    fn bad_auth_is_an_error_without_the_secret() {
        let text = r#"{"auths":{"ghcr.io":{"auth":"!!!not-base64"}}}"#;
        let err = from_docker_config("ghcr.io", text, "config.json").expect_err("bad");
        assert!(err.to_string().contains("not base64"));
        assert!(!err.to_string().contains("not-base64"));
    }
}
