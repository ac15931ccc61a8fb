//! Unit and property tests of the pure planner.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::policy::{Policy, UntaggedAction};
use crate::tag::TagScheme;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 12, 20, 12, 0, 0).unwrap()
}

fn days_ago(days: i64) -> String {
    (now() - chrono::TimeDelta::days(days))
        .format("%Y%m%d-%H%M%S")
        .to_string()
}

fn d(n: u32) -> String {
    format!("sha256:{n:064x}")
}

fn tag(name: &str, digest: &str) -> TagRecord {
    TagRecord {
        tag: name.to_owned(),
        digest: digest.to_owned(),
        pushed_at: None,
    }
}

fn dev(sha: &str, days: i64) -> String {
    format!("dev-{sha}-{}", days_ago(days))
}

fn policy() -> Policy {
    let mut p = Policy::embedded_default();
    for env in p.environments.values_mut() {
        env.retention.keep_min = 0;
    }
    p
}

fn run(policy: &Policy, inventory: &Inventory, deployed: &[DeployedDigest]) -> RetentionPlan {
    let scheme = TagScheme::new(policy).unwrap();
    plan(&PlanInput {
        policy,
        scheme: &scheme,
        now: now(),
        inventory,
        deployed,
        max_deletions: None,
    })
    .unwrap()
}

fn inv(tags: Vec<TagRecord>, manifests: Vec<ManifestRecord>) -> Inventory {
    Inventory {
        repository: "registry.test/backend".to_owned(),
        tags,
        manifests,
    }
}

fn reason(plan: &RetentionPlan, t: &str) -> (Action, String) {
    let decision = plan.tag(t).unwrap_or_else(|| panic!("{t} missing"));
    (decision.action, decision.reason.to_string())
}

fn deleted(plan: &RetentionPlan) -> Vec<String> {
    plan.deletions.iter().map(|d| d.digest.clone()).collect()
}

#[test]
fn expired_dev_tag_is_deleted_with_its_age() {
    let t = dev("aaaaaaa", 9);
    let plan = run(&policy(), &inv(vec![tag(&t, &d(1))], vec![]), &[]);
    assert_eq!(
        reason(&plan, &t),
        (Action::Delete, "expired: 9d > 7d".to_owned())
    );
    assert_eq!(deleted(&plan), [d(1)]);
    assert_eq!(plan.deletions[0].tags, [t]);
}

#[test]
fn young_tag_is_kept_within_max_age() {
    let t = dev("aaaaaaa", 2);
    let plan = run(&policy(), &inv(vec![tag(&t, &d(1))], vec![]), &[]);
    assert_eq!(reason(&plan, &t), (Action::Keep, "within 7d".to_owned()));
    assert!(plan.deletions.is_empty());
}

#[test]
fn latest_is_kept_and_its_digest_keeps_an_expired_tag() {
    let old = dev("aaaaaaa", 9);
    let plan = run(
        &policy(),
        &inv(vec![tag(&old, &d(1)), tag("prod-latest", &d(1))], vec![]),
        &[],
    );
    assert_eq!(
        reason(&plan, "prod-latest"),
        (Action::Keep, "latest".to_owned())
    );
    assert_eq!(
        reason(&plan, &old),
        (
            Action::Keep,
            "shares digest with kept tag prod-latest".to_owned()
        )
    );
    assert!(plan.deletions.is_empty());
}

#[test]
fn keep_latest_false_ages_latest_by_push_time() {
    let mut p = policy();
    p.environments["development"].retention.keep_latest = false;
    let mut latest = tag("dev-latest", &d(1));
    latest.pushed_at = Some(now() - chrono::TimeDelta::days(8));
    let plan = run(&p, &inv(vec![latest], vec![]), &[]);
    assert_eq!(
        reason(&plan, "dev-latest"),
        (Action::Delete, "expired: 8d > 7d".to_owned())
    );
}

#[test]
fn deployed_digest_is_kept_even_when_all_tags_expired() {
    let t = format!("prod-bbbbbbb-{}", days_ago(200));
    let plan = run(
        &policy(),
        &inv(vec![tag(&t, &d(2))], vec![]),
        &[DeployedDigest {
            environment: "production".to_owned(),
            digest: d(2),
        }],
    );
    assert_eq!(
        reason(&plan, &t),
        (Action::Keep, "deployed in production overlay".to_owned())
    );
    assert!(plan.deletions.is_empty());
}

