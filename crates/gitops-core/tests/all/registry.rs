//! Registry backends against a real `docker-registry` on loopback and an OCI layout folder.

use crate::support::registry::{TestRegistry, write_image, write_index};

#[test]
fn harness_starts_a_registry_and_counts_requests() {
    let registry = TestRegistry::start();
    let mark = registry.requests().len();
    assert!(mark >= 1, "the start-up probe is logged");
    let dir = tempfile::tempdir().expect("tempdir");
    let image = write_image(&dir.path().join("single"), &[100, 200], 1, &["dev-1"]);
    assert_eq!(image.layers.len(), 2);
    assert_eq!(image.blob_bytes(), 300 + image.config.size);
    let index = write_index(&dir.path().join("multi"), &[10], 2, &["dev-2"]);
    assert_eq!(index.children.len(), 2);
    assert_ne!(index.children[0].digest, index.children[1].digest);
    assert!(registry.requests_since(mark).is_empty());
}
