//! The Kustomize editor on 1,000 overlays x 3 images (goal: under 1 s for the whole batch).
//!
//! Each overlay is a different file (three layouts: hand-written with comments and indented
//! sequences, kustomize's own flush/alphabetical style, and one without an `images:` block),
//! and each edit is verified by re-parsing, as in production.
//!
//! Run: `cargo bench -p gitops-core --bench kustomize`

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use gitops_core::kustomize::{EditOptions, ImageEdit, parse_image_args, set_images};
use std::hint::black_box;

const OVERLAYS: usize = 1_000;
const IMAGES: [&str; 3] = ["backend", "frontend", "worker"];
const DIGEST: &str = "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3";

fn overlay(i: usize) -> String {
    match i % 3 {
        0 => {
            let mut text = format!(
                "# overlay {i}: edited by the pipeline\n---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: app{i}   # one per team\nresources:\n  - ../../base\n  - ingress.yaml\nimages:\n"
            );
            for image in IMAGES {
                text.push_str(&format!(
                    "  # {image}\n  - name: ghcr.io/acme/{image}   # built by CI\n    newName: registry.example.com/acme/{image}\n    newTag: \"v0\"\n"
                ));
            }
            text.push_str("replicas:\n  - name: backend\n    count: 2 # baseline\n");
            text
        }
        1 => {
            let mut text = "apiVersion: kustomize.config.k8s.io/v1beta1\nimages:\n".to_owned();
            for image in IMAGES {
                text.push_str(&format!(
                    "- digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\n  name: ghcr.io/acme/{image}\n  newName: registry.example.com/acme/{image}\n"
                ));
            }
            text.push_str(&format!(
                "kind: Kustomization\nnamePrefix: app{i}-\nresources:\n- ../../base\n"
            ));
            text
        }
        _ => format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\nresources:\n  - ../../base\n\nnamePrefix: app{i}-\n"
        ),
    }
}

fn edits(i: usize) -> Vec<ImageEdit> {
    let args: Vec<String> = IMAGES
        .iter()
        .map(|image| format!("ghcr.io/acme/{image}:prod-abc{i:04}-20251203-160000@{DIGEST}"))
        .collect();
    parse_image_args(&args).unwrap()
}

fn bench(c: &mut Criterion) {
    let overlays: Vec<String> = (0..OVERLAYS).map(overlay).collect();
    let all_edits: Vec<Vec<ImageEdit>> = (0..OVERLAYS).map(edits).collect();
    let opts = EditOptions::default();
    // Sanity: every overlay changes.
    for (text, edits) in overlays.iter().zip(&all_edits) {
        assert_ne!(&set_images(text, edits, &opts).unwrap(), text);
    }

    let mut group = c.benchmark_group("kustomize");
    group.sample_size(20);
    group.bench_function(
        "set_images 1000 overlays x 3 images (one call per overlay)",
        |b| {
            b.iter(|| {
                for (text, edits) in overlays.iter().zip(&all_edits) {
                    black_box(set_images(black_box(text), edits, &opts).unwrap());
                }
            });
        },
    );
    group.bench_function(
        "set_images 1000 overlays x 3 images (one call per image)",
        |b| {
            b.iter(|| {
                for (text, edits) in overlays.iter().zip(&all_edits) {
                    let mut text = text.clone();
                    for edit in edits {
                        text = set_images(&text, std::slice::from_ref(edit), &opts).unwrap();
                    }
                    black_box(text);
                }
            });
        },
    );
    let compat = EditOptions {
        kustomize_compat: true,
    };
    group.bench_function(
        "set_images 1000 overlays x 3 images --kustomize-compat",
        |b| {
            b.iter(|| {
                for (text, edits) in overlays.iter().zip(&all_edits) {
                    black_box(set_images(black_box(text), edits, &compat).unwrap());
                }
            });
        },
    );
    group.bench_function(
        "set_images 1000 unchanged overlays (already deployed)",
        |b| {
            let deployed: Vec<String> = overlays
                .iter()
                .zip(&all_edits)
                .map(|(text, edits)| set_images(text, edits, &opts).unwrap())
                .collect();
            b.iter(|| {
                for (text, edits) in deployed.iter().zip(&all_edits) {
                    black_box(set_images(black_box(text), edits, &opts).unwrap());
                }
            });
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
