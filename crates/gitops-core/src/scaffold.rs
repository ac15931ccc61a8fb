//! What `gitops init` writes: `gitops.yaml`, a Kustomize base and one overlay per
//! environment, Argo CD `Application` or Flux `Kustomization` manifests, and a GitHub workflow
//! calling the reusable pipeline.
//!
//! Pure: [`scaffold`] returns the files (path and contents); the binary decides what to write.
//! The environments, replicas, tag prefixes, namespaces and URLs come from the embedded default
//! policy, so the scaffold and the policy agree by construction.

use std::fmt::Write as _;

use serde::Serialize;

use crate::policy::Policy;

/// Default reusable workflow the generated workflow calls.
pub const DEFAULT_WORKFLOW: &str = "gitops-action/gitops-action/.github/workflows/pipeline.yml@v1";

/// Which GitOps engine syncs the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Argo CD `Application` per environment.
    #[default]
    Argocd,
    /// Flux `GitRepository` + `Kustomization` per environment.
    Flux,
}

/// What to scaffold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaffoldOptions {
    /// Application name (prefix of the Argo CD/Flux objects and the Ingress name).
    pub app: String,
    /// Images the repository builds (names used in the base and in `images:` entries).
    pub images: Vec<String>,
    /// Registry and namespace of the images.
    pub registry: String,
    /// GitOps engine.
    pub engine: Engine,
    /// Clone URL of the GitOps repository (Argo CD `repoURL`, Flux `GitRepository.url`).
    pub repo_url: String,
    /// `owner/repo/path@ref` of the reusable workflow.
    pub workflow: String,
}

/// One file to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScaffoldFile {
    /// Path relative to the target folder, `/`-separated.
    pub path: String,
    /// Full contents.
    pub contents: String,
}

/// Why the options cannot be scaffolded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScaffoldError {
    /// An image name is not a valid Kubernetes name.
    #[error(
        "image name '{name}' is not usable as a Kubernetes name: use 1-63 lower-case letters, digits and '-', starting and ending with a letter or digit"
    )]
    InvalidImage {
        /// The name given.
        name: String,
    },
    /// The same image was named twice.
    #[error("image '{name}' is listed twice in --images")]
    DuplicateImage {
        /// The repeated name.
        name: String,
    },
    /// No image given.
    #[error("no image to scaffold: pass at least one name, e.g. --images backend,frontend")]
    NoImages,
    /// The application name is not a valid Kubernetes name.
    #[error(
        "application name '{name}' is not usable as a Kubernetes name: use lower-case letters, digits and '-' (at most 40 characters)"
    )]
    InvalidApp {
        /// The name given.
        name: String,
    },
    /// The registry is empty or contains characters no registry reference has.
    #[error(
        "registry '{registry}' is not a registry reference such as ghcr.io/acme or registry.digitalocean.com/team"
    )]
    InvalidRegistry {
        /// The registry given.
        registry: String,
    },
    /// The repository URL or workflow reference contains characters that would break YAML.
    #[error("{what} '{value}' must not contain spaces, quotes or '#'")]
    InvalidReference {
        /// Which option.
        what: &'static str,
        /// The value given.
        value: String,
    },
}

/// A DNS-1123 label of at most `max` characters.
fn is_k8s_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Turns any folder name into an application name (`My App` -> `my-app`); `app` when nothing
/// usable is left.
pub fn app_name_from(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(40).collect();
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() {
        "app".to_owned()
    } else {
        out
    }
}

fn safe_reference(value: &str) -> bool {
    !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '#' | '\\'))
}

fn validate(options: &ScaffoldOptions) -> Result<(), ScaffoldError> {
    if options.images.is_empty() {
        return Err(ScaffoldError::NoImages);
    }
    for (i, name) in options.images.iter().enumerate() {
        if !is_k8s_name(name, 63) {
            return Err(ScaffoldError::InvalidImage { name: name.clone() });
        }
        if options.images[..i].contains(name) {
            return Err(ScaffoldError::DuplicateImage { name: name.clone() });
        }
    }
    if !is_k8s_name(&options.app, 40) {
        return Err(ScaffoldError::InvalidApp {
            name: options.app.clone(),
        });
    }
    let registry = options.registry.trim_end_matches('/');
    if !safe_reference(registry)
        || registry.contains('@')
        || registry.starts_with('/')
        || !registry
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/' | b':'))
    {
        return Err(ScaffoldError::InvalidRegistry {
            registry: options.registry.clone(),
        });
    }
    for (what, value) in [
        ("repository URL", &options.repo_url),
        ("workflow", &options.workflow),
    ] {
        if !safe_reference(value) {
            return Err(ScaffoldError::InvalidReference {
                what,
                value: value.clone(),
            });
        }
    }
    Ok(())
}

