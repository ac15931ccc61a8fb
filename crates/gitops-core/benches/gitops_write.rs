//! Whole GitOps write-back of one deploy touching 1,000 overlays x 3 images: read every
//! overlay at the branch tip, edit it with the Kustomize editor, build one commit and land
//! it, (a) directly in a local bare repository (compare-and-swap of the branch) and (b) by
//! pushing to the same kind of bare repository served by `git daemon` (real receive-pack,
//! then ls-remote confirmation).
//!
//! Run: `cargo bench -p gitops-core --bench gitops_write`

#![allow(missing_docs, clippy::unwrap_used)]

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use gitops_core::gitops_repo::{
    Author, BaseTree, EditError, FileWrite, GitCredentials, GitopsRepo, Location, Proposal,
    RetryPolicy, WriteRequest,
};
use gitops_core::kustomize::{self, EditOptions, ImageEdit};

const OVERLAYS: usize = 1_000;
const IMAGES: [&str; 3] = ["backend", "frontend", "worker"];

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

fn overlay(i: usize) -> String {
    let mut text = format!(
        "# overlay {i}\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: app{i}\nresources:\n  - ../../base\nimages:\n"
    );
    for image in IMAGES {
        text.push_str(&format!(
            "  - name: {image}\n    newName: registry.example.com/acme/{image}\n    newTag: v0 # pinned by gitops\n"
        ));
    }
    text.push_str("replicas:\n  - name: backend\n    count: 2\n");
    text
}

/// A bare repository `remote.git` with 1,000 overlays on `main`.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    for i in 0..OVERLAYS {
        let path = work.join(format!("overlays/app{i:04}"));
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("kustomization.yaml"), overlay(i)).unwrap();
    }
    git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", "remote.git"],
    );
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "1000 overlays"]);
    git(&work, &["push", "-q", "../remote.git", "main"]);
    dir
}

fn request() -> WriteRequest {
    WriteRequest {
        branch: "main".into(),
        pull_request_prefix: None,
        author: Author {
            name: "gitops-bot".into(),
            email: "bot@example.com".into(),
        },
        time: DateTime::<Utc>::from_timestamp(1_764_777_600, 0).unwrap(),
        retry: RetryPolicy::default(),
    }
}

fn edit(round: u64) -> impl FnMut(&BaseTree<'_>) -> Result<Proposal, EditError> {
    let edits: Vec<ImageEdit> = IMAGES
        .iter()
        .map(|image| ImageEdit::tag(*image, format!("prod-{round:07}-20251203-160000"), None))
        .collect();
    move |base| {
        let mut files = Vec::with_capacity(OVERLAYS);
        for i in 0..OVERLAYS {
            let path = format!("overlays/app{i:04}/kustomization.yaml");
            let text = base.read(&path)?.ok_or("overlay missing")?;
            let content = kustomize::set_images(&text, &edits, &EditOptions::default())?;
            files.push(FileWrite { path, content });
        }
        Ok(Proposal {
            files,
            message: format!("deploy(all): 1000 overlays x 3 images, round {round}"),
        })
    }
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn daemon(base: &Path) -> (Daemon, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // `git-daemon` itself: killing the `git daemon` wrapper would leave the daemon running.
    let exec_path = Command::new("git")
        .arg("--exec-path")
        .output()
        .unwrap()
        .stdout;
    let git_daemon =
        std::path::Path::new(String::from_utf8_lossy(&exec_path).trim()).join("git-daemon");
    let child = Command::new(git_daemon)
        .args(["--reuseaddr", "--enable=receive-pack", "--export-all"])
        .arg(format!("--base-path={}", base.display()))
        .arg(format!("--port={port}"))
        .arg("--listen=127.0.0.1")
        .arg(base)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Daemon(child);
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (daemon, port);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("git daemon did not start");
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("gitops_write_1000_overlays_x3_images");
    group.sample_size(10);

    let direct = fixture();
    let bare = direct.path().join("remote.git");
    let mut round = 0u64;
    group.bench_function("direct_to_local_bare", |b| {
        b.iter(|| {
            round += 1;
            let mut repo = GitopsRepo::open(
                &Location::Path(bare.clone()),
                "origin",
                GitCredentials::default(),
            )
            .unwrap();
            let outcome = repo.write(&request(), edit(round)).unwrap();
            assert_eq!(outcome.plan.files.len(), OVERLAYS);
        });
    });

    let served = fixture();
    let (_daemon, port) = daemon(served.path());
    let url = format!("git://127.0.0.1:{port}/remote.git");
    let mut round = 0u64;
    group.bench_function("push_to_git_daemon", |b| {
        b.iter(|| {
            round += 1;
            let mut repo = GitopsRepo::open(
                &Location::Url(url.clone()),
                "origin",
                GitCredentials::default(),
            )
            .unwrap();
            let outcome = repo.write(&request(), edit(round)).unwrap();
            assert_eq!(outcome.plan.files.len(), OVERLAYS);
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
