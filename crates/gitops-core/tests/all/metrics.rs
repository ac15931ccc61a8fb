//! DORA metrics on synthetic ledgers with known answers.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use gitops_core::ledger::{CommitInfo, parse_commit};
use gitops_core::metrics::{
    DeployEvent, DeployKind, DoraBands, FailureCause, FrequencyClass, MetricsOptions,
    MetricsReport, Tier, compute, render_html, render_prometheus, render_table, week_start,
};
use proptest::prelude::*;

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap_or_default()
}

fn event(id: &str, time: DateTime<Utc>, env: &str, kind: DeployKind) -> DeployEvent {
    DeployEvent {
        id: id.to_owned(),
        time,
        environment: env.to_owned(),
        kind,
        source_commit: None,
        source_commit_time: None,
        rollback_of: None,
        success: true,
    }
}

fn with_source(mut e: DeployEvent, commit: &str, committed: DateTime<Utc>) -> DeployEvent {
    e.source_commit = Some(commit.to_owned());
    e.source_commit_time = Some(committed);
    e
}

fn options(now: DateTime<Utc>, days: i64, env: Option<&str>) -> MetricsOptions {
    MetricsOptions {
        now,
        window: Duration::days(days),
        environment: env.map(str::to_owned),
        environment_order: vec![
            "development".to_owned(),
            "staging".to_owned(),
            "production".to_owned(),
        ],
        bands: DoraBands::dora_2024(),
    }
}

fn only(report: &MetricsReport) -> &gitops_core::metrics::EnvironmentMetrics {
    assert_eq!(report.environments.len(), 1, "{report:#?}");
    &report.environments[0]
}

#[test]
fn no_deploys_gives_empty_metrics_without_tiers() {
    let now = at(2026, 11, 29, 12, 0);
    let report = compute(&[], &options(now, 90, Some("production")));
    let env = only(&report);
    assert_eq!(env.environment, "production");
    assert_eq!(env.deployment_frequency.deployments, 0);
    assert_eq!(env.deployment_frequency.class, None);
    assert_eq!(env.deployment_frequency.tier, None);
    assert_eq!(env.lead_time.median_seconds, None);
    assert_eq!(env.change_failure_rate.rate, None);
    assert_eq!(env.time_to_restore.median_seconds, None);
    assert_eq!(report.bands.source, "DORA 2024");
    // 90 days from Monday 2026-08-31 to Sunday 2026-11-29: exactly 13 Monday-weeks, all empty.
    assert_eq!(env.weeks.len(), 13);
    assert!(env.weeks.iter().all(|w| w.deployments == 0));
    insta::assert_snapshot!("no_deploys_table", render_table(&report));
    insta::assert_snapshot!("no_deploys_prometheus", render_prometheus(&report));
}

#[test]
fn no_environments_at_all() {
    let report = compute(&[], &options(at(2026, 11, 29, 12, 0), 30, None));
    assert!(report.environments.is_empty());
    assert!(render_table(&report).contains("no deployments"));
    assert!(render_html(&report).contains("No deployments"));
}

#[test]
fn huge_windows_are_capped_at_100_years() {
    let now = at(2026, 11, 29, 12, 0);
    let mut opts = options(now, 1, Some("production"));
    opts.window = Duration::MAX;
    let report = compute(&[], &opts);
    assert_eq!(
        report.window.end - report.window.start,
        Duration::days(36_525)
    );
    let weeks = only(&report).weeks.len();
    assert!((5_218..=5_220).contains(&weeks), "{weeks}");
}

#[test]
fn one_deploy() {
    let now = at(2026, 11, 29, 12, 0);
    let deploy = with_source(
        event(
            "d1",
            at(2026, 11, 20, 15, 0),
            "production",
            DeployKind::Deploy,
        ),
        "c1",
        at(2026, 11, 20, 12, 0),
    );
    let report = compute(&[deploy], &options(now, 90, None));
    let env = only(&report);
    assert_eq!(env.deployment_frequency.deployments, 1);
    assert_eq!(env.deployment_frequency.deploy_days, 1);
    // One deploy in 90 days: the median week and the median month have none.
    assert_eq!(env.deployment_frequency.class, Some(FrequencyClass::Yearly));
    assert_eq!(env.deployment_frequency.tier, Some(Tier::Low));
    assert_eq!(env.lead_time.samples, 1);
    assert_eq!(env.lead_time.median_seconds, Some(3.0 * 3600.0));
    assert_eq!(env.lead_time.tier, Some(Tier::Elite));
    assert_eq!(env.change_failure_rate.rate, Some(0.0));
    assert_eq!(env.change_failure_rate.tier, Some(Tier::Elite));
    assert_eq!(env.time_to_restore.median_seconds, None);
    assert_eq!(env.time_to_restore.tier, None);
    let hist: Vec<u64> = env.lead_time.histogram.iter().map(|b| b.count).collect();
    assert_eq!(hist, vec![0, 1, 0, 0, 0, 0, 0]);
}

