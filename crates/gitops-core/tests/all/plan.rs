//! Plans for every flow of the architecture's branch strategy and workflow examples,
//! snapshotted as the stable JSON document `gitops plan --format json` prints.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use gitops_core::event::{Event, EventFlags};
use gitops_core::plan::{Flow, Plan, PromotableImage, plan};
use gitops_core::policy::Policy;

const SHA: &str = "860c1904a1ce19322e91ac35af1ab07466440c37";

fn at(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 12, 3, h, 0, 0)
        .single()
        .expect("valid time")
}

fn event(kind: &str, branch: Option<&str>, base: Option<&str>, tag: Option<&str>) -> Event {
    Event::from_flags(&EventFlags {
        event: Some(kind.to_owned()),
        branch: branch.map(str::to_owned),
        base: base.map(str::to_owned),
        tag: tag.map(str::to_owned),
        sha: Some(SHA.to_owned()),
        ..EventFlags::default()
    })
    .expect("valid event")
}

fn plan_default(event: &Event, hour: u32) -> Plan {
    plan(&Policy::embedded_default(), event, at(hour), None).expect("plan")
}

#[test]
fn feature_pr_to_dev() {
    let p = plan_default(
        &event(
            "pull_request",
            Some("feature/add-analytics"),
            Some("dev"),
            None,
        ),
        12,
    );
    assert_eq!(p.flow, Flow::PullRequest);
    assert_eq!(p.stages.running(), ["secret_scan", "lint_test", "quality"]);
    assert!(p.environment.is_none() && p.tags.is_empty());
    insta::assert_json_snapshot!(p);
}

#[test]
fn merge_to_dev() {
    let p = plan_default(&event("push", Some("dev"), None, None), 12);
    assert_eq!(p.environment.as_deref(), Some("development"));
    assert_eq!(p.tags, ["dev-860c190-20251203-120000", "dev-latest"]);
    assert!(!p.approval_required && p.stages.deploy && p.stages.build);
    insta::assert_json_snapshot!(p);
    insta::assert_snapshot!("merge_to_dev_text", p.to_text());
    insta::assert_snapshot!("merge_to_dev_summary", p.to_markdown());
}

#[test]
fn dev_to_staging_pr() {
    let p = plan_default(
        &event("pull_request", Some("dev"), Some("staging"), None),
        14,
    );
    assert_eq!(p.flow, Flow::PullRequest);
    assert_eq!(p.base_environment.as_deref(), Some("staging"));
    assert!(!p.stages.build);
    insta::assert_json_snapshot!(p);
}

#[test]
fn dev_to_staging_push() {
    let p = plan_default(&event("push", Some("staging"), None, None), 14);
    assert_eq!(p.environment.as_deref(), Some("staging"));
    assert!(p.stages.integration_tests && p.stages.e2e_tests && !p.stages.approval);
    assert_eq!(p.replicas, Some(2));
    insta::assert_json_snapshot!(p);
}

#[test]
fn staging_to_main_pr() {
    let p = plan_default(
        &event("pull_request", Some("staging"), Some("main"), None),
        16,
    );
    assert_eq!(p.base_environment.as_deref(), Some("production"));
    insta::assert_json_snapshot!(p);
}

#[test]
fn staging_to_main_push_waits_for_approval() {
    let p = plan_default(&event("push", Some("main"), None, None), 16);
    assert_eq!(p.environment.as_deref(), Some("production"));
    assert!(p.approval_required && p.stages.approval);
    assert_eq!(p.tags, ["prod-860c190-20251203-160000", "prod-latest"]);
    insta::assert_json_snapshot!(p);
}

#[test]
fn hotfix_pr_to_main() {
    let p = plan_default(
        &event(
            "pull_request",
            Some("hotfix/critical-bug"),
            Some("main"),
            None,
        ),
        17,
    );
    assert_eq!(p.stages.running(), ["secret_scan", "lint_test", "quality"]);
    insta::assert_json_snapshot!(p);
}

#[test]
fn hotfix_merge_to_main() {
    let p = plan_default(&event("push", Some("main"), None, None), 18);
    assert!(p.approval_required);
    assert_eq!(p.version.as_deref(), Some("prod-860c190-20251203-180000"));
    insta::assert_json_snapshot!(p);
}

#[test]
fn hotfix_branch_push_is_checks_only() {
    let p = plan_default(&event("push", Some("hotfix/critical-bug"), None, None), 17);
    assert_eq!(p.flow, Flow::ChecksOnly);
    assert!(!p.stages.build && !p.stages.deploy);
    insta::assert_json_snapshot!(p);
}

