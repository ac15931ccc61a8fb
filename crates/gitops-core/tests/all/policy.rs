//! Policy loading: located errors with suggestions, every cross-field check, the effective
//! policy, the JSON Schema, table-driven cases, and no panic on arbitrary text.

use gitops_core::policy::cases::CaseFile;
use gitops_core::policy::{DEFAULT_POLICY_YAML, Policy, PolicyError, json_schema};
use proptest::prelude::*;

fn errors(text: &str) -> Vec<String> {
    match Policy::load(text, "gitops.yaml") {
        Ok(_) => Vec::new(),
        Err(err) => err.diagnostics().iter().map(ToString::to_string).collect(),
    }
}

const MINIMAL: &str = "registry: ghcr.io/acme
images:
  - name: api
environments:
  dev:
    branch: dev
    tag_prefix: dev
    overlay: k8s/dev
";

#[test]
fn minimal_policy_loads_with_defaults() {
    let policy = Policy::load(MINIMAL, "gitops.yaml").expect("valid");
    assert_eq!(policy.environments["dev"].replicas, 1);
    assert_eq!(policy.tags.template, "{prefix}-{sha7}-{timestamp}");
    assert!(policy.pr_checks.secret_scan);
}

#[test]
fn misspelt_key_gets_location_and_suggestion() {
    let text = format!("{MINIMAL}retension:\n  protected: []\n");
    assert_eq!(
        errors(&text),
        ["gitops.yaml:9:1: unknown field 'retension', did you mean 'retention'?"]
    );
    let text = MINIMAL.replace(
        "    overlay: k8s/dev\n",
        "    overlay: k8s/dev\n    replcas: 2\n",
    );
    assert_eq!(
        errors(&text),
        ["gitops.yaml:9:5: environments.dev: unknown field 'replcas', did you mean 'replicas'?"]
    );
}

#[test]
fn unknown_key_without_close_match_lists_the_known_ones() {
    let text = format!("{MINIMAL}zzz: 1\n");
    let errs = errors(&text);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("gitops.yaml:9:1: unknown field 'zzz' (help: expected one of: "));
    assert!(errs[0].contains("environments"));
}

#[test]
fn wrong_type_and_missing_field_are_located() {
    let text = MINIMAL.replace(
        "    overlay: k8s/dev\n",
        "    overlay: k8s/dev\n    replicas: many\n",
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("gitops.yaml:9:15: environments.dev.replicas: invalid type: string \"many\", expected u32"),
        "{errs:?}"
    );
    let errs = errors(&MINIMAL.replace("    tag_prefix: dev\n", ""));
    assert!(errs[0].contains("missing field 'tag_prefix'"), "{errs:?}");
    assert!(errs[0].starts_with("gitops.yaml:6:5"), "{errs:?}");
}

#[test]
fn malformed_and_empty_yaml() {
    let errs = errors("registry: [ghcr.io\nimages: []\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("gitops.yaml:2:"), "{errs:?}");
    assert!(errs[0].contains("invalid YAML"));
    assert_eq!(
        errors(""),
        [
            "gitops.yaml: the policy file is empty (help: start from `gitops policy explain > gitops.yaml`)"
        ]
    );
    assert!(!errors("- a\n- b\n").is_empty());
}

#[test]
fn every_cross_field_problem_is_reported_at_once() {
    let text = "registry: ghcr.io/acme
images:
  - name: api
    paths: ['src/[a']
  - name: api
environments:
  dev:
    branch: dev
    tag_prefix: dev
    overlay: ../outside
    retension: {}
  qa:
    branch: dev
    tag_prefix: dev
    overlay: /abs/qa
    promote_from: stagin
  prod:
    branch: 'release/*'
    tag_prefix: 'bad prefix'
    overlay: k8s/../../x
    namespace: Prod
tags:
  template: '{prefix}-{sha8}'
retention:
  protected: ['[z']
";
    let errs = errors(text);
    insta::assert_snapshot!(errs.join("\n"));
    assert!(errs.len() >= 10, "{errs:?}");
}

#[test]
fn glob_branches_that_overlap_literal_ones_collide() {
    let text = MINIMAL.to_owned()
        + "  rel:\n    branch: 'de*'\n    tag_prefix: rel\n    overlay: k8s/rel\n";
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("both deploy from branch 'de*' (overlaps 'dev')"));
}

