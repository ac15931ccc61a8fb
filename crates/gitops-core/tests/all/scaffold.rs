//! What `gitops init` writes, as data: snapshots of every file, and the checks that make the
//! files usable (the policy parses, names are validated).

use gitops_core::policy::Policy;
use gitops_core::scaffold::{
    DEFAULT_WORKFLOW, Engine, ScaffoldError, ScaffoldFile, ScaffoldOptions, scaffold,
};

fn options(engine: Engine) -> ScaffoldOptions {
    ScaffoldOptions {
        app: "shop".to_owned(),
        images: vec!["backend".to_owned(), "frontend".to_owned()],
        registry: "ghcr.io/acme".to_owned(),
        engine,
        repo_url: "https://github.com/acme/shop.git".to_owned(),
        workflow: DEFAULT_WORKFLOW.to_owned(),
    }
}

fn files(options: &ScaffoldOptions) -> Vec<ScaffoldFile> {
    match scaffold(options) {
        Ok(files) => files,
        Err(err) => panic!("scaffold failed: {err}"),
    }
}

fn all_text(files: &[ScaffoldFile]) -> String {
    files
        .iter()
        .map(|f| format!("=== {} ===\n{}", f.path, f.contents))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn argocd_scaffold() {
    let files = files(&options(Engine::Argocd));
    insta::assert_snapshot!("scaffold_argocd", all_text(&files));
}

#[test]
fn flux_scaffold() {
    let files = files(&options(Engine::Flux));
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert!(paths.contains(&"infra/flux/shop-prod.yaml"));
    assert!(!paths.iter().any(|p| p.starts_with("infra/argocd")));
    let flux: Vec<&ScaffoldFile> = files
        .iter()
        .filter(|f| f.path.starts_with("infra/flux/"))
        .collect();
    insta::assert_snapshot!(
        "scaffold_flux",
        flux.iter()
            .map(|f| format!("=== {} ===\n{}", f.path, f.contents))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_policy_file_parses_and_matches_the_scaffold() {
    let mut opts = options(Engine::Argocd);
    opts.images = vec!["api".to_owned(), "web".to_owned(), "worker".to_owned()];
    let files = files(&opts);
    let text = files
        .iter()
        .find(|f| f.path == "gitops.yaml")
        .map(|f| f.contents.clone())
        .unwrap_or_default();
    let policy = match Policy::from_yaml_str(&text, "gitops.yaml") {
        Ok(policy) => policy,
        Err(err) => panic!("the scaffolded gitops.yaml does not parse: {err}\n{text}"),
    };
    assert_eq!(policy.registry, "ghcr.io/acme");
    let names: Vec<&str> = policy.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, vec!["api", "web", "worker"]);
    // Every environment's overlay is scaffolded, with its replica count and -latest tags.
    for (name, env) in &policy.environments {
        let overlay = files
            .iter()
            .find(|f| f.path == format!("{}/kustomization.yaml", env.overlay))
            .map(|f| f.contents.as_str())
            .unwrap_or_default();
        assert!(
            overlay.contains(&format!("count: {}", env.replicas)),
            "{name}: {overlay}"
        );
        assert!(
            overlay.contains(&format!("newTag: {}-latest", env.tag_prefix)),
            "{name}"
        );
        assert!(overlay.contains("newName: ghcr.io/acme/worker"), "{name}");
    }
    // Without backend+frontend, `/` goes to the first image and the others get a prefix.
    let ingress = files
        .iter()
        .find(|f| f.path == "infra/k8s/base/ingress.yaml")
        .map(|f| f.contents.as_str())
        .unwrap_or_default();
    assert!(ingress.contains("path: /web"));
    assert!(ingress.contains("path: /worker"));
}

#[test]
fn argocd_applications_sync_automatically_with_prune_and_self_heal() {
    let files = files(&options(Engine::Argocd));
    let apps: Vec<&ScaffoldFile> = files
        .iter()
        .filter(|f| f.path.starts_with("infra/argocd/shop-"))
        .collect();
    assert_eq!(apps.len(), 3);
    for app in apps {
        for needle in [
            "kind: Application",
            "prune: true",
            "selfHeal: true",
            "repoURL: https://github.com/acme/shop.git",
        ] {
            assert!(app.contents.contains(needle), "{}: {needle}", app.path);
        }
    }
}

/// A change to valid options and the error it must give.
type Case = (Box<dyn Fn(&mut ScaffoldOptions)>, ScaffoldError);

#[test]
fn bad_options_are_rejected_with_a_reason() {
    let cases: Vec<Case> = vec![
        (
            Box::new(|o| o.images = vec!["Backend".to_owned()]),
            ScaffoldError::InvalidImage {
                name: "Backend".to_owned(),
            },
        ),
        (
            Box::new(|o| o.images = vec!["api".to_owned(), "api".to_owned()]),
            ScaffoldError::DuplicateImage {
                name: "api".to_owned(),
            },
        ),
        (Box::new(|o| o.images.clear()), ScaffoldError::NoImages),
        (
            Box::new(|o| o.registry = "ghcr.io/acme corp".to_owned()),
            ScaffoldError::InvalidRegistry {
                registry: "ghcr.io/acme corp".to_owned(),
            },
        ),
        (
            Box::new(|o| o.app = "-x".to_owned()),
            ScaffoldError::InvalidApp {
                name: "-x".to_owned(),
            },
        ),
        (
            Box::new(|o| o.repo_url = "https://x/#y".to_owned()),
            ScaffoldError::InvalidReference {
                what: "repository URL",
                value: "https://x/#y".to_owned(),
            },
        ),
    ];
    for (change, expected) in cases {
        let mut opts = options(Engine::Argocd);
        change(&mut opts);
        assert_eq!(scaffold(&opts), Err(expected));
    }
    let message = ScaffoldError::InvalidImage {
        name: "Backend".to_owned(),
    }
    .to_string();
    assert!(message.contains("lower-case"), "{message}");
}

proptest::proptest! {
    /// Any folder name gives a usable application name, and any options either scaffold or
    /// give an error, never a panic.
    #[test]
    fn any_input_scaffolds_or_errors(
        folder in ".{0,60}",
        images in proptest::collection::vec("[a-zA-Z0-9 -]{0,12}", 0..4),
        registry in "[a-z0-9./:@ -]{0,30}",
    ) {
        let app = gitops_core::scaffold::app_name_from(&folder);
        proptest::prop_assert!(!app.is_empty() && app.len() <= 40);
        proptest::prop_assert!(!app.starts_with('-') && !app.ends_with('-'));
        let mut opts = options(Engine::Flux);
        opts.app = app;
        opts.images = images;
        opts.registry = registry;
        if let Ok(files) = scaffold(&opts) {
            proptest::prop_assert!(files.iter().any(|f| f.path == "gitops.yaml"));
        }
    }
}