#[test]
fn version_tag_push_with_semver() {
    let mut policy = Policy::embedded_default();
    policy.tags.semver = true;
    let p = plan(
        &policy,
        &event("push", None, None, Some("v1.2.3")),
        at(19),
        None,
    )
    .expect("plan");
    assert_eq!(p.flow, Flow::Release);
    assert_eq!(p.tags, ["1.2.3", "1.2", "1"]);
    assert!(p.stages.build && p.stages.push && !p.stages.deploy);
    insta::assert_json_snapshot!(p);
    let pre = plan(
        &policy,
        &event("push", None, None, Some("v2.0.0-rc.1")),
        at(19),
        None,
    )
    .expect("plan");
    assert_eq!(pre.tags, ["2.0.0-rc.1"]);
}

#[test]
fn version_tag_without_semver_uses_the_git_tag() {
    let p = plan_default(&event("push", None, None, Some("v1.2.3")), 19);
    assert_eq!(p.tags, ["v1.2.3"]);
    let bad = plan(
        &Policy::embedded_default(),
        &event("push", None, None, Some("-weird")),
        at(19),
        None,
    );
    assert!(bad.is_err());
}

#[test]
fn schedule() {
    let p = plan_default(&event("schedule", Some("main"), None, None), 3);
    assert_eq!(p.flow, Flow::Scheduled);
    assert_eq!(p.stages.running(), ["secret_scan", "image_scan"]);
    insta::assert_json_snapshot!(p);
}

#[test]
fn dispatch_with_environment_input() {
    let mut e = event("workflow_dispatch", Some("main"), None, None);
    e.environment = Some("staging".to_owned());
    let p = plan_default(&e, 9);
    assert_eq!(p.environment.as_deref(), Some("staging"));
    e.environment = Some("nowhere".to_owned());
    let err = plan(&Policy::embedded_default(), &e, at(9), None).expect_err("unknown env");
    assert!(err.to_string().contains("unknown environment 'nowhere'"));
}

#[test]
fn deleted_branch_plans_nothing() {
    let mut e = event("push", Some("dev"), None, None);
    e.deleted = true;
    let p = plan_default(&e, 9);
    assert_eq!(p.flow, Flow::None);
    assert!(p.stages.running().is_empty());
}

#[test]
fn identical_image_is_promoted_not_rebuilt() {
    let promotable = PromotableImage {
        environment: "development".to_owned(),
        source_refs: BTreeMap::from([(
            "backend".to_owned(),
            format!(
                "registry.digitalocean.com/ai-incident-assistant/backend@sha256:{}",
                "a".repeat(64)
            ),
        )]),
    };
    let p = plan(
        &Policy::embedded_default(),
        &event("push", Some("staging"), None, None),
        at(14),
        Some(&promotable),
    )
    .expect("plan");
    assert!(!p.stages.build && !p.stages.image_scan && p.stages.push && p.stages.deploy);
    let promotion = p.promotion.as_ref().expect("promotion");
    assert_eq!(promotion.from_environment, "development");
    assert_eq!(promotion.source_refs.len(), 1);
    insta::assert_json_snapshot!(p);
    // An image from another environment than the promotion source is ignored: build.
    let p = plan(
        &Policy::embedded_default(),
        &event("push", Some("main"), None, None),
        at(14),
        Some(&promotable),
    )
    .expect("plan");
    assert!(p.stages.build);
}

#[test]
fn outputs_cover_every_stage() {
    let p = plan_default(&event("push", Some("dev"), None, None), 12);
    let outputs: BTreeMap<String, String> = p.outputs().into_iter().collect();
    for (stage, on) in p.stages.iter() {
        assert_eq!(outputs[stage], on.to_string());
    }
    assert_eq!(outputs["environment"], "development");
    assert_eq!(outputs["tags"], "dev-860c190-20251203-120000\ndev-latest");
    let back: Plan = serde_json::from_str(&outputs["plan"]).expect("plan JSON reads back");
    assert_eq!(back, p);
}

#[test]
fn branch_patterns_map_release_branches() {
    let mut policy = Policy::embedded_default();
    policy.environments["staging"].branch = "release/*".to_owned();
    let p = plan(
        &policy,
        &event("push", Some("release/1.4"), None, None),
        at(1),
        None,
    )
    .expect("plan");
    assert_eq!(p.environment.as_deref(), Some("staging"));
    let mut template = policy.clone();
    template.tags.template = "{prefix}-{branch}-{sha7}".to_owned();
    let p = plan(
        &template,
        &event("push", Some("release/1.4"), None, None),
        at(1),
        None,
    )
    .expect("plan");
    assert_eq!(p.tags[0], "staging-release-1.4-860c190");
}