#[test]
fn a_digest_deployed_in_several_environments_names_each_tags_own() {
    // Built once, promoted: one digest carries a tag per environment and every overlay has it.
    let dev_tag = format!("dev-bbbbbbb-{}", days_ago(200));
    let staging_tag = format!("staging-bbbbbbb-{}", days_ago(200));
    let prod_tag = format!("prod-bbbbbbb-{}", days_ago(200));
    let deployed = |environment: &str| DeployedDigest {
        environment: environment.to_owned(),
        digest: d(2),
    };
    let plan = run(
        &policy(),
        &inv(
            vec![
                tag(&dev_tag, &d(2)),
                tag(&staging_tag, &d(2)),
                tag(&prod_tag, &d(2)),
            ],
            vec![],
        ),
        &[deployed("development"), deployed("production")],
    );
    let said = |t: &str| reason(&plan, t).1;
    assert_eq!(said(&dev_tag), "deployed in development overlay");
    assert_eq!(said(&prod_tag), "deployed in production overlay");
    // Staging's overlay has moved on: the first environment that deploys it is named.
    assert_eq!(said(&staging_tag), "deployed in development overlay");
    assert!(plan.deletions.is_empty());
}

#[test]
fn unparseable_and_unknown_age_tags_are_kept() {
    let mut p = policy();
    p.tags.template = "{prefix}-{sha7}".to_owned();
    let plan = run(
        &p,
        &inv(
            vec![tag("my-hand-made-tag", &d(1)), tag("dev-aaaaaaa", &d(2))],
            vec![],
        ),
        &[],
    );
    assert_eq!(
        reason(&plan, "my-hand-made-tag"),
        (Action::Keep, "unparseable tag name".to_owned())
    );
    assert_eq!(
        reason(&plan, "dev-aaaaaaa"),
        (Action::Keep, "age unknown".to_owned())
    );
}

#[test]
fn push_time_gives_the_age_when_the_tag_has_no_timestamp() {
    let mut p = policy();
    p.tags.template = "{prefix}-{sha7}".to_owned();
    let mut t = tag("dev-aaaaaaa", &d(2));
    t.pushed_at = Some(now() - chrono::TimeDelta::days(10));
    let manifest_dated = ManifestRecord {
        digest: d(3),
        pushed_at: Some(now() - chrono::TimeDelta::days(1)),
        ..Default::default()
    };
    let plan = run(
        &p,
        &inv(vec![t, tag("dev-bbbbbbb", &d(3))], vec![manifest_dated]),
        &[],
    );
    assert_eq!(
        reason(&plan, "dev-aaaaaaa"),
        (Action::Delete, "expired: 10d > 7d".to_owned())
    );
    assert_eq!(
        reason(&plan, "dev-bbbbbbb"),
        (Action::Keep, "within 7d".to_owned())
    );
}

#[test]
fn protected_pattern_wins_over_expiry() {
    let mut p = policy();
    p.retention.protected = vec!["v*".to_owned(), "dev-*-2025*".to_owned()];
    let t = dev("aaaaaaa", 30);
    let plan = run(
        &p,
        &inv(vec![tag(&t, &d(1)), tag("v1.2.3", &d(2))], vec![]),
        &[],
    );
    assert_eq!(
        reason(&plan, &t),
        (Action::Keep, "protected pattern dev-*-2025*".to_owned())
    );
    assert_eq!(
        reason(&plan, "v1.2.3"),
        (Action::Keep, "protected pattern v*".to_owned())
    );
    assert_eq!(
        plan.tag(&t).unwrap().environment.as_deref(),
        Some("development")
    );
}

#[test]
fn bad_protected_pattern_is_a_clear_error() {
    let mut p = policy();
    p.retention.protected = vec!["v[".to_owned()];
    let scheme = TagScheme::new(&p).unwrap();
    let err = plan(&PlanInput {
        policy: &p,
        scheme: &scheme,
        now: now(),
        inventory: &inv(vec![], vec![]),
        deployed: &[],
        max_deletions: None,
    })
    .unwrap_err();
    assert!(err.to_string().contains("'v['"), "{err}");
}