#[test]
fn template_problems() {
    for (template, expected) in [
        ("{sha7}-{timestamp}", "neither {prefix} nor {env}"),
        ("{prefix}-{timestamp}", "neither {sha7} nor {sha}"),
        ("{prefix}-{sha7", "unclosed"),
        ("{prefix}/{sha7}", "not a valid OCI tag"),
    ] {
        let text = format!("{MINIMAL}tags:\n  template: '{template}'\n");
        let errs = errors(&text);
        assert!(
            errs.iter()
                .any(|e| e.contains(expected) && e.contains(":10:3:")),
            "{template}: {errs:?}"
        );
    }
    let text = format!("{MINIMAL}tags:\n  latest: '{{nope}}'\n");
    assert!(errors(&text)[0].contains("tags.latest"));
}

#[test]
fn promotion_cycles_are_rejected() {
    let text = MINIMAL.to_owned()
        + "    promote_from: qa\n  qa:\n    branch: qa\n    tag_prefix: qa\n    overlay: k8s/qa\n    promote_from: dev\n";
    let errs = errors(&text);
    assert!(
        errs.iter().any(|e| e.contains("runs in a cycle")),
        "{errs:?}"
    );
}

#[test]
fn parse_error_variant_reports_a_diagnostic() {
    let err = Policy::from_yaml_str("registry: [", "x.yaml").expect_err("invalid");
    assert!(matches!(err, PolicyError::Parse { .. }));
    assert_eq!(err.diagnostics().len(), 1);
}

#[test]
fn embedded_default_and_explain() {
    let policy = Policy::load(DEFAULT_POLICY_YAML, "<embedded default>").expect("valid");
    let effective = policy.effective();
    insta::assert_yaml_snapshot!(effective);
    // The effective policy is itself a valid policy that means the same thing.
    let text = serde_norway::to_string(&effective).expect("serialise");
    let again = Policy::load(&text, "explain").expect("valid");
    assert_eq!(again.effective(), effective);
}

#[test]
fn json_schema_snapshot() {
    insta::assert_json_snapshot!(json_schema());
}

#[test]
fn example_app_policy_passes_its_own_tests() {
    let root = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/ai-incident-assistant"
    );
    let text = std::fs::read_to_string(format!("{root}/gitops.yaml")).expect("example policy");
    let policy = Policy::load(&text, "gitops.yaml").expect("valid");
    let cases_text =
        std::fs::read_to_string(format!("{root}/policy-tests.yaml")).expect("example cases");
    let cases = CaseFile::parse(&cases_text, "policy-tests.yaml").expect("cases parse");
    let results = cases.run(&policy, "policy-tests.yaml").expect("cases run");
    assert!(results.len() >= 7);
    for r in &results {
        assert!(r.passed, "{}: {:?}", r.name, r.mismatches);
    }
}

#[test]
fn failing_case_reports_each_difference() {
    let cases = CaseFile::parse(
        "cases:
  - name: wrong
    event: { branch: dev, time: '2025-12-03T12:00:00Z' }
    expect:
      environment: staging
      stages: [build, secret_scan]
      tags: [dev-latest]
      approval: true
      replicas: null
  - name: error expected
    event: { event: workflow_dispatch, branch: dev, environment: nope }
    expect: { error: unknown environment }
",
        "t.yaml",
    )
    .expect("parse");
    let results = cases
        .run(&Policy::embedded_default(), "t.yaml")
        .expect("run");
    assert!(!results[0].passed);
    insta::assert_yaml_snapshot!(results);
    assert!(results[1].passed);
}

#[test]
fn case_file_errors_are_located() {
    let err = CaseFile::parse("cases:\n  - name: x\n    evnt: {}\n", "t.yaml").expect_err("bad");
    let text = err.to_string();
    assert!(text.starts_with("t.yaml:3:5:"), "{text}");
    let cases = CaseFile::parse(
        "cases:\n  - name: x\n    event: { sha: xyz, branch: dev }\n",
        "t.yaml",
    )
    .expect("parses");
    let err = cases
        .run(&Policy::embedded_default(), "t.yaml")
        .expect_err("bad sha");
    assert!(err.to_string().contains("invalid commit sha 'xyz'"));
}

proptest! {
    #[test]
    fn loading_arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Policy::load(&text, "fuzz");
    }

    #[test]
    fn loading_mutated_default_never_panics(cut in 0usize..2000, insert in "[ :\\-\\[\\]{}a-z\\n]{0,8}") {
        let base = DEFAULT_POLICY_YAML;
        let mut at = cut.min(base.len());
        while !base.is_char_boundary(at) {
            at -= 1;
        }
        let text = format!("{}{insert}{}", &base[..at], &base[at..]);
        let _ = Policy::load(&text, "fuzz");
    }
}
