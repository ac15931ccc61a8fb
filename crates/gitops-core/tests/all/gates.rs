//! Gate parsers and evaluation on realistic report fixtures.

use chrono::{DateTime, TimeZone, Utc};
use gitops_core::gates::{self, Allowlist, CoverageFormat, GateError, GateKind, GateOutcome};
use gitops_core::policy::{CoverageGate, Severity, SonarGate, VulnerabilityGate};
use proptest::prelude::*;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/all/fixtures/gates/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn trivy(
    name: &str,
    gate: &VulnerabilityGate,
    allow: &Allowlist,
    now: DateTime<Utc>,
) -> GateOutcome {
    match gates::parse_trivy(&fixture(name), name) {
        Ok(report) => gates::evaluate_trivy(&report, name, gate, allow, now),
        Err(err) => GateOutcome::unreadable(GateKind::Vulnerabilities, name, &err),
    }
}

#[test]
fn trivy_critical_fails_at_default_severity_and_ignores_lower() {
    let out = trivy(
        "trivy-critical.json",
        &VulnerabilityGate::default(),
        &Allowlist::default(),
        at(2026, 11, 30),
    );
    assert!(!out.passed);
    let ids: Vec<_> = out
        .findings
        .iter()
        .filter_map(|f| f.id.as_deref())
        .collect();
    assert_eq!(ids, ["CVE-2024-6387", "CVE-2023-45853"]);
    assert!(
        out.summary
            .starts_with("2 vulnerabilities at or above CRITICAL (5 found in total"),
        "{}",
        out.summary
    );
    // OS package findings have no file; the image is not a file in the repository.
    assert!(out.findings.iter().all(|f| f.file.is_none()));
}

#[test]
fn trivy_threshold_is_inclusive() {
    let gate = VulnerabilityGate {
        fail_on: Severity::High,
        ..VulnerabilityGate::default()
    };
    let out = trivy(
        "trivy-critical.json",
        &gate,
        &Allowlist::default(),
        at(2026, 11, 30),
    );
    assert_eq!(out.findings.len(), 3);
    let gate = VulnerabilityGate {
        fail_on: Severity::Medium,
        ..VulnerabilityGate::default()
    };
    let out = trivy(
        "trivy-critical.json",
        &gate,
        &Allowlist::default(),
        at(2026, 11, 30),
    );
    assert_eq!(out.findings.len(), 4);
    let medium = out
        .findings
        .last()
        .cloned()
        .unwrap_or_else(|| unreachable!());
    assert_eq!(medium.file.as_deref(), Some("app/requirements.txt"));
}

#[test]
fn trivy_allowlist_applies_before_expiry_and_fails_after() {
    let allow = Allowlist::parse(&fixture("allowlist.yaml"), "allowlist.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    // 2026-11-15 is the last valid day of the CVE-2024-6387 entry.
    let out = trivy(
        "trivy-critical.json",
        &VulnerabilityGate::default(),
        &allow,
        Utc.with_ymd_and_hms(2026, 11, 15, 23, 59, 59)
            .single()
            .unwrap_or_default(),
    );
    assert!(out.passed, "{out:#?}");
    assert!(out.summary.contains("2 allow-listed"), "{}", out.summary);
    assert!(
        out.reasons
            .iter()
            .any(|r| r.contains("CVE-2024-6387 expires on 2026-11-15")),
        "{:?}",
        out.reasons
    );

    let out = trivy(
        "trivy-critical.json",
        &VulnerabilityGate::default(),
        &allow,
        Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0)
            .single()
            .unwrap_or_default(),
    );
    assert!(!out.passed);
    assert_eq!(out.findings.len(), 1);
    assert_eq!(out.findings[0].id.as_deref(), Some("CVE-2024-6387"));
    assert!(
        out.reasons
            .iter()
            .any(|r| r.contains("CVE-2024-6387 expired on 2026-11-15")),
        "{:?}",
        out.reasons
    );
}

#[test]
fn trivy_expired_entry_without_a_finding_is_noted_not_failed() {
    let allow = Allowlist::parse(&fixture("allowlist.yaml"), "allowlist.yaml")
        .unwrap_or_else(|e| panic!("{e}"));
    let out = trivy(
        "trivy-clean.json",
        &VulnerabilityGate::default(),
        &allow,
        at(2027, 1, 1),
    );
    assert!(out.passed);
    assert_eq!(
        out.reasons,
        [
            "allow-list entry CVE-2023-45853 expired on 2026-12-31 and matches nothing in this report: remove it",
            "allow-list entry CVE-2024-6387 expired on 2026-11-15 and matches nothing in this report: remove it",
        ]
    );
}