/// One environment as the scaffold needs it.
struct Env {
    name: String,
    prefix: String,
    overlay: String,
    replicas: u32,
    namespace: String,
    host: Option<String>,
    branch: String,
}

fn environments(policy: &Policy) -> Vec<Env> {
    policy
        .environments
        .iter()
        .map(|(name, env)| Env {
            name: name.clone(),
            prefix: env.tag_prefix.clone(),
            overlay: env.overlay.trim_end_matches('/').to_owned(),
            replicas: env.replicas,
            namespace: env.namespace.clone().unwrap_or_else(|| name.clone()),
            host: env.url.as_deref().map(|url| {
                let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
                rest.split(['/', ':']).next().unwrap_or(rest).to_owned()
            }),
            branch: policy.gitops_branch(env).to_owned(),
        })
        .collect()
}

/// The files of a new GitOps setup, in a stable order.
pub fn scaffold(options: &ScaffoldOptions) -> Result<Vec<ScaffoldFile>, ScaffoldError> {
    validate(options)?;
    let policy = Policy::embedded_default();
    let envs = environments(&policy);
    let registry = options.registry.trim_end_matches('/');
    let mut files = vec![ScaffoldFile {
        path: "gitops.yaml".to_owned(),
        contents: policy_file(options, registry),
    }];

    // Base: one Deployment + Service per image, the Ingress, the kustomization.
    let mut resources = Vec::new();
    for image in &options.images {
        let path = format!("{image}-deployment.yaml");
        files.push(ScaffoldFile {
            path: format!("infra/k8s/base/{path}"),
            contents: deployment(image),
        });
        resources.push(path);
    }
    resources.push("ingress.yaml".to_owned());
    files.push(ScaffoldFile {
        path: "infra/k8s/base/ingress.yaml".to_owned(),
        contents: ingress(&options.app, &options.images),
    });
    let mut base = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n",
    );
    for resource in &resources {
        let _ = writeln!(base, "  - {resource}");
    }
    files.push(ScaffoldFile {
        path: "infra/k8s/base/kustomization.yaml".to_owned(),
        contents: base,
    });

    for env in &envs {
        files.push(ScaffoldFile {
            path: format!("{}/kustomization.yaml", env.overlay),
            contents: overlay(options, registry, env),
        });
    }

    match options.engine {
        Engine::Argocd => {
            let mut names = Vec::new();
            for env in &envs {
                let name = format!("{}-{}.yaml", options.app, env.prefix);
                files.push(ScaffoldFile {
                    path: format!("infra/argocd/{name}"),
                    contents: argocd_application(options, env),
                });
                names.push(name);
            }
            files.push(ScaffoldFile {
                path: "infra/argocd/kustomization.yaml".to_owned(),
                contents: list_kustomization(
                    "Argo CD Applications, one per environment: kubectl apply -k infra/argocd",
                    &names,
                ),
            });
        }
        Engine::Flux => {
            let mut names = Vec::new();
            for env in &envs {
                let name = format!("{}-{}.yaml", options.app, env.prefix);
                files.push(ScaffoldFile {
                    path: format!("infra/flux/{name}"),
                    contents: flux_manifests(options, env),
                });
                names.push(name);
            }
            files.push(ScaffoldFile {
                path: "infra/flux/kustomization.yaml".to_owned(),
                contents: list_kustomization(
                    "Flux sources and Kustomizations, one per environment: kubectl apply -k infra/flux",
                    &names,
                ),
            });
        }
    }
    files.push(ScaffoldFile {
        path: ".github/workflows/gitops.yml".to_owned(),
        contents: workflow(options, &envs),
    });
    Ok(files)
}