#[test]
fn deploys_outside_the_window_or_in_the_future_are_ignored() {
    let now = at(2026, 11, 29, 12, 0);
    let events = [
        event(
            "old",
            at(2026, 1, 1, 0, 0),
            "production",
            DeployKind::Deploy,
        ),
        event(
            "future",
            at(2026, 12, 1, 0, 0),
            "production",
            DeployKind::Deploy,
        ),
        event(
            "in",
            at(2026, 11, 28, 0, 0),
            "production",
            DeployKind::Deploy,
        ),
    ];
    let report = compute(&events, &options(now, 30, None));
    assert_eq!(only(&report).deployment_frequency.deployments, 1);
    assert_eq!(only(&report).timeline.len(), 1);
}

/// Europe switched to summer time on 2026-03-29 01:00 UTC and the US on 2026-03-08. Times are
/// UTC, so buckets are Monday 00:00 UTC weeks whatever the local clocks did.
#[test]
fn weekly_buckets_are_stable_across_a_daylight_saving_change() {
    let mut events = Vec::new();
    // Mon/Wed/Fri at 23:30 UTC for four weeks spanning both DST changes (local times would
    // cross midnight in Europe after the switch; UTC days do not move).
    for week in 0..4 {
        let monday = at(2026, 3, 2, 23, 30) + Duration::weeks(week);
        for (k, offset) in [0, 2, 4].iter().enumerate() {
            events.push(event(
                &format!("w{week}d{k}"),
                monday + Duration::days(*offset),
                "production",
                DeployKind::Deploy,
            ));
        }
    }
    // The night of the European switch: Sunday 23:59 UTC and Monday 00:00 UTC fall in
    // different weeks.
    events.push(event(
        "sun",
        at(2026, 3, 29, 23, 59),
        "production",
        DeployKind::Deploy,
    ));
    events.push(event(
        "mon",
        at(2026, 3, 30, 0, 0),
        "production",
        DeployKind::Deploy,
    ));
    let now = at(2026, 4, 5, 12, 0);
    let report = compute(&events, &options(now, 35, None));
    let env = only(&report);
    let weeks: Vec<(NaiveDate, u64, u64)> = env
        .weeks
        .iter()
        .map(|w| (w.week_start, w.deployments, w.deploy_days))
        .collect();
    let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap_or_default();
    assert_eq!(
        weeks,
        vec![
            (d(2, 23), 0, 0),
            (d(3, 2), 3, 3),
            (d(3, 9), 3, 3),
            (d(3, 16), 3, 3),
            (d(3, 23), 4, 4),
            (d(3, 30), 1, 1),
        ]
    );
    assert_eq!(env.deployment_frequency.median_deploy_days_per_week, 3.0);
    assert_eq!(env.deployment_frequency.class, Some(FrequencyClass::Daily));
    // One deploy per deploy day: "daily to weekly", not "several a day".
    assert_eq!(env.deployment_frequency.tier, Some(Tier::High));
    assert_eq!(week_start(d(3, 29)), d(3, 23));
    assert_eq!(week_start(d(3, 30)), d(3, 30));
}