#[test]
fn trivy_empty_and_missing_fields() {
    for name in ["trivy-clean.json", "trivy-no-results.json"] {
        let out = trivy(
            name,
            &VulnerabilityGate::default(),
            &Allowlist::default(),
            at(2026, 11, 30),
        );
        assert!(out.passed, "{name}: {out:#?}");
        assert!(out.findings.is_empty());
    }
    let out = trivy(
        "trivy-missing-fields.json",
        &VulnerabilityGate::default(),
        &Allowlist::default(),
        at(2026, 11, 30),
    );
    // The ID-less CRITICAL still fails; the severity-less one counts as UNKNOWN.
    assert!(!out.passed);
    assert_eq!(out.findings.len(), 1);
    assert!(
        out.findings[0]
            .message
            .starts_with("<no ID> (CRITICAL) in <unknown package>")
    );
}

#[test]
fn trivy_malformed_fails_closed_naming_the_file() {
    let out = trivy(
        "trivy-truncated.json",
        &VulnerabilityGate::default(),
        &Allowlist::default(),
        at(2026, 11, 30),
    );
    assert!(!out.passed);
    assert!(
        out.reasons[0].starts_with("trivy-truncated.json: not a valid Trivy JSON report"),
        "{:?}",
        out.reasons
    );
    let err = gates::parse_trivy("[1, 2]", "scan.json")
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "scan.json: not a valid Trivy JSON report: expected a JSON object with `Results` (run `trivy image --format json`)"
        )
    );
}

#[test]
fn allowlist_rejects_missing_reason_and_bad_dates() {
    let err = Allowlist::parse(&fixture("allowlist-bad.yaml"), "allowlist-bad.yaml")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("needs a non-empty id and reason"), "{err}");
    let err = Allowlist::parse(
        &fixture("allowlist-malformed.yaml"),
        "allowlist-malformed.yaml",
    )
    .err();
    assert!(matches!(err, Some(GateError::Allowlist { .. })), "{err:?}");
    let text = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        text.starts_with("allowlist-malformed.yaml: invalid allow-list"),
        "{text}"
    );
}

fn coverage(name: &str) -> (Option<CoverageFormat>, GateOutcome) {
    match gates::parse_coverage(&fixture(name), name) {
        Ok(summary) => (
            Some(summary.format),
            gates::evaluate_coverage(&summary, name, &CoverageGate::default()),
        ),
        Err(err) => (
            None,
            GateOutcome::unreadable(GateKind::Coverage, name, &err),
        ),
    }
}

#[test]
fn coverage_is_strictly_greater_than_threshold_in_every_format() {
    for (prefix, ext, format) in [
        ("lcov", "info", CoverageFormat::Lcov),
        ("cobertura", "xml", CoverageFormat::Cobertura),
        ("llvm-cov", "json", CoverageFormat::LlvmCovJson),
    ] {
        for (value, pass) in [("49.99", false), ("50", false), ("50.01", true)] {
            let name = format!("{prefix}-{value}.{ext}");
            let (detected, out) = coverage(&name);
            assert_eq!(detected, Some(format), "{name}");
            assert_eq!(out.passed, pass, "{name}: {out:#?}");
        }
    }
    let (_, out) = coverage("lcov-50.info");
    assert_eq!(out.summary, "coverage 50.00%, 50/100 lines (must be > 50%)");
    assert!(out.reasons[0].contains("is not greater than 50%"));
    let (_, out) = coverage("lcov-49.99.info");
    assert_eq!(
        out.summary,
        "coverage 49.99%, 4999/10000 lines (must be > 50%)"
    );
}

#[test]
fn coverage_variants_and_malformed_reports() {
    let (_, out) = coverage("lcov-da-only.info");
    assert_eq!(out.summary, "coverage 50.00%, 4/8 lines (must be > 50%)");
    let (_, out) = coverage("cobertura-rate-only.xml");
    assert!(out.passed);
    assert_eq!(out.summary, "coverage 81.25% (must be > 50%)");
    for (name, needle) in [
        ("lcov-empty.info", "format not recognised"),
        ("lcov-bad-count.info", "line 3: 'LF:ten' has no valid count"),
        (
            "cobertura-no-rate.xml",
            "<coverage> has no line-rate attribute",
        ),
        ("cobertura-malformed.xml", "malformed XML"),
        ("llvm-cov-empty.json", "`data` is empty"),
        ("coverage-unknown.txt", "format not recognised"),
    ] {
        let (format, out) = coverage(name);
        assert_eq!(format, None, "{name}");
        assert!(!out.passed);
        assert!(out.reasons[0].starts_with(name), "{:?}", out.reasons);
        assert!(out.reasons[0].contains(needle), "{name}: {:?}", out.reasons);
    }
}

