//! A real CNCF distribution registry (`docker-registry`, Debian package) on loopback, and
//! synthetic OCI images written into OCI image-layout directories.
//!
//! ```ignore
//! let registry = TestRegistry::start();
//! let image = write_image(dir.path(), "app", &[1024, 2048], 7, &["dev-1"]);
//! let before = registry.requests().len();
//! // ... talk to registry.host() ...
//! let made = &registry.requests()[before..];
//! ```
//!
//! Everything is blocking (std only) so both sync and async tests can use it. The registry
//! process is killed when the value is dropped.

// Included by several test binaries and benches (with `#[path]`), each using a part.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::duplicated_attributes)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Uncompressed OCI layer media type (synthetic layers are not compressed).
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// One line of the registry's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, `PUT`, ...
    pub method: String,
    /// Path and query, e.g. `/v2/app/manifests/dev-1`.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// Response body bytes written by the registry.
    pub bytes: u64,
}

/// A `docker-registry serve` process on a free 127.0.0.1 port with its own storage dir and
/// deletes enabled. Killed on drop.
pub struct TestRegistry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl TestRegistry {
    /// Starts an anonymous registry. Panics (test set-up failure) with a message naming the
    /// package when `docker-registry` is missing.
    pub fn start() -> Self {
        Self::start_inner(None)
    }

    /// Starts a registry that requires HTTP Basic auth (htpasswd) for `user`/`password`.
    pub fn start_with_htpasswd(user: &str, password: &str) -> Self {
        Self::start_inner(Some((user, password)))
    }

    fn start_inner(auth: Option<(&str, &str)>) -> Self {
        let mut last_error = String::new();
        for _attempt in 0..3 {
            match Self::try_start(auth) {
                Ok(registry) => return registry,
                Err(err) => last_error = err,
            }
        }
        panic!("could not start docker-registry: {last_error}");
    }

