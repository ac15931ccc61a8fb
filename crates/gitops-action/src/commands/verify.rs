//! `gitops verify`: post-deploy health check with bounded retries, optionally waiting for an
//! Argo CD application to be Synced and Healthy at the deployed revision.
//!
//! Exit 0 when healthy; exit 1 when still unhealthy at the timeout (showing the last
//! response), with `rollback: true` in the JSON and `rollback=true` in `$GITHUB_OUTPUT` so the
//! workflow can roll back.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use gitops_core::argocd::{ArgoClient, ArgoError};
use regex::Regex;
use serde::Serialize;

use crate::context::{Context, block_on};
use crate::exit::{self, Status};
use crate::github_actions as gha;

/// Arguments of `gitops verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// URL to probe (GET), e.g. `https://staging.example.com/healthz`.
    #[arg(long, required_unless_present = "argocd_app", value_parser = parse_http_url)]
    pub url: Option<String>,
    /// HTTP status the URL must answer.
    #[arg(long, default_value_t = 200)]
    pub expect_status: u16,
    /// Regular expression the response body must match.
    #[arg(long, value_name = "REGEX")]
    pub expect_body: Option<String>,
    /// Give up after this long (`500ms`, `30s`, `5m`).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Pause between attempts.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Argo CD server URL (token from `ARGOCD_TOKEN`).
    #[arg(long, requires = "argocd_app", value_name = "URL", value_parser = parse_http_url)]
    pub argocd_server: Option<String>,
    /// Argo CD application that must be Synced and Healthy.
    #[arg(long, requires = "argocd_server", value_name = "NAME")]
    pub argocd_app: Option<String>,
    /// Git revision (SHA) the application must be synced to.
    #[arg(long, requires = "argocd_app", value_name = "SHA")]
    pub argocd_revision: Option<String>,
}

/// Parses `500ms`, `2s`, `1m`, `1h`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Some(ms) = text.strip_suffix("ms") {
        return ms
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("'{text}' is not a duration: write e.g. 500ms, 30s or 5m"));
    }
    text.parse::<gitops_core::duration::HumanDuration>()
        .map(|d| Duration::from_secs(u64::try_from(d.as_seconds()).unwrap_or(0)))
        .map_err(|e| e.to_string())
}

/// The last HTTP answer seen.
#[derive(Debug, Clone, Default, Serialize)]
struct HttpProbe {
    url: String,
    healthy: bool,
    status: Option<u16>,
    /// First 500 characters of the body.
    body: Option<String>,
    error: Option<String>,
}

/// The last Argo CD state seen.
#[derive(Debug, Clone, Default, Serialize)]
struct ArgoProbe {
    app: String,
    ready: bool,
    summary: String,
}

/// The verdict.
#[derive(Debug, Serialize)]
struct VerifyReport {
    healthy: bool,
    rollback: bool,
    attempts: u32,
    elapsed_ms: u128,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<HttpProbe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    argocd: Option<ArgoProbe>,
}

/// Accepts only absolute `http://` or `https://` URLs: a typo is a usage error (exit 2), never an
/// "unhealthy" verdict that would trigger a rollback.
fn parse_http_url(text: &str) -> Result<String, String> {
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
            Ok(text.to_owned())
        }
        Ok(url) => Err(format!(
            "'{text}' is a {} URL; give an http:// or https:// URL such as https://staging.example.com/healthz",
            url.scheme()
        )),
        Err(err) => Err(format!(
            "'{text}' is not a URL ({err}); give an absolute http:// or https:// URL such as https://staging.example.com/healthz"
        )),
    }
}