#[test]
fn gitleaks_any_finding_fails_and_secrets_never_appear() {
    let text = fixture("gitleaks-findings.json");
    let findings = gates::parse_gitleaks(&text, "gitleaks.json").unwrap_or_else(|e| panic!("{e}"));
    let out = gates::evaluate_gitleaks(&findings, "gitleaks.json");
    assert!(!out.passed);
    assert_eq!(out.findings.len(), 2);
    assert_eq!(out.findings[0].file.as_deref(), Some("deploy/settings.py"));
    assert_eq!(out.findings[0].line, Some(14));
    assert!(out.findings[0].message.contains("in commit 9b1c3e5"));
    let report = gates::GateReport::new(vec![out]);
    let everything = format!(
        "{}{}{}",
        serde_json::to_string(&report).unwrap_or_default(),
        report.to_human(),
        report.to_markdown()
    );
    for secret in [
        "AKIAZ7QXTESTLEAKED42",
        "squ_4f7d1b2e9c8a6f5e3d2c1b0a9f8e7d6c5b4a3f2e",
    ] {
        assert!(!everything.contains(secret), "secret leaked: {everything}");
    }
    assert!(everything.contains("[REDACTED]"));
}

#[test]
fn gitleaks_empty_null_missing_and_malformed() {
    for name in ["gitleaks-empty.json", "gitleaks-null.json"] {
        let findings =
            gates::parse_gitleaks(&fixture(name), name).unwrap_or_else(|e| panic!("{e}"));
        assert!(gates::evaluate_gitleaks(&findings, name).passed);
    }
    let findings =
        gates::parse_gitleaks(&fixture("gitleaks-missing-fields.json"), "x").unwrap_or_default();
    let out = gates::evaluate_gitleaks(&findings, "x");
    assert!(!out.passed);
    assert_eq!(out.findings[0].id.as_deref(), Some("private-key"));
    assert_eq!(out.findings[0].file, None);
    let err = gates::parse_gitleaks(&fixture("gitleaks-object.json"), "gitleaks-object.json")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.starts_with("gitleaks-object.json: not a valid gitleaks JSON report"),
        "{err}"
    );
    let err = gates::parse_gitleaks("  \n", "leaks.json")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("the file is empty"), "{err}");
}

fn junit(name: &str) -> GateOutcome {
    match gates::parse_junit(&fixture(name), name) {
        Ok(summary) => gates::evaluate_junit(&summary, name),
        Err(err) => GateOutcome::unreadable(GateKind::Tests, name, &err),
    }
}

#[test]
fn junit_pass_fail_empty_declared_and_malformed() {
    let out = junit("junit-pass.xml");
    assert!(out.passed, "{out:#?}");
    assert_eq!(out.summary, "4 tests, 0 failures, 0 errors, 1 skipped");

    let out = junit("junit-fail.xml");
    assert!(!out.passed);
    assert_eq!(out.summary, "4 tests, 1 failures, 1 errors, 0 skipped");
    assert_eq!(
        out.findings[0].message,
        "integration.IncidentFlow.assigns & escalates failed: expected status 200, got 502"
    );
    assert_eq!(
        out.findings[0].file.as_deref(),
        Some("tests/integration/incident.spec.ts")
    );
    assert_eq!(out.findings[0].line, Some(44));
    assert_eq!(
        out.findings[1].message,
        "integration.Search.finds by title errored: connect ECONNREFUSED 10.0.3.7:5432"
    );

    let out = junit("junit-empty.xml");
    assert!(!out.passed);
    assert!(out.reasons[0].contains("no test case"));

    let out = junit("junit-declared-only.xml");
    assert!(!out.passed);
    assert!(out.reasons[0].contains("declares 2 failed tests but lists 0"));

    let err = gates::parse_junit(
        "<testsuite name=\"a\"><testcase name=\"x\" classname=></testcase></testsuite>",
        "bad-attr.xml",
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        err.starts_with("bad-attr.xml: not a valid JUnit XML report: malformed attributes"),
        "{err}"
    );

    let out = junit("junit-malformed.xml");
    assert!(!out.passed);
    assert!(
        out.reasons[0]
            .starts_with("junit-malformed.xml: not a valid JUnit XML report: malformed XML"),
        "{:?}",
        out.reasons
    );
}