    fn try_start(auth: Option<(&str, &str)>) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port();
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).map_err(|e| e.to_string())?;
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: test-secret\n",
            storage.display()
        );
        if let Some((user, password)) = auth {
            let line = htpasswd_line(user, password);
            let path = dir.path().join("htpasswd");
            std::fs::write(&path, format!("{line}\n")).map_err(|e| e.to_string())?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                path.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let stdout =
            std::fs::File::create(dir.path().join("access.log")).map_err(|e| e.to_string())?;
        let stderr =
            std::fs::File::create(dir.path().join("registry.log")).map_err(|e| e.to_string())?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run `docker-registry` ({e}); install the Debian package `docker-registry` (scripts/test does)"
                )
            })?;
        let mut registry = Self { child, port, dir };
        // Bounded wait until `/v2/` answers (at most ~10 s).
        for _ in 0..200 {
            if let Ok(Some(status)) = registry.child.try_wait() {
                return Err(format!(
                    "docker-registry exited with {status}: {}",
                    std::fs::read_to_string(registry.dir.path().join("registry.log"))
                        .unwrap_or_default()
                ));
            }
            if let Some(status) = http_status(port, "/v2/")
                && (status == 200 || status == 401)
            {
                // The probe is not part of any test's traffic.
                registry.wait_for_log_lines(1);
                return Ok(registry);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "docker-registry did not answer on 127.0.0.1:{port} within 10 s"
        ))
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path of the access log (one line per request, Apache combined format).
    pub fn access_log_path(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    /// Every request the registry has served so far (including the start-up probe), oldest
    /// first. The log is flushed per line; this waits briefly for it to settle.
    pub fn requests(&self) -> Vec<Request> {
        let mut previous = usize::MAX;
        // Bounded: the registry writes each line right after the response.
        for _ in 0..20 {
            let now = self.read_log().len();
            if now == previous {
                break;
            }
            previous = now;
            std::thread::sleep(Duration::from_millis(25));
        }
        self.read_log()
    }

    /// Requests served after the first `mark` ones (`mark` from an earlier `requests().len()`).
    pub fn requests_since(&self, mark: usize) -> Vec<Request> {
        self.requests().into_iter().skip(mark).collect()
    }

    fn wait_for_log_lines(&self, n: usize) {
        for _ in 0..100 {
            if self.read_log().len() >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn read_log(&self) -> Vec<Request> {
        let text = std::fs::read_to_string(self.access_log_path()).unwrap_or_default();
        text.lines().filter_map(parse_access_line).collect()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses `127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 200 2 "" "agent"`.
fn parse_access_line(line: &str) -> Option<Request> {
    let start = line.find('"')?;
    let rest = &line[start + 1..];
    let end = rest.find('"')?;
    let mut request = rest[..end].split(' ');
    let method = request.next()?.to_owned();
    let path = request.next()?.to_owned();
    let mut after = rest[end + 1..].split_whitespace();
    let status = after.next()?.parse().ok()?;
    let bytes = after.next()?.parse().unwrap_or(0);
    Some(Request {
        method,
        path,
        status,
        bytes,
    })
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// The status of a plain `GET path` on loopback, or None when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

/// A bcrypt htpasswd line: `htpasswd -nbB` (Debian package apache2-utils), else python3's
/// `crypt` module (removed in Python 3.13).
fn htpasswd_line(user: &str, password: &str) -> String {
    if let Ok(output) = Command::new("htpasswd")
        .args(["-nbB", user, password])
        .output()
        && output.status.success()
    {
        return String::from_utf8_lossy(&output.stdout).trim().to_owned();
    }
    let output = Command::new("python3")
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))",
            password,
        ])
        .output();
    match output {
        Ok(output) if output.status.success() => {
            format!("{user}:{}", String::from_utf8_lossy(&output.stdout).trim())
        }
        other => panic!(
            "cannot make a bcrypt htpasswd line: install the Debian package apache2-utils (scripts/test does); python3 crypt fallback: {other:?}"
        ),
    }
}

/// `sha256:<hex>` of bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A blob written into a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// `sha256:...`
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

/// A synthetic single-platform image written into an OCI layout.
#[derive(Debug, Clone)]
pub struct SyntheticImage {
    /// The layout directory.
    pub layout: PathBuf,
    /// Manifest digest.
    pub digest: String,
    /// Manifest bytes.
    pub manifest: Vec<u8>,
    /// Config blob.
    pub config: Blob,
    /// Layer blobs, in order.
    pub layers: Vec<Blob>,
}

impl SyntheticImage {
    /// Sum of config and layer sizes.
    pub fn blob_bytes(&self) -> u64 {
        self.config.size + self.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

/// A synthetic two-platform index written into an OCI layout.
#[derive(Debug, Clone)]
pub struct SyntheticIndex {
    /// The layout directory.
    pub layout: PathBuf,
    /// Index digest.
    pub digest: String,
    /// Index bytes.
    pub index: Vec<u8>,
    /// The platform images (linux/amd64, linux/arm64).
    pub children: Vec<SyntheticImage>,
}

/// Deterministic pseudo-random bytes (xorshift64*), so layers of the same seed are equal and
/// different seeds give different digests.
pub fn pseudo_random_bytes(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(size);
    out
}

fn write_blob(layout: &Path, bytes: &[u8]) -> Blob {
    let digest = sha256_digest(bytes);
    let dir = layout.join("blobs").join("sha256");
    std::fs::create_dir_all(&dir).expect("create blobs dir");
    let path = dir.join(digest.trim_start_matches("sha256:"));
    if !path.exists() {
        std::fs::write(&path, bytes).expect("write blob");
    }
    Blob {
        digest,
        size: bytes.len() as u64,
    }
}

/// Writes an image manifest (config + layers of `layer_sizes`, content from `seed`) into the
/// layout's blobs without touching index.json.
fn write_manifest_blobs(
    layout: &Path,
    layer_sizes: &[usize],
    seed: u64,
    platform: (&str, &str),
) -> SyntheticImage {
    let layers: Vec<Blob> = layer_sizes
        .iter()
        .enumerate()
        .map(|(i, size)| write_blob(layout, &pseudo_random_bytes(*size, seed * 1000 + i as u64)))
        .collect();
    let config = serde_json::json!({
        "architecture": platform.1,
        "os": platform.0,
        "config": {"Labels": {"seed": seed.to_string()}},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.digest.clone()).collect::<Vec<_>>()},
    });
    let config = write_blob(layout, &serde_json::to_vec(&config).expect("config json"));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
        "layers": layers.iter().map(|l| serde_json::json!({"mediaType": OCI_LAYER, "digest": l.digest, "size": l.size})).collect::<Vec<_>>(),
    });
    // Indented on purpose: a client that re-serialises would change the digest.
    let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest json");
    let blob = write_blob(layout, &bytes);
    SyntheticImage {
        layout: layout.to_path_buf(),
        digest: blob.digest,
        manifest: bytes,
        config,
        layers,
    }
}