#[test]
fn a_rollback_marks_its_target_failed_and_is_restored_by_the_rollback() {
    let now = at(2026, 11, 29, 12, 0);
    let mut rollback = event(
        "r1",
        at(2026, 11, 10, 10, 30),
        "production",
        DeployKind::Rollback,
    );
    rollback.rollback_of = Some("d2aaaa".to_owned());
    let events = [
        event(
            "d1",
            at(2026, 11, 9, 9, 0),
            "production",
            DeployKind::Deploy,
        ),
        event(
            "d2aaaa0123",
            at(2026, 11, 10, 10, 0),
            "production",
            DeployKind::Deploy,
        ),
        rollback,
        event(
            "d3",
            at(2026, 11, 12, 9, 0),
            "production",
            DeployKind::Deploy,
        ),
    ];
    let report = compute(&events, &options(now, 30, None));
    let env = only(&report);
    assert_eq!(env.deployment_frequency.deployments, 3);
    assert_eq!(env.rollbacks, 1);
    assert_eq!(env.change_failure_rate.deployments, 3);
    assert_eq!(env.change_failure_rate.failures, 1);
    assert_eq!(env.change_failure_rate.rate, Some(0.333_333));
    assert_eq!(env.incidents.len(), 1);
    let incident = &env.incidents[0];
    assert_eq!(incident.deployment, "d2aaaa0123");
    assert_eq!(incident.cause, FailureCause::Rollback);
    assert_eq!(incident.restored_by.as_deref(), Some("r1"));
    assert_eq!(incident.seconds, Some(30 * 60));
    assert_eq!(env.time_to_restore.median_seconds, Some(1800.0));
    assert_eq!(env.time_to_restore.tier, Some(Tier::Elite));
    assert_eq!(env.time_to_restore.open, 0);
    // 33% is nearest to the 2024 low cluster (40%).
    assert_eq!(env.change_failure_rate.tier, Some(Tier::Low));
}

#[test]
fn a_hotfix_fails_the_deploy_before_it_and_an_unrestored_failure_stays_open() {
    let now = at(2026, 11, 29, 12, 0);
    let mut broken = event("d3", at(2026, 11, 20, 9, 0), "staging", DeployKind::Deploy);
    broken.success = false;
    let events = [
        event("d1", at(2026, 11, 2, 9, 0), "staging", DeployKind::Deploy),
        event("h1", at(2026, 11, 2, 13, 0), "staging", DeployKind::Hotfix),
        event("d2", at(2026, 11, 3, 9, 0), "staging", DeployKind::Deploy),
        broken,
    ];
    let report = compute(&events, &options(now, 30, None));
    let env = only(&report);
    assert_eq!(env.hotfixes, 1);
    // d1, h1, d2 succeeded; d3 was attempted and failed.
    assert_eq!(env.deployment_frequency.deployments, 3);
    assert_eq!(env.change_failure_rate.deployments, 4);
    assert_eq!(env.change_failure_rate.failures, 2);
    assert_eq!(env.change_failure_rate.rate, Some(0.5));
    let causes: Vec<(&str, FailureCause, Option<i64>)> = env
        .incidents
        .iter()
        .map(|i| (i.deployment.as_str(), i.cause, i.seconds))
        .collect();
    assert_eq!(
        causes,
        vec![
            ("d1", FailureCause::Hotfix, Some(4 * 3600)),
            ("d3", FailureCause::DeployFailed, None),
        ]
    );
    assert_eq!(env.time_to_restore.restored, 1);
    assert_eq!(env.time_to_restore.open, 1);
    assert_eq!(env.time_to_restore.median_seconds, Some(4.0 * 3600.0));
    assert_eq!(env.time_to_restore.tier, Some(Tier::High));
}