#[test]
fn keep_min_keeps_the_newest_images_of_an_environment() {
    let mut p = policy();
    p.environments["development"].retention.keep_min = 2;
    let tags = vec![
        tag(&dev("aaaaaaa", 10), &d(1)),
        tag(&dev("bbbbbbb", 11), &d(2)),
        // A second tag of the newest digest must not use up a keep_min slot.
        tag(&dev("ccccccc", 12), &d(1)),
        tag(&dev("ddddddd", 13), &d(3)),
    ];
    let plan = run(&p, &inv(tags, vec![]), &[]);
    assert_eq!(
        reason(&plan, &dev("aaaaaaa", 10)),
        (Action::Keep, "keep_min (2 newest)".to_owned())
    );
    assert_eq!(reason(&plan, &dev("bbbbbbb", 11)).0, Action::Keep);
    assert_eq!(reason(&plan, &dev("ccccccc", 12)).0, Action::Keep);
    assert_eq!(
        reason(&plan, &dev("ddddddd", 13)),
        (Action::Delete, "expired: 13d > 7d".to_owned())
    );
    assert_eq!(deleted(&plan), [d(3)]);
}

#[test]
fn index_children_of_a_kept_index_are_kept() {
    let index = ManifestRecord {
        digest: d(10),
        children: vec![d(11), d(12)],
        ..Default::default()
    };
    let mut p = policy();
    p.retention.untagged = UntaggedAction::Delete;
    // A child also carries an expired tag of its own.
    let child_tag = dev("ccccccc", 20);
    let plan = run(
        &p,
        &inv(
            vec![tag("dev-latest", &d(10)), tag(&child_tag, &d(11))],
            vec![index],
        ),
        &[],
    );
    assert_eq!(
        reason(&plan, &child_tag),
        (Action::Keep, "index child of kept dev-latest".to_owned())
    );
    assert_eq!(plan.untagged.len(), 1);
    assert_eq!(plan.untagged[0].digest, d(12));
    assert_eq!(plan.untagged[0].action, Action::Keep);
    assert_eq!(
        plan.untagged[0].reason.to_string(),
        "index child of kept dev-latest"
    );
    assert!(plan.deletions.is_empty());
}

#[test]
fn deleted_index_goes_before_its_untagged_children() {
    let index = ManifestRecord {
        digest: d(10),
        children: vec![d(11), d(12)],
        size: Some(100),
        ..Default::default()
    };
    let mut p = policy();
    p.retention.untagged = UntaggedAction::Delete;
    let t = dev("aaaaaaa", 20);
    let plan = run(&p, &inv(vec![tag(&t, &d(10))], vec![index.clone()]), &[]);
    assert_eq!(deleted(&plan), [d(10), d(11), d(12)]);
    assert_eq!(
        plan.untagged[0].reason.to_string(),
        "untagged, nothing kept refers to it"
    );

    // With the default (`untagged: keep`) the children stay.
    let plan = run(&policy(), &inv(vec![tag(&t, &d(10))], vec![index]), &[]);
    assert_eq!(deleted(&plan), [d(10)]);
    assert!(plan.untagged.iter().all(|m| m.action == Action::Keep));
    assert_eq!(
        plan.untagged[0].reason.to_string(),
        "untagged (retention.untagged: keep)"
    );
}

#[test]
fn signature_of_a_kept_digest_is_kept_and_of_a_deleted_one_deleted() {
    let kept_sig = format!("sha256-{:064x}.sig", 1);
    let gone_att = format!("sha256-{:064x}.att", 2);
    let orphan = format!("sha256-{:064x}.sbom", 99);
    let plan = run(
        &policy(),
        &inv(
            vec![
                tag("prod-latest", &d(1)),
                tag(&kept_sig, &d(50)),
                tag(&dev("bbbbbbb", 30), &d(2)),
                tag(&gone_att, &d(51)),
                tag(&orphan, &d(52)),
            ],
            vec![],
        ),
        &[],
    );
    assert_eq!(
        reason(&plan, &kept_sig),
        (
            Action::Keep,
            "signature of kept digest sha256:000000000000".to_owned()
        )
    );
    assert_eq!(
        reason(&plan, &gone_att),
        (
            Action::Delete,
            "attestation of deleted digest sha256:000000000000".to_owned()
        )
    );
    assert_eq!(
        reason(&plan, &orphan),
        (
            Action::Keep,
            "sbom of absent digest sha256:000000000000".to_owned()
        )
    );
    // The subject goes first, then its attestation.
    assert_eq!(deleted(&plan), [d(2), d(51)]);
}

