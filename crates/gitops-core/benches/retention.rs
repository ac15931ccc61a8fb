//! Retention performance.
//!
//! 1. The pure planner on 1,000,000 synthetic tags (criterion).
//! 2. Plan (dry run) and apply on a loopback `docker-registry` holding 10,000 tags of which
//!    7,000 are expired: wall time and the registry's own count of requests (access log),
//!    against the minimum (tag listing + one resolve per tag + one delete per deleted digest).
//!    Skipped with a message when `docker-registry` is not installed or
//!    `RETENTION_BENCH_REGISTRY=0`.
//!
//! Run: `cargo bench -p gitops-core --bench retention`

#![allow(missing_docs, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::Criterion;
use futures::StreamExt as _;
use gitops_core::image_ref::ImageRef;
use gitops_core::policy::Policy;
use gitops_core::registry::{ConnectOptions, Manifest, OCI_MANIFEST, Registry};
use gitops_core::retention::oci::OciBackend;
use gitops_core::retention::{
    DeployedDigest, ExecuteOptions, Inventory, NoProgress, PlanInput, RunInput, TagRecord, execute,
    plan, run,
};
use gitops_core::tag::TagScheme;

#[allow(clippy::collapsible_if)]
#[path = "../tests/all/support/registry.rs"]
mod registry_support;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 12, 20, 12, 0, 0).unwrap()
}

fn policy() -> Policy {
    let mut policy = Policy::embedded_default();
    policy.retention.protected = vec!["v*".to_owned()];
    policy
}

/// 1,000,000 tags on 500,000 digests: version tags of three environments over 200 days, a
/// `-latest` per environment, a cosign signature per 1,000 digests, hand-made tags.
fn synthetic(n: usize) -> (Inventory, Vec<DeployedDigest>) {
    let prefixes = ["dev", "staging", "prod"];
    let mut tags = Vec::with_capacity(n);
    for i in 0..n {
        let digest = format!("sha256:{:064x}", i / 2);
        let tag = match i % 1000 {
            0 => format!("sha256-{:064x}.sig", i / 2),
            1 => format!("v1.{}.0", i),
            2 => format!("hand-made-{i}"),
            _ => {
                let time = now() - chrono::TimeDelta::minutes((i % 288_000) as i64);
                format!(
                    "{}-{:07x}-{}",
                    prefixes[i % 3],
                    i % 0xfff_ffff,
                    time.format("%Y%m%d-%H%M%S")
                )
            }
        };
        tags.push(TagRecord {
            tag,
            digest,
            pushed_at: None,
        });
    }
    for (k, p) in prefixes.iter().enumerate() {
        tags.push(TagRecord {
            tag: format!("{p}-latest"),
            digest: format!("sha256:{:064x}", k),
            pushed_at: None,
        });
    }
    let deployed = vec![DeployedDigest {
        environment: "production".to_owned(),
        digest: format!("sha256:{:064x}", 12_345),
    }];
    (
        Inventory {
            repository: "registry.test/backend".to_owned(),
            tags,
            manifests: Vec::new(),
        },
        deployed,
    )
}

fn bench_planner(c: &mut Criterion) {
    let policy = policy();
    let scheme = TagScheme::new(&policy).unwrap();
    let (inventory, deployed) = synthetic(1_000_000);
    let input = PlanInput {
        policy: &policy,
        scheme: &scheme,
        now: now(),
        inventory: &inventory,
        deployed: &deployed,
        max_deletions: Some(u32::MAX),
    };
    let result = plan(&input).unwrap();
    eprintln!(
        "planner: {} tags, {} digests to delete",
        result.tags.len(),
        result.deletions.len()
    );
    let mut group = c.benchmark_group("retention");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("plan_1m_tags", |b| b.iter(|| plan(&input).unwrap()));
    // Registries list tags in lexical order (the distribution spec asks for it): the same
    // tags as a backend would hand them over.
    let mut sorted = inventory.clone();
    sorted.tags.sort_by(|a, b| a.tag.cmp(&b.tag));
    let sorted_input = PlanInput {
        inventory: &sorted,
        ..input
    };
    group.bench_function("plan_1m_tags_listed_sorted", |b| {
        b.iter(|| plan(&sorted_input).unwrap())
    });
    group.finish();
}

async fn populate(reg: &Registry, repo: &ImageRef, total: usize, expired: usize) {
    let config = b"{\"os\":\"linux\"}".to_vec();
    let config_digest = gitops_core::registry::sha256_digest(&config);
    reg.put_blob(repo, &config_digest, config.clone())
        .await
        .unwrap();
    let mut stream = futures::stream::iter((0..total).map(|i| {
        let config_digest = config_digest.clone();
        let config_len = config.len();
        async move {
            // The same tiny manifest varied by an annotation: one PUT per tag.
            let manifest = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_len},
                "layers": [],
                "annotations": {"n": i.to_string()},
            });
            let manifest = Manifest::from_bytes(serde_json::to_vec(&manifest).unwrap(), OCI_MANIFEST);
            let tag = version_tag(i, expired);
            reg.put_manifest(repo, &tag, &manifest).await.unwrap();
        }
    }))
    .buffer_unordered(16);
    while stream.next().await.is_some() {}
    // The moving tags every repository has: checked again during apply.
    for (k, name) in LATEST.iter().enumerate() {
        let newest = repo.with_tag(&version_tag(total - 1 - k, expired)).unwrap();
        let manifest = reg.get_manifest(&newest).await.unwrap();
        reg.put_manifest(repo, name, &manifest).await.unwrap();
    }
}