#[test]
fn lead_time_is_the_median_of_first_deploys_ignoring_non_positive_values() {
    let now = at(2026, 11, 29, 12, 0);
    let events = [
        // 1h
        with_source(
            event(
                "a",
                at(2026, 11, 1, 10, 0),
                "production",
                DeployKind::Deploy,
            ),
            "c1",
            at(2026, 11, 1, 9, 0),
        ),
        // the same commit again (after a rollback, say): not counted twice
        with_source(
            event(
                "b",
                at(2026, 11, 5, 10, 0),
                "production",
                DeployKind::Deploy,
            ),
            "c1",
            at(2026, 11, 1, 9, 0),
        ),
        // 3h
        with_source(
            event(
                "c",
                at(2026, 11, 6, 12, 0),
                "production",
                DeployKind::Deploy,
            ),
            "c2",
            at(2026, 11, 6, 9, 0),
        ),
        // clock skew: committed "after" the deploy, ignored
        with_source(
            event("d", at(2026, 11, 7, 9, 0), "production", DeployKind::Deploy),
            "c3",
            at(2026, 11, 7, 10, 0),
        ),
        // 10 days
        with_source(
            event(
                "e",
                at(2026, 11, 20, 9, 0),
                "production",
                DeployKind::Deploy,
            ),
            "c4",
            at(2026, 11, 10, 9, 0),
        ),
        // 2 days
        with_source(
            event(
                "f",
                at(2026, 11, 22, 9, 0),
                "production",
                DeployKind::Deploy,
            ),
            "c5",
            at(2026, 11, 20, 9, 0),
        ),
    ];
    let report = compute(&events, &options(now, 30, None));
    let lead = &only(&report).lead_time;
    assert_eq!(lead.samples, 4);
    // sorted: 1h, 3h, 2d, 10d -> (3h + 2d) / 2
    assert_eq!(
        lead.median_seconds,
        Some((3.0 * 3600.0 + 2.0 * 86_400.0) / 2.0)
    );
    assert_eq!(lead.tier, Some(Tier::High));
    let hist: Vec<u64> = lead.histogram.iter().map(|b| b.count).collect();
    assert_eq!(hist, vec![0, 2, 0, 1, 0, 1, 0]);
}

#[test]
fn several_deploys_a_day_every_day_is_elite_and_environments_follow_policy_order() {
    let now = at(2026, 11, 29, 23, 0);
    let mut events = Vec::new();
    for day in 0..28 {
        for hour in [9, 14] {
            events.push(event(
                &format!("p{day}-{hour}"),
                at(2026, 11, 2, hour, 0) + Duration::days(day),
                "production",
                DeployKind::Deploy,
            ));
        }
    }
    events.push(event(
        "x",
        at(2026, 11, 3, 9, 0),
        "development",
        DeployKind::Deploy,
    ));
    events.push(event(
        "y",
        at(2026, 11, 3, 9, 0),
        "adhoc",
        DeployKind::Deploy,
    ));
    let report = compute(&events, &options(now, 28, None));
    let names: Vec<&str> = report
        .environments
        .iter()
        .map(|e| e.environment.as_str())
        .collect();
    assert_eq!(names, vec!["development", "production", "adhoc"]);
    let prod = &report.environments[1];
    assert_eq!(prod.deployment_frequency.deployments, 56);
    assert_eq!(prod.deployment_frequency.per_week, 14.0);
    assert_eq!(prod.deployment_frequency.class, Some(FrequencyClass::Daily));
    assert_eq!(prod.deployment_frequency.tier, Some(Tier::Elite));
}

#[test]
fn ledger_entries_adapt_to_deploy_events() {
    let info = CommitInfo {
        commit: "0123456789abcdef0123456789abcdef01234567".to_owned(),
        time: at(2026, 11, 10, 10, 30),
        author: "gitops-bot".to_owned(),
        message: "rollback(production): backend\n\nGitops-Kind: rollback\nGitops-Environment: production\nGitops-Image: backend=r.example/backend:prod-abc1234-20261110-100000@sha256:0000000000000000000000000000000000000000000000000000000000000000\nGitops-Source-Commit: abc1234\nGitops-Rollback-Of: fedcba9\n".to_owned(),
    };
    let entry = parse_commit(&info);
    assert!(entry.is_some(), "the ledger parser should read {info:?}");
    if let Some(entry) = entry {
        let e = DeployEvent::from_ledger(&entry, Some(at(2026, 11, 10, 9, 0)));
        assert_eq!(e.kind, DeployKind::Rollback);
        assert_eq!(e.environment, "production");
        assert_eq!(e.rollback_of.as_deref(), Some("fedcba9"));
        assert_eq!(e.source_commit.as_deref(), Some("abc1234"));
        assert!(e.success);
    }
}