fn policy_file(options: &ScaffoldOptions, registry: &str) -> String {
    let mut out = String::from(
        "# gitops.yaml: the multi-stage GitOps pipeline of this repository.\n\
         # Every key and its default: `gitops policy explain`; schema: `gitops policy schema`.\n\
         version: 1\n",
    );
    let _ = writeln!(out, "registry: {registry}");
    out.push_str("images:\n");
    for image in &options.images {
        let _ = writeln!(out, "  - name: {image}");
        let _ = writeln!(out, "    context: {image}");
        let _ = writeln!(out, "    paths: [\"{image}/**\"]");
    }
    // The environments exactly as the embedded default describes the documented pipeline.
    let default = crate::policy::DEFAULT_POLICY_YAML;
    let rest = default
        .find("\nenvironments:")
        .map_or("", |start| default[start + 1..].trim_end());
    out.push_str(rest);
    out.push('\n');
    if !rest.contains("\ngitops:") {
        out.push_str("gitops:\n  repo: .\n  branch: main\n");
    }
    out
}

fn deployment(image: &str) -> String {
    format!(
        r"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {image}
  labels:
    app.kubernetes.io/name: {image}
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: {image}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {image}
    spec:
      containers:
        - name: {image}
          # The overlays set the registry, tag and digest (`gitops deploy` edits them).
          image: {image}
          ports:
            - name: http
              containerPort: 8080
          readinessProbe:
            tcpSocket:
              port: http
            periodSeconds: 5
          resources:
            requests:
              cpu: 50m
              memory: 64Mi
            limits:
              memory: 256Mi
---
apiVersion: v1
kind: Service
metadata:
  name: {image}
  labels:
    app.kubernetes.io/name: {image}
spec:
  selector:
    app.kubernetes.io/name: {image}
  ports:
    - name: http
      port: 80
      targetPort: http
"
    )
}

/// The Ingress: `/api` to `backend` and `/` to `frontend` when both exist (the document's
/// example application), else `/` to the first image and `/<name>` to each other one.
fn ingress(app: &str, images: &[String]) -> String {
    let has = |n: &str| images.iter().any(|i| i == n);
    let mut routes: Vec<(String, &str)> = Vec::new();
    if has("backend") && has("frontend") {
        routes.push(("/api".to_owned(), "backend"));
        for image in images {
            if image != "backend" && image != "frontend" {
                routes.push((format!("/{image}"), image));
            }
        }
        routes.push(("/".to_owned(), "frontend"));
    } else {
        for image in &images[1..] {
            routes.push((format!("/{image}"), image));
        }
        routes.push(("/".to_owned(), &images[0]));
    }
    let mut out = format!(
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {app}\nspec:\n  ingressClassName: nginx\n  rules:\n    # Each overlay sets its environment's host.\n    - host: {app}.example.com\n      http:\n        paths:\n"
    );
    for (path, service) in routes {
        let _ = write!(
            out,
            "          - path: {path}\n            pathType: Prefix\n            backend:\n              service:\n                name: {service}\n                port:\n                  name: http\n"
        );
    }
    out
}

fn overlay(options: &ScaffoldOptions, registry: &str, env: &Env) -> String {
    let mut out = format!(
        "# {name}: {replicas} replica(s), {prefix}-latest until the first `gitops deploy` pins a digest.\n\
         apiVersion: kustomize.config.k8s.io/v1beta1\n\
         kind: Kustomization\n\
         namespace: {namespace}\n\
         resources:\n  - ../../base\n\
         labels:\n  - pairs:\n      app.kubernetes.io/part-of: {app}\n      environment: {name}\n\
         replicas:\n",
        name = env.name,
        replicas = env.replicas,
        prefix = env.prefix,
        namespace = env.namespace,
        app = options.app,
    );
    for image in &options.images {
        let _ = writeln!(out, "  - name: {image}\n    count: {}", env.replicas);
    }
    out.push_str("images:\n");
    for image in &options.images {
        let _ = writeln!(
            out,
            "  - name: {image}\n    newName: {registry}/{image}\n    newTag: {}-latest",
            env.prefix
        );
    }
    if let Some(host) = &env.host {
        let _ = write!(
            out,
            "patches:\n  - target:\n      kind: Ingress\n      name: {app}\n    patch: |-\n      - op: replace\n        path: /spec/rules/0/host\n        value: {host}\n",
            app = options.app
        );
    }
    out
}

fn relative_overlay(overlay: &str) -> String {
    overlay.trim_start_matches("./").to_owned()
}

