//! Gate parsers and evaluation on large reports: a Trivy report of a big image (20 targets x
//! 1,000 vulnerabilities, about 24 MB), an lcov tracefile of 5,000 files x 200 lines (about
//! 8.6 MB) and a JUnit file of 10,000 test cases.
//!
//! Run: `cargo bench -p gitops-core --bench gates`

#![allow(missing_docs, clippy::unwrap_used)]

use std::fmt::Write as _;
use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use gitops_core::gates::{self, Allowlist};
use gitops_core::policy::VulnerabilityGate;

const SEVERITIES: [&str; 4] = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];

fn trivy_report() -> String {
    let mut text = String::from(r#"{"SchemaVersion":2,"ArtifactName":"big","Results":["#);
    for t in 0..20 {
        if t > 0 {
            text.push(',');
        }
        let _ = write!(
            text,
            r#"{{"Target":"target-{t}","Class":"{}","Type":"npm","Vulnerabilities":["#,
            if t % 2 == 0 { "os-pkgs" } else { "lang-pkgs" }
        );
        for i in 0..1000 {
            if i > 0 {
                text.push(',');
            }
            let _ = write!(
                text,
                r#"{{"VulnerabilityID":"CVE-2024-{:05}","PkgID":"pkg{i}@1.0","PkgName":"pkg{i}","InstalledVersion":"1.0.0","FixedVersion":"1.0.1","Status":"fixed","PrimaryURL":"https://avd.aquasec.com/nvd/cve-2024-{i}","Title":"{}","Description":"{}","Severity":"{}","CweIDs":["CWE-79"],"CVSS":{{"nvd":{{"V3Vector":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H","V3Score":9.8}}}},"References":["https://example.com/{i}/1","https://example.com/{i}/2"]}}"#,
                t * 1000 + i,
                "A long enough title describing the vulnerability in some detail ".repeat(2),
                "Description text ".repeat(30),
                SEVERITIES[i % 4]
            );
        }
        text.push_str("]}");
    }
    text.push_str("]}");
    text
}

fn lcov() -> String {
    let mut text = String::new();
    for i in 0..5000 {
        let _ = writeln!(text, "SF:src/mod{i}/file.rs");
        for l in 1..=200 {
            let _ = writeln!(text, "DA:{l},{}", (l * i) % 3);
        }
        text.push_str("end_of_record\n");
    }
    text
}

fn junit() -> String {
    let mut text = String::from("<?xml version=\"1.0\"?>\n<testsuites>\n");
    for s in 0..100 {
        let _ = writeln!(
            text,
            "<testsuite name=\"s{s}\" tests=\"100\" failures=\"0\" errors=\"0\">"
        );
        for c in 0..100 {
            let _ = writeln!(
                text,
                "  <testcase classname=\"pkg.S{s}\" name=\"case_{c}\" time=\"0.01\"/>"
            );
        }
        text.push_str("</testsuite>\n");
    }
    text.push_str("</testsuites>\n");
    text
}

fn bench(c: &mut Criterion) {
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
    let trivy = trivy_report();
    let allow = Allowlist::default();
    let gate = VulnerabilityGate::default();
    let mut group = c.benchmark_group("gates");
    group.sample_size(10);
    group.bench_function("trivy_24MB_parse_and_evaluate", |b| {
        b.iter(|| {
            let report = gates::parse_trivy(black_box(&trivy), "trivy.json").unwrap();
            gates::evaluate_trivy(&report, "trivy.json", &gate, &allow, now)
        });
    });
    let lcov = lcov();
    group.bench_function("lcov_1M_lines", |b| {
        b.iter(|| gates::parse_coverage(black_box(&lcov), "lcov.info").unwrap());
    });
    let junit = junit();
    group.bench_function("junit_10k_cases", |b| {
        b.iter(|| gates::parse_junit(black_box(&junit), "junit.xml").unwrap());
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