#[test]
fn oci_referrers_of_kept_digests_are_kept() {
    let referrer = ManifestRecord {
        digest: d(60),
        subject: Some(d(1)),
        ..Default::default()
    };
    let mut p = policy();
    p.retention.untagged = UntaggedAction::Delete;
    let plan = run(
        &p,
        &inv(vec![tag("dev-latest", &d(1))], vec![referrer]),
        &[],
    );
    assert_eq!(plan.untagged[0].action, Action::Keep);
    assert_eq!(
        plan.untagged[0].reason.to_string(),
        "referrer of kept digest sha256:000000000000"
    );
}

#[test]
fn max_deletions_defers_the_newest_and_their_dependants() {
    let index = ManifestRecord {
        digest: d(3),
        children: vec![d(30)],
        ..Default::default()
    };
    let mut p = policy();
    p.retention.untagged = UntaggedAction::Delete;
    p.retention.max_deletions = 2;
    let tags = vec![
        tag(&dev("aaaaaaa", 30), &d(1)),
        tag(&dev("bbbbbbb", 20), &d(2)),
        tag(&dev("ccccccc", 10), &d(3)),
    ];
    let plan = run(&p, &inv(tags, vec![index]), &[]);
    assert_eq!(deleted(&plan), [d(1), d(2)]);
    let deferred: Vec<_> = plan.deferred.iter().map(|x| x.digest.clone()).collect();
    assert_eq!(deferred, [d(3), d(30)]);
    assert_eq!(reason(&plan, &dev("ccccccc", 10)).0, Action::Deferred);
    assert_eq!(plan.environments[0].deferred, 1);
    assert_eq!(plan.environments[0].deleted, 2);
}

#[test]
fn an_untagged_child_whose_index_is_deferred_is_deferred() {
    let index = ManifestRecord {
        digest: d(1),
        children: vec![d(2)],
        ..Default::default()
    };
    let mut p = policy();
    p.retention.untagged = UntaggedAction::Delete;
    p.retention.max_deletions = 1;
    // The child's push time is older, so it sorts first, but its index is not deleted.
    let child = ManifestRecord {
        digest: d(2),
        pushed_at: Some(now() - chrono::TimeDelta::days(400)),
        ..Default::default()
    };
    let plan = run(
        &p,
        &inv(vec![tag(&dev("aaaaaaa", 30), &d(1))], vec![index, child]),
        &[],
    );
    // The cap picked the child, which cannot go before its index: nothing is deleted.
    assert!(plan.deletions.is_empty());
    assert_eq!(plan.deferred.len(), 2);
}

#[test]
fn counts_and_order_follow_the_policy() {
    let tags = vec![
        tag("zzz", &d(9)),
        tag(&format!("prod-aaaaaaa-{}", days_ago(1)), &d(1)),
        tag(&dev("bbbbbbb", 30), &d(2)),
        tag("dev-latest", &d(3)),
    ];
    let plan = run(&policy(), &inv(tags, vec![]), &[]);
    let names: Vec<_> = plan.tags.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(names[0], dev("bbbbbbb", 30));
    assert_eq!(names[1], "dev-latest");
    assert_eq!(names[3], "zzz");
    let envs: Vec<_> = plan
        .environments
        .iter()
        .map(|c| c.environment.as_str())
        .collect();
    assert_eq!(envs, ["development", "staging", "production", "(other)"]);
    assert_eq!(plan.environments[0].kept, 1);
    assert_eq!(plan.environments[0].deleted, 1);
}

#[test]
fn empty_inventory_gives_an_empty_plan() {
    let plan = run(&policy(), &inv(vec![], vec![]), &[]);
    assert!(plan.tags.is_empty() && plan.deletions.is_empty());
    assert!(render_plan(&plan).contains("0 tag(s)"));
}

#[test]
fn referrer_tag_parser_accepts_only_cosign_shapes() {
    let hex = "a".repeat(64);
    assert_eq!(
        parse_referrer_tag(&format!("sha256-{hex}.sig")),
        Some((format!("sha256:{hex}"), ReferrerKind::Signature))
    );
    assert!(parse_referrer_tag(&format!("sha256-{hex}.txt")).is_none());
    assert!(parse_referrer_tag("sha256-abc.sig").is_none());
    assert!(parse_referrer_tag("sha512-x.sig").is_none());
}

