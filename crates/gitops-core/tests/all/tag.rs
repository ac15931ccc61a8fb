//! Tags: the documented example, parsing back, templates, semver, and no panic on any input.

use chrono::{DateTime, TimeZone, Utc};
use gitops_core::image_ref::ImageRef;
use gitops_core::policy::Policy;
use gitops_core::tag::{TagInput, TagScheme, is_valid_tag, sanitize_component, semver_tags};
use proptest::prelude::*;

const SHA: &str = "860c1904a1ce19322e91ac35af1ab07466440c37";

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 12, 3, 12, 0, 0)
        .single()
        .expect("valid time")
}

fn scheme() -> TagScheme {
    TagScheme::new(&Policy::embedded_default()).expect("default templates compile")
}

#[test]
fn documented_tags_for_every_environment() {
    let policy = Policy::embedded_default();
    let scheme = scheme();
    let mut lines = Vec::new();
    for (name, env) in &policy.environments {
        let tags = scheme
            .render(&TagInput {
                environment: name,
                prefix: &env.tag_prefix,
                sha: SHA,
                time: noon(),
                branch: Some(&env.branch),
            })
            .expect("render");
        for tag in tags.all() {
            assert!(is_valid_tag(&tag));
            let reference = ImageRef::parse("registry.example.com/app/backend")
                .and_then(|r| r.with_tag(&tag))
                .expect("valid reference");
            lines.push(reference.to_string());
        }
    }
    assert_eq!(
        lines[..2],
        [
            "registry.example.com/app/backend:dev-860c190-20251203-120000",
            "registry.example.com/app/backend:dev-latest"
        ]
    );
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn parse_round_trips() {
    let scheme = scheme();
    let parsed = scheme
        .parse("staging-abcdef1-20251203-140000")
        .expect("ours");
    assert_eq!(parsed.environment.as_deref(), Some("staging"));
    assert_eq!(parsed.sha7.as_deref(), Some("abcdef1"));
    assert_eq!(
        parsed.timestamp.map(|t| t.to_rfc3339()).as_deref(),
        Some("2025-12-03T14:00:00+00:00")
    );
    let latest = scheme.parse("prod-latest").expect("ours");
    assert!(latest.latest);
    assert_eq!(latest.environment.as_deref(), Some("production"));
    for foreign in [
        "latest",
        "v1.2.3",
        "dev-xyz-20251203-120000",
        "qa-abcdef1-20251203-140000",
        "dev-abcdef1-20251303-140000",
    ] {
        assert!(scheme.parse(foreign).is_none(), "{foreign}");
    }
}

#[test]
fn semver() {
    assert_eq!(semver_tags("v1.2.3").expect("ok"), ["1.2.3", "1.2", "1"]);
    assert_eq!(semver_tags("0.4.0").expect("ok"), ["0.4.0", "0.4"]);
    assert_eq!(
        semver_tags("v1.0.0+build.5").expect("ok"),
        ["1.0.0_build.5", "1.0", "1"]
    );
    assert!(semver_tags("v1.2").is_err());
}

#[test]
fn sanitising_branch_names() {
    assert_eq!(sanitize_component("Feature/ÄBC--x"), "feature-bc-x");
    assert_eq!(sanitize_component("///"), "");
}

proptest! {
    #[test]
    fn parsing_any_tag_never_panics(tag in "\\PC{0,140}") {
        let _ = scheme().parse(&tag);
        let _ = is_valid_tag(&tag);
        let _ = ImageRef::parse(&tag);
    }

    #[test]
    fn rendered_tags_are_valid_and_parse_back(sha in "[0-9a-f]{40}", secs in 0i64..4_000_000_000, branch in "\\PC{0,300}") {
        let policy = Policy::embedded_default();
        let scheme = scheme();
        let time = DateTime::from_timestamp(secs, 0).expect("in range");
        for (name, env) in &policy.environments {
            let tags = scheme.render(&TagInput { environment: name, prefix: &env.tag_prefix, sha: &sha, time, branch: Some(&branch) }).expect("render");
            prop_assert!(is_valid_tag(&tags.version));
            let parsed = scheme.parse(&tags.version).expect("parses back");
            prop_assert_eq!(parsed.environment.as_deref(), Some(name.as_str()));
            prop_assert_eq!(parsed.sha7.as_deref(), Some(&sha[..7]));
            prop_assert_eq!(parsed.timestamp, Some(time));
        }
    }

    #[test]
    fn branch_templates_always_give_valid_tags_or_errors(branch in "\\PC{0,300}") {
        let mut policy = Policy::embedded_default();
        policy.tags.template = "{prefix}-{branch}-{sha7}".to_owned();
        let scheme = TagScheme::new(&policy).expect("compiles");
        if let Ok(tags) = scheme.render(&TagInput { environment: "development", prefix: "dev", sha: SHA, time: noon(), branch: Some(&branch) }) {
            prop_assert!(is_valid_tag(&tags.version));
        }
    }

    #[test]
    fn image_refs_round_trip(host in "[a-z]{1,8}\\.[a-z]{2,3}", path in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}", tag in "[A-Za-z0-9_][A-Za-z0-9._-]{0,20}") {
        let text = format!("{host}/{path}:{tag}");
        let parsed = ImageRef::parse(&text).expect("valid");
        prop_assert_eq!(parsed.to_string(), text);
    }
}