/// A ledger rich enough to exercise every renderer.
pub fn sample_events() -> Vec<DeployEvent> {
    let mut events = Vec::new();
    let base = at(2026, 9, 7, 9, 0);
    for day in (0..84).step_by(2) {
        let time = base + Duration::days(day) + Duration::hours(day % 5);
        events.push(with_source(
            event(
                &format!("p{day:03}"),
                time,
                "production",
                DeployKind::Deploy,
            ),
            &format!("c{day:03}"),
            time - Duration::hours(2 + (day % 7) * 9),
        ));
        events.push(with_source(
            event(
                &format!("s{day:03}"),
                time - Duration::hours(20),
                "staging",
                DeployKind::Deploy,
            ),
            &format!("c{day:03}"),
            time - Duration::hours(22 + (day % 7) * 9),
        ));
    }
    let mut rollback = event(
        "r1",
        base + Duration::days(20) + Duration::hours(5) + Duration::minutes(40),
        "production",
        DeployKind::Rollback,
    );
    rollback.rollback_of = Some("p020".to_owned());
    events.push(rollback);
    events.push(event(
        "h1",
        base + Duration::days(50) + Duration::hours(7),
        "production",
        DeployKind::Hotfix,
    ));
    events
}

#[test]
fn rendered_table_and_prometheus_text() {
    let now = at(2026, 11, 29, 12, 0);
    let report = compute(&sample_events(), &options(now, 90, None));
    insta::assert_snapshot!("sample_table", render_table(&report));
    insta::assert_snapshot!("sample_prometheus", render_prometheus(&report));
    let json = serde_json::to_value(&report).unwrap_or_default();
    assert_eq!(json["bands"]["source"], "DORA 2024");
    assert_eq!(
        json["environments"][0]["environment"], "staging",
        "policy order: staging before production"
    );
}

#[test]
fn html_is_self_contained_and_tags_every_number() {
    let now = at(2026, 11, 29, 12, 0);
    let report = compute(&sample_events(), &options(now, 90, None));
    let html = render_html(&report);
    assert!(html.starts_with("<!DOCTYPE html>"));
    for forbidden in ["<script", "http://", "https://", "src=", "@import", "url("] {
        let outside_svg_ns = html.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !outside_svg_ns.contains(forbidden),
            "the report must not load anything: found {forbidden}"
        );
    }
    assert!(html.contains(r#"data-metric="production.change_failure_rate.rate""#));
    assert!(html.contains(r#"data-metric="staging.weeks.0.deployments""#));
    assert!(html.contains("DORA 2024"));
}

#[test]
fn bands_from_yaml_and_by_year() {
    let yaml = serde_norway::to_string(&DoraBands::dora_2023()).unwrap_or_default();
    let bands = DoraBands::from_yaml_str(&yaml, "bands.yaml");
    assert!(matches!(&bands, Ok(b) if b.year == 2023));
    let err = DoraBands::from_yaml_str("source: x\nyear: 2025\n", "bands.yaml")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.starts_with("bands.yaml: invalid DORA bands"), "{err}");
    assert!(DoraBands::for_year(2019).is_err());
}

fn arb_event() -> impl Strategy<Value = DeployEvent> {
    (
        0i64..200,
        0usize..3,
        0usize..3,
        proptest::option::of(0i64..400),
        proptest::option::of("[a-z0-9]{0,4}"),
        any::<bool>(),
        "[a-z0-9]{1,4}",
    )
        .prop_map(|(hours, env, kind, lead, rollback_of, success, id)| {
            let time = at(2026, 11, 1, 0, 0) + Duration::hours(hours * 3);
            DeployEvent {
                id,
                time,
                environment: ["dev", "staging", "production"][env].to_owned(),
                kind: [DeployKind::Deploy, DeployKind::Rollback, DeployKind::Hotfix][kind],
                source_commit: lead.map(|l| format!("c{l}")),
                source_commit_time: lead.map(|l| time - Duration::hours(l - 20)),
                rollback_of,
                success,
            }
        })
}

proptest! {
    #[test]
    fn any_ledger_computes_and_renders_without_panicking(
        events in proptest::collection::vec(arb_event(), 0..40),
        days in 0i64..120,
    ) {
        let report = compute(&events, &options(at(2026, 12, 1, 0, 0), days, None));
        for env in &report.environments {
            prop_assert!(env.change_failure_rate.failures <= env.change_failure_rate.deployments);
            prop_assert!(env.time_to_restore.restored + env.time_to_restore.open == env.change_failure_rate.failures);
            if let Some(rate) = env.change_failure_rate.rate {
                prop_assert!((0.0..=1.0).contains(&rate));
            }
        }
        let _ = render_table(&report);
        let _ = render_prometheus(&report);
        let _ = render_html(&report);
    }
}
