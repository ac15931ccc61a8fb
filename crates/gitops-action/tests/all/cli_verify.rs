//! `gitops verify` against a real local HTTP server that becomes healthy after N requests,
//! and against a wiremock fake of the Argo CD API.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use wiremock::matchers::{bearer_token, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::cli_gate::{Run, gitops};

/// A real HTTP/1.1 server on loopback: the first `unhealthy` requests get 503, later ones
/// 200 with a JSON body. Returns its URL, the request counter and the task (aborted by the
/// caller).
async fn flaky_server(unhealthy: usize) -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let task = tokio::spawn(async move {
        // Bounded: a test never needs more than a few hundred requests.
        for _ in 0..500 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
            let mut buf = vec![0u8; 4096];
            let mut read = 0;
            // Read until the end of the request head (GET has no body).
            while read < buf.len() {
                match socket.read(&mut buf[read..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => read += k,
                }
                if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let (status, body) = if n <= unhealthy {
                (
                    "503 Service Unavailable",
                    format!("{{\"status\":\"starting\",\"request\":{n}}}"),
                )
            } else {
                (
                    "200 OK",
                    format!(
                        "{{\"status\":\"ok\",\"version\":\"staging-4f9c2d1\",\"request\":{n}}}"
                    ),
                )
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (format!("http://{addr}/healthz"), count, task)
}

async fn verify(args: Vec<String>, envs: Vec<(String, String)>) -> Run {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        gitops(dir.path(), &args, &envs)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn becomes_healthy_after_n_requests() {
    let (url, count, server) = flaky_server(3).await;
    let run = verify(
        strings(&[
            "--format",
            "json",
            "verify",
            "--url",
            &url,
            "--expect-body",
            "\"status\":\"ok\"",
            "--interval",
            "50ms",
            "--timeout",
            "60s",
        ]),
        Vec::new(),
    )
    .await;
    server.abort();
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let json: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!(json["healthy"], true);
    assert_eq!(json["rollback"], false);
    assert_eq!(json["attempts"], 4);
    assert_eq!(json["http"]["status"], 200);
    assert_eq!(count.load(Ordering::SeqCst), 4);
    // The failed attempts were logged on stderr.
    assert!(
        run.stderr.contains("attempt 3: ") && run.stderr.contains("answered 503"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn still_unhealthy_at_the_timeout_says_roll_back() {
    let (url, _count, server) = flaky_server(usize::MAX).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let output = dir.path().join("out.txt");
    let run = verify(
        strings(&[
            "verify",
            "--url",
            &url,
            "--interval",
            "100ms",
            "--timeout",
            "1s",
        ]),
        vec![("GITHUB_OUTPUT".into(), output.display().to_string())],
    )
    .await;
    server.abort();
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.starts_with("UNHEALTHY at the timeout after "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("  http: {url} answered 503\n")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  last body: {\"status\":\"starting\""),
        "{}",
        run.stdout
    );
    assert!(run.stdout.ends_with("rollback: true\n"), "{}", run.stdout);
    let outputs = std::fs::read_to_string(&output).unwrap_or_default();
    assert!(
        outputs.contains("healthy=false\n") && outputs.contains("rollback=true\n"),
        "{outputs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_mismatch_and_unreachable_url_are_unhealthy() {
    let (url, _count, server) = flaky_server(0).await;
    let run = verify(
        strings(&[
            "verify",
            "--url",
            &url,
            "--expect-body",
            "version\":\"prod-",
            "--interval",
            "100ms",
            "--timeout",
            "1s",
        ]),
        Vec::new(),
    )
    .await;
    server.abort();
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("answered 200: body does not match --expect-body"),
        "{}",
        run.stdout
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    let run = verify(
        strings(&[
            "--format",
            "json",
            "verify",
            "--url",
            &format!("http://127.0.0.1:{closed}/"),
            "--interval",
            "100ms",
            "--timeout",
            "500ms",
        ]),
        Vec::new(),
    )
    .await;
    assert_eq!(run.code, 1);
    let json: Value =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
    assert_eq!(json["rollback"], true);
    assert!(
        json["http"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{json}"
    );

    let run = verify(
        strings(&["verify", "--url", &url, "--expect-body", "("]),
        Vec::new(),
    )
    .await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("--expect-body is not a valid regular expression"),
        "{}",
        run.stderr
    );
}

const ARGO_TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.argocd-test-token.c2lnbmF0dXJl";
const SHA: &str = "4f9c2d1e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e";

fn application(sync: &str, health: &str, revision: &str) -> Value {
    json!({
        "metadata": {"name": "backend-staging", "namespace": "argocd", "uid": "c5b2e9f0"},
        "spec": {"project": "default", "source": {"repoURL": "https://github.com/acme/gitops.git", "path": "infra/k8s/overlays/staging", "targetRevision": "main"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "staging"}},
        "status": {
            "sync": {"status": sync, "revision": revision, "comparedTo": {"source": {"repoURL": "https://github.com/acme/gitops.git"}}},
            "health": {"status": health, "message": if health == "Healthy" { "" } else { "Deployment \"backend\" exceeded its progress deadline" }},
            "operationState": {"phase": "Succeeded", "message": "successfully synced (all tasks run)"},
            "resources": []
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_argocd_synced_and_healthy_at_the_revision() {
    let server = MockServer::start().await;
    // Old revision first, then progressing, then done.
    Mock::given(method("GET"))
        .and(path("/api/v1/applications/backend-staging"))
        .respond_with(ResponseTemplate::new(200).set_body_json(application(
            "Synced",
            "Healthy",
            "0000000000000000000000000000000000000000",
        )))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/applications/backend-staging"))
        .respond_with(ResponseTemplate::new(200).set_body_json(application(
            "Synced",
            "Progressing",
            SHA,
        )))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/applications/backend-staging"))
        .and(bearer_token(ARGO_TOKEN))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(application("Synced", "Healthy", SHA)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (url, _count, http) = flaky_server(0).await;
    let run = verify(
        strings(&[
            "verify",
            "--url",
            &url,
            "--argocd-server",
            &server.uri(),
            "--argocd-app",
            "backend-staging",
            "--argocd-revision",
            &SHA[..7],
            "--interval",
            "50ms",
            "--timeout",
            "60s",
        ]),
        vec![("ARGOCD_TOKEN".into(), ARGO_TOKEN.into())],
    )
    .await;
    http.abort();
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("healthy after 3 attempts"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "argo cd backend-staging: sync Synced, health Healthy, revision {SHA}"
        )),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("(expected 4f9c2d1)"), "{}", run.stderr);
    assert!(run.stderr.contains("health Progressing"), "{}", run.stderr);
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(ARGO_TOKEN), "token leaked: {text}");
    }
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argocd_refusing_the_token_exits_3_without_printing_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/applications/backend-staging"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "invalid session: token is expired", "code": 16, "message": "invalid session: token is expired"})))
        .mount(&server)
        .await;
    let run = verify(
        strings(&[
            "verify",
            "--argocd-server",
            &server.uri(),
            "--argocd-app",
            "backend-staging",
            "--interval",
            "50ms",
            "--timeout",
            "5s",
        ]),
        vec![("ARGOCD_TOKEN".into(), ARGO_TOKEN.into())],
    )
    .await;
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("Argo CD refused the token"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains(ARGO_TOKEN) && !run.stderr.contains(ARGO_TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_url_is_a_usage_error_not_a_rollback() {
    for url in ["notaurl", "ftp://example.com/healthz", "http://"] {
        let run = verify(
            strings(&["verify", "--url", url, "--timeout", "1s"]),
            vec![],
        )
        .await;
        assert_eq!(run.code, 2, "{url}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("http:// or https:// URL"),
            "{url}: {}",
            run.stderr
        );
        assert!(
            !run.stdout.contains("rollback: true"),
            "{url}: {}",
            run.stdout
        );
    }
}