#[test]
fn sonar_report_task_and_evaluation() {
    let task = gates::parse_report_task(&fixture("report-task.txt"), "report-task.txt")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        task.ce_task_url,
        "http://sonar.example.invalid/api/ce/task?id=AZNeXkF1nHq8sV3xL0aB"
    );
    assert_eq!(task.server_url, "http://sonar.example.invalid");
    let err = gates::parse_report_task(
        &fixture("report-task-missing.txt"),
        "report-task-missing.txt",
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("`ceTaskUrl` is missing"), "{err}");

    let done: gates::CeTaskResponse = serde_json::from_str(r#"{"task":{"id":"AZNe","type":"REPORT","componentKey":"app","status":"SUCCESS","analysisId":"AZNeYb","submittedAt":"2026-11-29T10:15:00+0000"}}"#).unwrap_or_else(|e| panic!("{e}"));
    let status = |s: &str| -> gates::SonarProjectStatus {
        serde_json::from_str::<gates::SonarProjectStatusResponse>(&format!(r#"{{"projectStatus":{{"status":"{s}","conditions":[{{"status":"ERROR","metricKey":"new_coverage","comparator":"LT","errorThreshold":"80","actualValue":"61.3"}},{{"status":"OK","metricKey":"new_duplicated_lines_density","comparator":"GT","errorThreshold":"3","actualValue":"0.0"}}],"ignoredConditions":false}}}}"#)).map(|r| r.project_status).unwrap_or_else(|e| panic!("{e}"))
    };
    let gate = SonarGate::default();
    assert!(gates::evaluate_sonar(&done.task, Some(&status("OK")), "r", None, &gate).passed);
    let out = gates::evaluate_sonar(&done.task, Some(&status("ERROR")), "r", None, &gate);
    assert!(!out.passed);
    assert_eq!(out.findings.len(), 1);
    assert_eq!(
        out.findings[0].message,
        "new_coverage ERROR: 61.3 (threshold LT 80)"
    );
    assert!(!gates::evaluate_sonar(&done.task, Some(&status("NONE")), "r", None, &gate).passed);
    let allow = SonarGate {
        allow_none: true,
        ..SonarGate::default()
    };
    assert!(gates::evaluate_sonar(&done.task, Some(&status("NONE")), "r", None, &allow).passed);
    let failed = gates::CeTask {
        status: "FAILED".into(),
        analysis_id: None,
        error_message: Some("Java heap space".into()),
    };
    let out = gates::evaluate_sonar(&failed, None, "r", None, &gate);
    assert!(!out.passed);
    assert_eq!(
        out.reasons[0],
        "analysis task ended FAILED: Java heap space"
    );
}

#[test]
fn report_passes_only_when_every_gate_passes() {
    assert!(!gates::GateReport::new(Vec::new()).passed);
    let (_, pass) = coverage("lcov-50.01.info");
    let (_, fail) = coverage("lcov-50.info");
    assert!(gates::GateReport::new(vec![pass.clone()]).passed);
    assert!(!gates::GateReport::new(vec![pass, fail]).passed);
}

proptest! {
    #[test]
    fn parsers_never_panic(text in "\\PC{0,300}") {
        let _ = gates::parse_trivy(&text, "f");
        let _ = gates::parse_coverage(&text, "f");
        let _ = gates::parse_gitleaks(&text, "f");
        let _ = gates::parse_junit(&text, "f");
        let _ = gates::parse_report_task(&text, "f");
        let _ = Allowlist::parse(&text, "f");
    }

    #[test]
    fn lcov_percent_matches_counts(found in 1u64..100_000, frac in 0u64..=1000) {
        let hit = found * frac / 1000;
        let text = format!("SF:a.rs\nLF:{found}\nLH:{hit}\nend_of_record\n");
        let summary = gates::parse_coverage(&text, "f").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(summary.lines_covered, Some(hit));
        prop_assert!(summary.percent >= 0.0 && summary.percent <= 100.0);
    }

    #[test]
    fn xml_like_input_never_panics(body in "(<testsuite[^>]{0,20}>|<testcase[^>]{0,20}/?>|<failure/>|</testcase>|</testsuite>|<coverage line-rate=\"[0-9.]{0,5}\"/>){0,10}") {
        let _ = gates::parse_junit(&body, "f");
        let _ = gates::parse_coverage(&body, "f");
    }
}