#[test]
fn reports_render_as_documented() {
    let tags = vec![
        tag(&dev("aaaaaaa", 9), &d(1)),
        tag("prod-latest", &d(1)),
        tag(&dev("bbbbbbb", 12), &d(2)),
        tag("hand-made", &d(3)),
    ];
    let manifests = vec![ManifestRecord {
        digest: d(2),
        size: Some(3 * 1024 * 1024),
        ..Default::default()
    }];
    let plan = run(&policy(), &inv(tags, manifests), &[]);
    insta::assert_snapshot!("plan_human", render_plan(&plan));
    insta::assert_json_snapshot!("plan_json", plan);
    insta::assert_snapshot!("summary_dry_run", render_summary(&plan, None));
    let report = ApplyReport {
        repository: plan.repository.clone(),
        applied: true,
        outcomes: vec![DeletionOutcome {
            digest: d(2),
            tags: vec![dev("bbbbbbb", 12)],
            size: Some(3 * 1024 * 1024),
            status: DeletionStatus::Deleted,
        }],
        requests: Some(6),
        garbage_collection_started: false,
    };
    insta::assert_snapshot!("summary_applied", render_summary(&plan, Some(&report)));
}

fn arb_inventory() -> impl Strategy<Value = (Inventory, Vec<DeployedDigest>, u32)> {
    let tag_strategy =
        (0u8..8, 0u32..12, 0i64..60, 0u32..6).prop_map(|(kind, digest, days, sha)| {
            let name = match kind {
                0 => "dev-latest".to_owned(),
                1 => "prod-latest".to_owned(),
                2 => format!("dev-{:07x}-{}", sha, days_ago(days)),
                3 => format!("staging-{:07x}-{}", sha, days_ago(days)),
                4 => format!("prod-{:07x}-{}", sha, days_ago(days * 3)),
                5 => format!("sha256-{:064x}.sig", digest % 6),
                6 => format!("weird{sha}"),
                _ => format!("dev-{:07x}-{}", sha + 100, days_ago(days + 5)),
            };
            (name, digest)
        });
    let manifest_strategy = (
        0u32..12,
        proptest::collection::vec(0u32..16, 0..3),
        proptest::option::of(0u32..12),
    )
        .prop_map(|(digest, children, subject)| ManifestRecord {
            digest: d(digest),
            children: children.into_iter().map(d).collect(),
            subject: subject.map(d),
            size: None,
            pushed_at: Some(now() - chrono::TimeDelta::days(i64::from(digest) * 5)),
        });
    (
        proptest::collection::vec(tag_strategy, 0..40),
        proptest::collection::vec(manifest_strategy, 0..6),
        proptest::collection::vec(0u32..12, 0..2),
        0u32..20,
        any::<bool>(),
    )
        .prop_map(|(tags, manifests, deployed, cap, delete_untagged)| {
            let mut seen = std::collections::HashSet::new();
            let tags = tags
                .into_iter()
                .filter(|(name, _)| seen.insert(name.clone()))
                .map(|(name, digest)| tag(&name, &d(digest)))
                .collect();
            let deployed = deployed
                .into_iter()
                .map(|n| DeployedDigest {
                    environment: "production".to_owned(),
                    digest: d(n),
                })
                .collect();
            let mut inventory = inv(tags, manifests);
            // `delete_untagged` is smuggled through the repository name for the test policy.
            if delete_untagged {
                inventory.repository = "delete-untagged".to_owned();
            }
            (inventory, deployed, cap)
        })
}