fn argocd_application(options: &ScaffoldOptions, env: &Env) -> String {
    format!(
        "# Argo CD syncs the {name} overlay; prune and self-heal keep the cluster equal to git.\n\
         apiVersion: argoproj.io/v1alpha1\n\
         kind: Application\n\
         metadata:\n  name: {app}-{prefix}\n  namespace: argocd\n\
         spec:\n  project: default\n  source:\n    repoURL: {repo}\n    targetRevision: {branch}\n    path: {path}\n  \
         destination:\n    server: https://kubernetes.default.svc\n    namespace: {namespace}\n  \
         syncPolicy:\n    automated:\n      prune: true\n      selfHeal: true\n    syncOptions:\n      - CreateNamespace=true\n",
        name = env.name,
        app = options.app,
        prefix = env.prefix,
        repo = options.repo_url,
        branch = env.branch,
        path = relative_overlay(&env.overlay),
        namespace = env.namespace,
    )
}

fn flux_manifests(options: &ScaffoldOptions, env: &Env) -> String {
    format!(
        "# Flux pulls branch {branch} and applies the {name} overlay; prune removes what git no longer has.\n\
         # Flux does not create namespaces: this one is created with the sources.\n\
         apiVersion: v1\n\
         kind: Namespace\n\
         metadata:\n  name: {namespace}\n\
         ---\n\
         apiVersion: source.toolkit.fluxcd.io/v1\n\
         kind: GitRepository\n\
         metadata:\n  name: {app}-{prefix}\n  namespace: flux-system\n\
         spec:\n  interval: 1m\n  url: {repo}\n  ref:\n    branch: {branch}\n\
         ---\n\
         apiVersion: kustomize.toolkit.fluxcd.io/v1\n\
         kind: Kustomization\n\
         metadata:\n  name: {app}-{prefix}\n  namespace: flux-system\n\
         spec:\n  interval: 5m\n  path: ./{path}\n  prune: true\n  wait: true\n  timeout: 3m\n  \
         sourceRef:\n    kind: GitRepository\n    name: {app}-{prefix}\n",
        name = env.name,
        app = options.app,
        prefix = env.prefix,
        repo = options.repo_url,
        branch = env.branch,
        path = relative_overlay(&env.overlay),
        namespace = env.namespace,
    )
}

fn list_kustomization(comment: &str, names: &[String]) -> String {
    let mut out = format!(
        "# {comment}\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
    );
    for name in names {
        let _ = writeln!(out, "  - {name}");
    }
    out
}

fn workflow(options: &ScaffoldOptions, envs: &[Env]) -> String {
    let mut branches: Vec<String> = Vec::new();
    let policy = Policy::embedded_default();
    for env in policy.environments.values() {
        if !branches.contains(&env.branch) {
            branches.push(env.branch.clone());
        }
    }
    let branch_list = branches.join(", ");
    let urls: Vec<String> = envs
        .iter()
        .filter_map(|e| {
            e.host
                .as_ref()
                .map(|h| format!("\"{}\":\"https://{h}/\"", e.name))
        })
        .collect();
    format!(
        "# The multi-stage GitOps pipeline (PR checks, build once, dev -> staging -> production with\n\
         # approval, rollback, retention) as one call of the reusable workflow. Policy: gitops.yaml.\n\
         name: gitops\n\
         \n\
         on:\n  pull_request:\n    branches: [{branch_list}]\n  push:\n    branches: [{branch_list}]\n  schedule:\n    - cron: \"17 3 * * *\" # daily retention report\n  workflow_dispatch:\n\
         \n\
         permissions: {{}}\n\
         \n\
         concurrency:\n  group: gitops-${{{{ github.ref }}}}\n  cancel-in-progress: false\n\
         \n\
         jobs:\n  pipeline:\n    # A moving major tag; pin it to a commit sha (`@<sha> # v1`) to freeze the pipeline's code.\n    uses: {workflow}\n    # Only what the pipeline needs: push GitOps commits, push images, record deployments.\n    permissions:\n      contents: write\n      packages: write\n      deployments: write\n    with:\n      policy: gitops.yaml\n      test-command: echo \"add your lint and unit tests here\"\n      health-check-urls: '{{{urls}}}'\n      registry-username: ${{{{ github.actor }}}}\n    secrets:\n      # GHCR: pass secrets.GITHUB_TOKEN; other registries: a repository secret.\n      registry-password: ${{{{ secrets.REGISTRY_PASSWORD }}}}\n",
        workflow = options.workflow,
        urls = urls.join(","),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_names_are_sanitised() {
        assert_eq!(app_name_from("My App_2"), "my-app-2");
        assert_eq!(app_name_from("---"), "app");
        assert_eq!(app_name_from("shop"), "shop");
    }
}