fn write_layout_index(layout: &Path, entries: &[serde_json::Value]) {
    std::fs::create_dir_all(layout).expect("create layout");
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write oci-layout");
    let index =
        serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).expect("index json"),
    )
    .expect("write index.json");
}

fn ref_annotations(tag: &str) -> serde_json::Value {
    serde_json::json!({"org.opencontainers.image.ref.name": tag})
}

/// Writes a single-platform image (linux/amd64) with layers of `layer_sizes` bytes into a new
/// OCI layout at `layout`, tagged with every name in `tags` (index.json `ref.name`).
pub fn write_image(
    layout: &Path,
    layer_sizes: &[usize],
    seed: u64,
    tags: &[&str],
) -> SyntheticImage {
    let image = write_manifest_blobs(layout, layer_sizes, seed, ("linux", "amd64"));
    let entries: Vec<_> = tags
        .iter()
        .map(|tag| {
            serde_json::json!({"mediaType": OCI_MANIFEST, "digest": image.digest, "size": image.manifest.len(), "annotations": ref_annotations(tag)})
        })
        .collect();
    write_layout_index(layout, &entries);
    image
}

/// Writes a two-platform index (linux/amd64 and linux/arm64, each with `layer_sizes`) into a
/// new OCI layout at `layout`, tagged with every name in `tags`.
pub fn write_index(
    layout: &Path,
    layer_sizes: &[usize],
    seed: u64,
    tags: &[&str],
) -> SyntheticIndex {
    let children = vec![
        write_manifest_blobs(layout, layer_sizes, seed, ("linux", "amd64")),
        write_manifest_blobs(layout, layer_sizes, seed + 1, ("linux", "arm64")),
    ];
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": children.iter().zip(["amd64", "arm64"]).map(|(c, arch)| serde_json::json!({
            "mediaType": OCI_MANIFEST, "digest": c.digest, "size": c.manifest.len(),
            "platform": {"os": "linux", "architecture": arch}
        })).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec_pretty(&index).expect("index json");
    let blob = write_blob(layout, &bytes);
    let entries: Vec<_> = tags
        .iter()
        .map(|tag| {
            serde_json::json!({"mediaType": OCI_INDEX, "digest": blob.digest, "size": bytes.len(), "annotations": ref_annotations(tag)})
        })
        .collect();
    write_layout_index(layout, &entries);
    SyntheticIndex {
        layout: layout.to_path_buf(),
        digest: blob.digest,
        index: bytes,
        children,
    }
}

/// Packs an OCI layout directory into a tar file (what `docker buildx build --output
/// type=oci,dest=x.tar` writes).
pub fn pack_layout_tar(layout: &Path, tar_path: &Path) {
    let status = Command::new("tar")
        .arg("-cf")
        .arg(tar_path)
        .arg("-C")
        .arg(layout)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(status.success(), "tar failed");
}