/// `-latest` tags added on the three newest images.
const LATEST: [&str; 3] = ["dev-latest", "staging-latest", "prod-latest"];

fn version_tag(i: usize, expired: usize) -> String {
    let days = if i < expired {
        8 + (i % 60) as i64
    } else {
        (i % 6) as i64
    };
    let time = now() - chrono::TimeDelta::days(days) - chrono::TimeDelta::seconds(i as i64);
    format!("dev-{:07x}-{}", i, time.format("%Y%m%d-%H%M%S"))
}

/// Digest deletions in the measured apply run (`RETENTION_BENCH_CAP`, `all` for no cap).
/// distribution 2.8 scans every tag of the repository on each manifest DELETE (to untag it),
/// so with 10,000 tags a delete costs the registry about a third of a second on the reference
/// machine: deleting all 7,000 takes most of an hour. The cap is what `max_deletions` is for.
fn apply_cap() -> u32 {
    match std::env::var("RETENTION_BENCH_CAP").as_deref() {
        Ok("all") => u32::MAX,
        Ok(n) => n.parse().expect("RETENTION_BENCH_CAP: a number or `all`"),
        Err(_) => 500,
    }
}

fn bench_registry() {
    if std::env::var("RETENTION_BENCH_REGISTRY").as_deref() == Ok("0") {
        eprintln!("registry benchmark skipped (RETENTION_BENCH_REGISTRY=0)");
        return;
    }
    if std::process::Command::new("docker-registry")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("registry benchmark skipped: install the Debian package docker-registry");
        return;
    }
    let (total, expired) = (10_000usize, 7_000usize);
    let registry = registry_support::TestRegistry::start();
    let repo = ImageRef::parse(&format!("{}/bench", registry.host())).unwrap();
    let reg = Registry::for_ref(&repo, &ConnectOptions::default()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    rt.block_on(populate(&reg, &repo, total, expired));
    eprintln!("populated {total} tags in {:.1?}", started.elapsed());

    let mut policy = Policy::embedded_default();
    policy.environments["development"].retention.keep_min = 0;
    let scheme = TagScheme::new(&policy).unwrap();
    let input = RunInput {
        policy: &policy,
        scheme: &scheme,
        now: now(),
        deployed: &[],
        max_deletions: Some(apply_cap()),
    };
    let concurrency = 16;
    let backend = OciBackend::new(reg.clone(), &repo, concurrency);

    let mark = registry.requests().len();
    let started = Instant::now();
    let (plan, _) = rt
        .block_on(run(
            &backend,
            &input,
            ExecuteOptions::default(),
            &NoProgress,
        ))
        .unwrap();
    let plan_time = started.elapsed();
    let plan_requests = registry.requests().len() - mark;
    let deleted_digests = plan.deletions.len();
    let deleted_tags: usize = plan.deletions.iter().map(|d| d.tags.len()).sum();
    let tags = total + LATEST.len();
    let plan_minimum = 1 + tags;

    let mark = registry.requests().len();
    let started = Instant::now();
    let report = rt.block_on(execute(
        &backend,
        &plan,
        ExecuteOptions {
            apply: true,
            concurrency,
            ..ExecuteOptions::default()
        },
        &NoProgress,
    ));
    let apply_time = started.elapsed();
    let apply_requests = registry.requests().len() - mark;
    assert_eq!(report.deleted(), deleted_digests, "{:?}", report.failed());

    let minimum = 1 + tags + deleted_digests;
    let with_recheck = minimum + deleted_tags;
    let actual = plan_requests + apply_requests;
    println!(
        "retention on a loopback docker-registry: {tags} tags ({expired} expired, 3 -latest); this run deletes {deleted_digests} digests ({deleted_tags} tags, max_deletions {}) and defers {}; concurrency {concurrency}",
        plan.max_deletions,
        plan.deferred.len()
    );
    println!(
        "  plan (dry run): {plan_time:.2?}, {plan_requests} requests (minimum: listing + one resolve per tag = {plan_minimum}; {:+.2}%)",
        pct(plan_requests, plan_minimum)
    );
    println!(
        "  apply (deletes only, plan already made): {apply_time:.2?}, {apply_requests} requests"
    );
    println!(
        "  plan + apply: {:.2?}, {actual} requests; minimum without the re-resolve before delete {minimum} ({:+.2}%); with the mandated re-resolve of each deleted tag {with_recheck} ({:+.2}%)",
        plan_time + apply_time,
        pct(actual, minimum),
        pct(actual, with_recheck)
    );
}

fn pct(actual: usize, minimum: usize) -> f64 {
    (actual as f64 - minimum as f64) * 100.0 / minimum as f64
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_planner(&mut criterion);
    criterion.final_summary();
    bench_registry();
}