proptest! {
    #[test]
    fn never_deletes_a_kept_digest_latest_or_deployed((inventory, deployed, cap) in arb_inventory()) {
        let mut p = Policy::embedded_default();
        p.environments["development"].retention.keep_min = 1;
        if inventory.repository == "delete-untagged" {
            p.retention.untagged = UntaggedAction::Delete;
        }
        let scheme = TagScheme::new(&p).unwrap();
        let plan = plan(&PlanInput { policy: &p, scheme: &scheme, now: now(), inventory: &inventory, deployed: &deployed, max_deletions: Some(cap) }).unwrap();
        let deleted: std::collections::HashSet<&str> = plan.deletions.iter().map(|x| x.digest.as_str()).collect();
        prop_assert!(plan.deletions.len() <= cap as usize);
        prop_assert_eq!(plan.tags.len(), inventory.tags.len());
        for t in &plan.tags {
            if t.action == Action::Keep {
                prop_assert!(!deleted.contains(t.digest.as_str()), "kept tag {} on deleted digest", t.tag);
            }
            if t.tag.ends_with("-latest") {
                prop_assert_eq!(t.action, Action::Keep);
            }
            prop_assert_eq!(t.action == Action::Delete, deleted.contains(t.digest.as_str()));
        }
        for dd in &deployed {
            prop_assert!(!deleted.contains(dd.digest.as_str()));
        }
        // Children of anything not deleted are not deleted; nor are referrers of kept digests.
        for m in &inventory.manifests {
            if !deleted.contains(m.digest.as_str()) {
                for c in &m.children {
                    prop_assert!(!deleted.contains(c.as_str()), "child {} of surviving {}", c, m.digest);
                }
            }
            if let Some(s) = &m.subject
                && !deleted.contains(s.as_str())
                && inventory.tags.iter().any(|t| &t.digest == s)
            {
                prop_assert!(!deleted.contains(m.digest.as_str()));
            }
        }
        // Deleted digests come after every index that lists them.
        for (pos, del) in plan.deletions.iter().enumerate() {
            for m in &inventory.manifests {
                if m.children.contains(&del.digest) {
                    let parent = plan.deletions.iter().position(|x| x.digest == m.digest);
                    prop_assert!(parent.is_some_and(|p| p < pos));
                }
            }
        }
        // Same input, same plan.
        let again = super::plan(&PlanInput { policy: &p, scheme: &scheme, now: now(), inventory: &inventory, deployed: &deployed, max_deletions: Some(cap) }).unwrap();
        prop_assert_eq!(again, plan);
    }
}

proptest! {
    /// Tags come out grouped by environment (policy order, then `(other)`) and by name within
    /// a group, whatever order the backend listed them in; the decisions do not depend on it.
    #[test]
    fn plan_order_and_decisions_do_not_depend_on_listing_order(
        (inventory, deployed, cap) in arb_inventory(),
        seed in any::<u64>(),
        long_names in proptest::collection::vec("[a-z]{0,3}", 0..6),
    ) {
        let p = Policy::embedded_default();
        let scheme = TagScheme::new(&p).unwrap();
        let mut sorted = inventory.clone();
        // Names sharing their first 16 bytes, so the tie-break on full names is exercised.
        for (k, suffix) in long_names.iter().enumerate() {
            let name = format!("dev-sharedprefix-{suffix}{k}");
            if !sorted.tags.iter().any(|t| t.tag == name) {
                sorted.tags.push(tag(&name, &d(k as u32)));
            }
        }
        sorted.tags.sort_by(|a, b| a.tag.cmp(&b.tag));
        let mut shuffled = sorted.clone();
        let len = shuffled.tags.len();
        let mut state = seed | 1;
        for i in (1..len).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.tags.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let input = |inventory| PlanInput { policy: &p, scheme: &scheme, now: now(), inventory, deployed: &deployed, max_deletions: Some(cap) };
        let a = plan(&input(&sorted)).unwrap();
        let b = plan(&input(&shuffled)).unwrap();
        prop_assert_eq!(&a, &b);
        let rank = |t: &TagDecision| t.environment.as_deref().and_then(|e| p.environments.get_index_of(e)).unwrap_or(usize::MAX);
        for w in b.tags.windows(2) {
            prop_assert!((rank(&w[0]), &w[0].tag) < (rank(&w[1]), &w[1].tag), "{} before {}", w[0].tag, w[1].tag);
        }
    }

    /// The literal-prefix shortcut in front of the protected globs never changes an answer.
    #[test]
    fn protected_patterns_match_as_globset_does(
        patterns in proptest::collection::vec(prop::sample::select(vec![
            "v*", "v[0-9]*", "release-*", "*-rc", "{a,b}*", "?x*", "keep", "r\\*", "rel*-final",
        ]), 1..4),
        name in "(v|release-|r|rel|a|b|k|x|\\*){0,3}[a-z0-9.*-]{0,8}",
    ) {
        let mut p = policy();
        p.retention.protected = patterns.iter().map(|s| (*s).to_owned()).collect();
        let plan = run(&p, &inv(vec![tag(&name, &d(1))], vec![]), &[]);
        let mut builder = globset::GlobSetBuilder::new();
        for pattern in &patterns {
            builder.add(globset::Glob::new(pattern).unwrap());
        }
        let expected = builder.build().unwrap().matches(&name).first().map(|&i| patterns[i].to_owned());
        let got = match &plan.tags[0].reason {
            Reason::Protected { pattern } => Some(pattern.clone()),
            _ => None,
        };
        prop_assert_eq!(got, expected, "{}", name);
    }
}
