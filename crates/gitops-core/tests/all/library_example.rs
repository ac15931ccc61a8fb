// Unit tests of a pipeline policy, written against gitops-core's pure functions.
// docs/library.md shows this file verbatim (a test below keeps the two identical).
use chrono::{TimeZone, Utc};
use gitops_core::event::{Event, EventFlags};
use gitops_core::plan::{Flow, plan};
use gitops_core::policy::Policy;

const POLICY: &str = r#"
registry: ghcr.io/acme
images: [{ name: api }, { name: web }]
environments:
  development: { branch: dev, tag_prefix: dev, overlay: deploy/dev }
  staging:
    branch: "release/*"
    tag_prefix: rc
    overlay: deploy/staging
    replicas: 2
    tests: { integration: true }
  production:
    branch: main
    tag_prefix: prod
    overlay: deploy/production
    replicas: 3
    approval: { required: true, reviewers: 2 }
"#;

fn push(branch: &str) -> Event {
    Event::from_flags(&EventFlags {
        event: Some("push".into()),
        branch: Some(branch.into()),
        sha: Some("860c1904a1ce19322e91ac35af1ab07466440c37".into()),
        ..EventFlags::default()
    })
    .expect("a valid event")
}

#[test]
fn release_branches_deploy_to_staging_with_integration_tests() {
    let policy = Policy::load(POLICY, "gitops.yaml").expect("the policy is valid");
    let noon = Utc
        .with_ymd_and_hms(2025, 12, 3, 12, 0, 0)
        .single()
        .expect("a time");
    let plan = plan(&policy, &push("release/2.4"), noon, None).expect("a plan");
    assert_eq!(plan.flow, Flow::Deploy);
    assert_eq!(plan.environment.as_deref(), Some("staging"));
    assert!(plan.stages.integration_tests && !plan.stages.approval);
    assert_eq!(plan.tags, ["rc-860c190-20251203-120000", "rc-latest"]);
    assert_eq!(
        plan.images[1].references[0],
        "ghcr.io/acme/web:rc-860c190-20251203-120000"
    );
}

#[test]
fn main_needs_two_reviewers_and_feature_branches_never_deploy() {
    let policy = Policy::load(POLICY, "gitops.yaml").expect("the policy is valid");
    let now = Utc::now();
    let prod = plan(&policy, &push("main"), now, None).expect("a plan");
    assert!(prod.approval_required);
    assert_eq!(prod.reviewers, 2);
    let feature = plan(&policy, &push("feature/login"), now, None).expect("a plan");
    assert_eq!(feature.flow, Flow::ChecksOnly);
    assert!(!feature.stages.build && !feature.stages.deploy);
}

#[test]
fn docs_show_this_file_verbatim() {
    let doc = include_str!("../../../../docs/library.md");
    let this = include_str!("library_example.rs");
    let shown = this
        .split("\n#[test]\nfn docs_show_this_file_verbatim")
        .next()
        .expect("split");
    assert!(
        doc.contains(shown.trim_end()),
        "docs/library.md must contain crates/gitops-core/tests/all/library_example.rs up to this test"
    );
}