/// Runs `gitops verify`.
pub fn run(args: VerifyArgs, ctx: &Context) -> anyhow::Result<Status> {
    let body_re = args
        .expect_body
        .as_deref()
        .map(Regex::new)
        .transpose()
        .context("--expect-body is not a valid regular expression")?;
    let argo_token = std::env::var("ARGOCD_TOKEN").ok().filter(|t| !t.is_empty());
    if let Some(token) = &argo_token {
        gha::mask(token);
    }
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .context("cannot set up the HTTP client")?;
    let argo = match (&args.argocd_server, &args.argocd_app) {
        (Some(server), Some(app)) => Some((ArgoClient::new(server, argo_token), app.clone())),
        _ => None,
    };
    let started = Instant::now();
    let deadline = started + args.timeout;
    let report = block_on(async {
        let mut attempts = 0u32;
        let mut last_http = None;
        let mut last_argo = None;
        loop {
            attempts += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let per_request = remaining.clamp(Duration::from_millis(200), Duration::from_secs(10));
            let http_ok = match &args.url {
                Some(url) => {
                    let probe = probe(
                        &http,
                        url,
                        per_request,
                        args.expect_status,
                        body_re.as_ref(),
                    )
                    .await;
                    let ok = probe.healthy;
                    if ctx.verbose || !ok {
                        eprintln!("attempt {attempts}: {}", describe_http(&probe));
                    }
                    last_http = Some(probe);
                    ok
                }
                None => true,
            };
            let argo_ok = match &argo {
                Some((client, app)) => {
                    let probe = match client.application(app).await {
                        Ok(application) => {
                            let verdict = application.verdict(args.argocd_revision.as_deref());
                            ArgoProbe {
                                app: app.clone(),
                                ready: verdict.ready,
                                summary: verdict.summary,
                            }
                        }
                        Err(
                            err @ (ArgoError::Unauthorized { .. }
                            | ArgoError::Status { status: 404, .. }),
                        ) => {
                            return Err(err);
                        }
                        Err(err) => ArgoProbe {
                            app: app.clone(),
                            ready: false,
                            summary: err.to_string(),
                        },
                    };
                    let ok = probe.ready;
                    if ctx.verbose || !ok {
                        eprintln!(
                            "attempt {attempts}: argo cd {}: {}",
                            probe.app, probe.summary
                        );
                    }
                    last_argo = Some(probe);
                    ok
                }
                None => true,
            };
            let healthy = http_ok && argo_ok;
            if healthy || Instant::now() + args.interval > deadline {
                return Ok(VerifyReport {
                    healthy,
                    rollback: !healthy,
                    attempts,
                    elapsed_ms: started.elapsed().as_millis(),
                    http: last_http,
                    argocd: last_argo,
                });
            }
            tokio::time::sleep(args.interval).await;
        }
    })?
    .map_err(exit::external)?;
    if ctx.json() {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let verdict = if report.healthy {
            "healthy"
        } else {
            "UNHEALTHY at the timeout"
        };
        println!(
            "{verdict} after {} attempts ({:.1}s)",
            report.attempts,
            Duration::from_millis(u64::try_from(report.elapsed_ms).unwrap_or(u64::MAX))
                .as_secs_f64()
        );
        if let Some(probe) = &report.http {
            println!("  http: {}", describe_http(probe));
            if !probe.healthy
                && let Some(body) = &probe.body
            {
                println!("  last body: {body}");
            }
        }
        if let Some(probe) = &report.argocd {
            println!("  argo cd {}: {}", probe.app, probe.summary);
        }
        println!("rollback: {}", report.rollback);
    }
    if !report.healthy {
        gha::error_annotation(
            &format!(
                "post-deploy verification failed after {} attempts: {}",
                report.attempts,
                report
                    .http
                    .as_ref()
                    .map(describe_http)
                    .or_else(|| report.argocd.as_ref().map(|a| a.summary.clone()))
                    .unwrap_or_default()
            ),
            None,
        );
    }
    gha::set_outputs([
        ("healthy", if report.healthy { "true" } else { "false" }),
        ("rollback", if report.rollback { "true" } else { "false" }),
    ])?;
    Ok(if report.healthy {
        Status::Success
    } else {
        Status::Denied
    })
}

async fn probe(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
    expect_status: u16,
    body_re: Option<&Regex>,
) -> HttpProbe {
    let mut probe = HttpProbe {
        url: url.to_owned(),
        ..HttpProbe::default()
    };
    match http.get(url).timeout(timeout).send().await {
        Err(e) => probe.error = Some(e.without_url().to_string()),
        Ok(response) => {
            let status = response.status().as_u16();
            probe.status = Some(status);
            match response.text().await {
                Err(e) => probe.error = Some(e.without_url().to_string()),
                Ok(body) => {
                    let body_ok = body_re.is_none_or(|re| re.is_match(&body));
                    probe.healthy = status == expect_status && body_ok;
                    if status == expect_status && !body_ok {
                        probe.error = Some("body does not match --expect-body".to_owned());
                    }
                    probe.body = Some(body.chars().take(500).collect());
                }
            }
        }
    }
    probe
}

fn describe_http(probe: &HttpProbe) -> String {
    match (&probe.status, &probe.error) {
        (Some(status), Some(error)) => format!("{} answered {status}: {error}", probe.url),
        (Some(status), None) => format!("{} answered {status}", probe.url),
        (None, Some(error)) => format!("{}: {error}", probe.url),
        (None, None) => probe.url.clone(),
    }
}