/// `skopeo inspect --raw` digest of a reference on a test registry (checked from outside our
/// code). Returns the sha256 of the raw manifest bytes skopeo received.
pub fn skopeo_raw_digest(reference: &str) -> String {
    let output = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(reference)
        .output()
        .expect("cannot run skopeo; install the Debian package `skopeo` (scripts/test does)");
    assert!(
        output.status.success(),
        "skopeo inspect {reference} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    sha256_digest(&output.stdout)
}

/// A scripted answer of [`FaultProxy`].
#[derive(Debug, Clone)]
pub struct Fault {
    /// Only requests with this method (any when None).
    pub method: Option<&'static str>,
    /// Status to answer.
    pub status: u16,
    /// Extra header lines (`Retry-After: 1`).
    pub headers: Vec<String>,
    /// Body.
    pub body: String,
}

impl Fault {
    /// A bare status for any method.
    pub fn status(status: u16) -> Self {
        Self {
            method: None,
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }
}

/// A loopback TCP proxy in front of a registry that answers the first matching requests
/// with scripted faults, then forwards (one request per connection). Stops on drop.
pub struct FaultProxy {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FaultProxy {
    /// Starts the proxy in front of `upstream_port`.
    pub fn start(upstream_port: u16, faults: Vec<Fault>) -> Self {
        Self::start_inner(upstream_port, faults, None)
    }

    /// A proxy that acts as a token-protected registry: requests without
    /// `Authorization: Bearer <token>` get a 401 Bearer challenge whose realm is the
    /// proxy's `/token`, which hands out the token for Basic `user:password` only.
    pub fn start_bearer(upstream_port: u16, user: &str, password: &str) -> Self {
        let basic = format!(
            "Basic {}",
            base64_encode(format!("{user}:{password}").as_bytes())
        );
        Self::start_inner(
            upstream_port,
            Vec::new(),
            Some((basic, "t0ken-xyz".to_owned())),
        )
    }

    fn start_inner(
        upstream_port: u16,
        faults: Vec<Fault>,
        bearer: Option<(String, String)>,
    ) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let faults = Arc::new(Mutex::new(faults));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (seen, faults, bearer) =
                            (seen2.clone(), faults.clone(), bearer.clone());
                        std::thread::spawn(move || {
                            let _ = serve_one(
                                stream,
                                upstream_port,
                                port,
                                &seen,
                                &faults,
                                bearer.as_ref(),
                            );
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self { port, seen, stop }
    }

    /// `127.0.0.1:PORT` of the proxy.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Request lines seen (`GET /v2/...`), faulted or forwarded.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn serve_one(
    mut client: TcpStream,
    upstream_port: u16,
    own_port: u16,
    seen: &std::sync::Mutex<Vec<String>>,
    faults: &std::sync::Mutex<Vec<Fault>>,
    bearer: Option<&(String, String)>,
) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    // Read the head.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
        if head.len() > 64 * 1024 {
            return Ok(());
        }
    }
    let head_text = String::from_utf8_lossy(&head).to_string();
    let request_line = head_text.lines().next().unwrap_or_default().to_owned();
    let method = request_line
        .split(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    let length: usize = head_text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    client.read_exact(&mut body)?;
    if let Ok(mut s) = seen.lock() {
        s.push(
            request_line
                .rsplit_once(' ')
                .map_or(request_line.clone(), |(a, _)| a.to_owned()),
        );
    }
    if let Some((basic, token)) = bearer {
        let authorization = head_text
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("authorization")
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_default();
        let path = request_line.split(' ').nth(1).unwrap_or_default();
        let answer = if path.starts_with("/token") {
            if &authorization == basic {
                let body = format!(r#"{{"token":"{token}"}}"#);
                Some(format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ))
            } else {
                let body = r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#;
                Some(format!(
                    "HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ))
            }
        } else if authorization != format!("Bearer {token}") {
            let body = r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#;
            Some(format!(
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{own_port}/token\",service=\"test-registry\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ))
        } else {
            None
        };
        if let Some(answer) = answer {
            client.write_all(answer.as_bytes())?;
            return Ok(());
        }
    }
    let fault = faults.lock().ok().and_then(|mut f| {
        let i = f
            .iter()
            .position(|x| x.method.is_none_or(|m| m == method))?;
        Some(f.remove(i))
    });
    if let Some(fault) = fault {
        let mut answer = format!(
            "HTTP/1.1 {} Fault\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n",
            fault.status,
            fault.body.len()
        );
        for h in &fault.headers {
            answer.push_str(h);
            answer.push_str("\r\n");
        }
        answer.push_str("\r\n");
        answer.push_str(&fault.body);
        client.write_all(answer.as_bytes())?;
        return Ok(());
    }
    let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port))?;
    let mut forwarded = String::new();
    for line in head_text.split("\r\n").filter(|l| !l.is_empty()) {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        forwarded.push_str(line);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    upstream.write_all(forwarded.as_bytes())?;
    upstream.write_all(&body)?;
    std::io::copy(&mut upstream, &mut client)?;
    Ok(())
}

/// Standard base64 with padding (test helper; no dependency needed).
pub fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
