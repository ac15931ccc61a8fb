//! `gitops image ...`: resolve a reference to its digest, list a repository's tags. Also the
//! registry flags and error mapping shared by `push` and `promote`.

use std::time::Duration;

use anyhow::Context as _;
use gitops_core::image_ref::ImageRef;
use gitops_core::registry::{ConnectOptions, Registry, RegistryError};
use serde::Serialize;

use crate::context::{Context, block_on};
use crate::exit::{Status, external};

/// Flags for talking to registries.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Reach this HOST:PORT over plain HTTP (loopback hosts always are). Repeatable.
    #[arg(
        long = "insecure-registry",
        value_name = "HOST:PORT",
        env = "GITOPS_INSECURE_REGISTRY",
        value_delimiter = ','
    )]
    pub insecure_registry: Vec<String>,
    /// Attempts per request on connection errors, 429 and 502/503/504.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub attempts: u32,
    /// Timeout of every request, in seconds.
    #[arg(
        long = "request-timeout",
        value_name = "SECONDS",
        default_value_t = 300
    )]
    pub request_timeout: u64,
    /// Blob transfers in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

impl RegistryArgs {
    /// Connection options for the core.
    pub fn options(&self) -> ConnectOptions {
        ConnectOptions {
            insecure_registries: self.insecure_registry.clone(),
            max_attempts: self.attempts,
            timeout: Duration::from_secs(self.request_timeout.max(1)),
            concurrency: usize::from(self.concurrency),
            ..ConnectOptions::default()
        }
    }
}

/// Maps a registry error to an exit code: bad references and missing images are usage
/// errors (2); unreachable registries, refusals and rejected writes are external (3).
pub fn registry_error(err: RegistryError) -> anyhow::Error {
    match err {
        RegistryError::InvalidReference { .. } | RegistryError::NotFound { .. } => err.into(),
        other => external(other),
    }
}

/// Parses an image reference given on the command line.
pub fn parse_ref(text: &str) -> anyhow::Result<ImageRef> {
    ImageRef::parse(text).with_context(|| format!("'{text}' is not an image reference"))
}

/// `gitops image` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Print the digest a tag points at (HEAD; GET when the registry sends no digest).
    Resolve {
        /// `registry/repo:tag`, `registry/repo@sha256:...` or `oci:PATH:tag`.
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// List every tag of a repository (following pagination; complete or an error).
    Tags {
        /// `registry/repo` or `oci:PATH`.
        repository: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

#[derive(Serialize)]
struct Resolved {
    reference: String,
    digest: String,
    media_type: String,
    size: u64,
    pinned: String,
}

#[derive(Serialize)]
struct TagList {
    repository: String,
    count: usize,
    tags: Vec<String>,
}

/// Runs `gitops image ...`.
pub fn run(command: ImageCommand, ctx: &Context) -> anyhow::Result<Status> {
    match command {
        ImageCommand::Resolve {
            reference,
            registry,
        } => {
            let reference = parse_ref(&reference)?;
            let backend =
                Registry::for_ref(&reference, &registry.options()).map_err(registry_error)?;
            let descriptor = block_on(backend.resolve(&reference))?.map_err(registry_error)?;
            let pinned = reference
                .without_tag_or_digest()
                .with_digest(&descriptor.digest)
                .map(|r| r.to_string())
                .unwrap_or_default();
            let out = Resolved {
                reference: reference.to_string(),
                digest: descriptor.digest,
                media_type: descriptor.media_type,
                size: descriptor.size,
                pinned,
            };
            if ctx.json() {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("{}", out.digest);
                if ctx.verbose {
                    eprintln!(
                        "{} -> {} ({}, {} bytes)",
                        out.reference, out.pinned, out.media_type, out.size
                    );
                }
            }
            Ok(Status::Success)
        }
        ImageCommand::Tags {
            repository,
            registry,
        } => {
            let repository = parse_ref(&repository)?;
            let backend =
                Registry::for_ref(&repository, &registry.options()).map_err(registry_error)?;
            let tags = block_on(backend.list_tags(&repository))?.map_err(registry_error)?;
            let out = TagList {
                repository: repository.name(),
                count: tags.len(),
                tags,
            };
            if ctx.json() {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for tag in &out.tags {
                    println!("{tag}");
                }
                if ctx.verbose {
                    eprintln!("{} tag(s) in {}", out.count, out.repository);
                }
            }
            Ok(Status::Success)
        }
    }
}
