//! Talking to remotes: credentials, fetch, push (with server-side rejection detection) and
//! ls-remote.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::path::PathBuf;

use git2::{
    AutotagOption, Cred, CredentialType, Direction, FetchOptions, Oid, PushOptions,
    RemoteCallbacks, Repository,
};

/// Most times libgit2 may ask for credentials in one operation before we give up (it asks
/// again after every refused credential).
const MAX_CREDENTIAL_TRIES: u32 = 3;

/// Credentials for remotes: an HTTPS token, an SSH key file, else the SSH agent.
#[derive(Clone, Default)]
pub struct GitCredentials {
    /// Token sent as the HTTPS password (user `x-access-token` unless the URL names one).
    pub token: Option<String>,
    /// Private key file for SSH remotes; without it the SSH agent is asked.
    pub ssh_key: Option<PathBuf>,
    /// Passphrase of `ssh_key`.
    pub ssh_key_passphrase: Option<String>,
}

impl fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets are never printed.
        f.debug_struct("GitCredentials")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ssh_key", &self.ssh_key)
            .field(
                "ssh_key_passphrase",
                &self.ssh_key_passphrase.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl GitCredentials {
    /// Reads `GITOPS_GIT_TOKEN` (else `GITHUB_TOKEN`), `GITOPS_SSH_KEY` and
    /// `GITOPS_SSH_KEY_PASSPHRASE` from the environment.
    pub fn from_env() -> Self {
        let non_empty = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            token: non_empty("GITOPS_GIT_TOKEN").or_else(|| non_empty("GITHUB_TOKEN")),
            ssh_key: non_empty("GITOPS_SSH_KEY").map(PathBuf::from),
            ssh_key_passphrase: non_empty("GITOPS_SSH_KEY_PASSPHRASE"),
        }
    }
}

fn callbacks<'a>(credentials: &'a GitCredentials, tries: &'a Cell<u32>) -> RemoteCallbacks<'a> {
    let mut callbacks = RemoteCallbacks::new();
    callbacks.credentials(move |_url, username, allowed| {
        tries.set(tries.get() + 1);
        if tries.get() > MAX_CREDENTIAL_TRIES {
            return Err(git2::Error::new(
                git2::ErrorCode::Auth,
                git2::ErrorClass::Net,
                "the remote refused the credentials; set GITOPS_GIT_TOKEN (HTTPS) or GITOPS_SSH_KEY / an SSH agent (SSH)",
            ));
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            let user = username.unwrap_or("git");
            return match &credentials.ssh_key {
                Some(key) => Cred::ssh_key(
                    user,
                    None,
                    key,
                    credentials.ssh_key_passphrase.as_deref(),
                ),
                None => Cred::ssh_key_from_agent(user),
            };
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
            && let Some(token) = &credentials.token
        {
            return Cred::userpass_plaintext(username.unwrap_or("x-access-token"), token);
        }
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(username.unwrap_or("git"));
        }
        if allowed.contains(CredentialType::DEFAULT) {
            return Cred::default();
        }
        Err(git2::Error::new(
            git2::ErrorCode::Auth,
            git2::ErrorClass::Net,
            "the remote needs credentials; set GITOPS_GIT_TOKEN or GITHUB_TOKEN (HTTPS) or GITOPS_SSH_KEY / an SSH agent (SSH)",
        ))
    });
    callbacks
}

/// Fetches `refspecs` from `url` into `repo`; `depth` 0 fetches everything, `i32::MAX`
/// deepens a shallow repository to full history.
pub(crate) fn fetch(
    repo: &Repository,
    url: &str,
    refspecs: &[String],
    credentials: &GitCredentials,
    depth: i32,
) -> Result<(), git2::Error> {
    let tries = Cell::new(0);
    let mut remote = repo.remote_anonymous(url)?;
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks(credentials, &tries))
        .download_tags(AutotagOption::None)
        .update_fetchhead(false)
        .depth(depth);
    remote.fetch(refspecs, Some(&mut options), None)
}

/// How a push ended.
#[derive(Debug)]
pub(crate) enum PushResult {
    /// The server accepted every reference update.
    Accepted,
    /// The server (hook, lock, non-fast-forward) or the client refused the update.
    Rejected(String),
}

/// Pushes `refspec` to `url`. A server-side refusal only shows in the push-update-reference
/// callback (libgit2 still returns success), so both paths are checked.
pub(crate) fn push(
    repo: &Repository,
    url: &str,
    refspec: &str,
    credentials: &GitCredentials,
) -> Result<PushResult, git2::Error> {
    let tries = Cell::new(0);
    let rejected: RefCell<Option<String>> = RefCell::new(None);
    let server_messages: RefCell<String> = RefCell::new(String::new());
    let result = {
        let mut remote = repo.remote_anonymous(url)?;
        let mut cbs = callbacks(credentials, &tries);
        cbs.push_update_reference(|name, status| {
            if let Some(status) = status {
                *rejected.borrow_mut() = Some(format!("{name}: {status}"));
            }
            Ok(())
        });
        cbs.sideband_progress(|bytes| {
            let mut messages = server_messages.borrow_mut();
            if messages.len() < 4096 {
                messages.push_str(&String::from_utf8_lossy(bytes));
            }
            true
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(cbs);
        remote.push(&[refspec], Some(&mut options))
    };
    match result {
        Ok(()) => match rejected.into_inner() {
            Some(status) => {
                let messages = server_messages.into_inner();
                let messages = messages.trim();
                if messages.is_empty() {
                    Ok(PushResult::Rejected(status))
                } else {
                    Ok(PushResult::Rejected(format!(
                        "{status} (remote said: {})",
                        messages.replace('\n', " ")
                    )))
                }
            }
            None => Ok(PushResult::Accepted),
        },
        Err(err) if is_rejection(&err) => Ok(PushResult::Rejected(err.message().to_owned())),
        Err(err) => Err(err),
    }
}

fn is_rejection(err: &git2::Error) -> bool {
    matches!(
        err.code(),
        git2::ErrorCode::NotFastForward | git2::ErrorCode::Modified | git2::ErrorCode::Locked
    ) || err.message().contains("non-fastforward")
        || err.message().contains("failed to update ref")
}

/// The commit `refname` points at on the remote, read from its advertisement (ls-remote).
pub(crate) fn ls_remote(
    repo: &Repository,
    url: &str,
    refname: &str,
    credentials: &GitCredentials,
) -> Result<Option<Oid>, git2::Error> {
    let tries = Cell::new(0);
    let mut remote = repo.remote_anonymous(url)?;
    let connection =
        remote.connect_auth(Direction::Fetch, Some(callbacks(credentials, &tries)), None)?;
    let found = connection
        .list()?
        .iter()
        .find(|head| head.name() == refname)
        .map(|head| head.oid());
    Ok(found)
}

/// Whether an error means the credentials were refused or missing (retrying cannot help).
pub(crate) fn is_auth_error(err: &git2::Error) -> bool {
    err.code() == git2::ErrorCode::Auth || err.code() == git2::ErrorCode::Certificate
}
