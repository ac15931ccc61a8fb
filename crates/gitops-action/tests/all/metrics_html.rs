//! The HTML report rendered in headless Chromium (Debian's `chromium` package): the screenshot
//! is not blank, and every number in the rendered DOM matches `--format json`.
//! Chromium runs with networking disabled and a proxy that goes nowhere; the page itself has a
//! `default-src 'none'` content security policy.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use regex::Regex;
use serde_json::Value;

use super::cli_metrics::{html_report, ledger_repo};

/// Finds the Chromium binary or fails naming the package to install.
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        if let Ok(output) = Command::new("which").arg(name).output()
            && output.status.success()
        {
            let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            if !path.is_empty() {
                return PathBuf::from(path);
            }
        }
    }
    panic!("chromium not found: install the Debian package `chromium` (scripts/test installs it)");
}

/// Runs headless Chromium with `extra` arguments on a file, with a bounded wait; returns stdout.
fn run_chromium(page: &Path, profile: &Path, extra: &[String]) -> String {
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            // Nothing may leave the machine: every host resolves to nothing, and any
            // connection would go to a closed loopback port.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => panic!("cannot start chromium: {err}"),
    };
    // Bounded wait: 120 s at most, then kill.
    for _ in 0..1200 {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(err) => panic!("cannot wait for chromium: {err}"),
        }
    }
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromium did not finish within 120 s");
    }
    match child.wait_with_output() {
        Ok(output) => String::from_utf8_lossy(&output.stdout).into_owned(),
        Err(err) => panic!("cannot read chromium's output: {err}"),
    }
}

/// Decodes a PNG into RGBA pixels.
fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 4]>) {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) => panic!("chromium wrote no screenshot at {}: {err}", path.display()),
    };
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = match decoder.read_info() {
        Ok(reader) => reader,
        Err(err) => panic!("screenshot is not a PNG: {err}"),
    };
    let Some(size) = reader.output_buffer_size() else {
        panic!("screenshot too large");
    };
    let mut buffer = vec![0; size];
    let info = match reader.next_frame(&mut buffer) {
        Ok(info) => info,
        Err(err) => panic!("cannot decode the screenshot: {err}"),
    };
    let channels = info.color_type.samples();
    let pixels = buffer[..info.buffer_size()]
        .chunks(channels)
        .map(|c| match c {
            [r, g, b, a] => [*r, *g, *b, *a],
            [r, g, b] => [*r, *g, *b, 255],
            [l, a] => [*l, *l, *l, *a],
            [l] => [*l, *l, *l, 255],
            _ => [0, 0, 0, 0],
        })
        .collect();
    (info.width, info.height, pixels)
}

/// Asserts the screenshot shows a page: many colours, and a good share of pixels that are
/// not the background.
fn assert_not_blank(path: &Path) {
    let (width, height, pixels) = decode_png(path);
    assert!(width >= 1000 && height >= 1000, "{width}x{height}");
    let mut counts = std::collections::HashMap::new();
    for p in &pixels {
        // Quantise so anti-aliasing does not inflate the count.
        *counts
            .entry([p[0] >> 3, p[1] >> 3, p[2] >> 3])
            .or_insert(0u64) += 1;
    }
    let background = counts.values().copied().max().unwrap_or(0);
    let total = pixels.len() as u64;
    assert!(
        counts.len() >= 40,
        "only {} distinct colours: the page looks blank",
        counts.len()
    );
    assert!(
        (total - background) * 100 / total >= 10,
        "{}% of the pixels differ from the background: the page looks blank",
        (total - background) * 100 / total
    );
}

/// Looks a `data-metric` path up in the JSON report: the first segment is `window` or an
/// environment name, then keys and array indexes.
fn lookup<'a>(report: &'a Value, metric: &str) -> Option<&'a Value> {
    let mut parts = metric.split('.');
    let first = parts.next()?;
    let mut value = if first == "window" {
        report.get("window")?
    } else {
        report["environments"]
            .as_array()?
            .iter()
            .find(|e| e["environment"] == first)?
    };
    for part in parts {
        value = match part.parse::<usize>() {
            Ok(index) => value.get(index)?,
            Err(_) => value.get(part)?,
        };
    }
    Some(value)
}

fn same(json: &Value, shown: &str) -> bool {
    match json {
        Value::Null => shown == "null",
        Value::String(s) => s == shown,
        Value::Number(n) => shown
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(a, b)| a == b),
        _ => false,
    }
}

#[test]
fn report_renders_in_chromium_and_its_numbers_match_the_json() {
    let repo = ledger_repo();
    let work = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => panic!("cannot create a temporary folder: {err}"),
    };
    let (page, report) = html_report(&repo, work.path());
    let profile = work.path().join("profile");

    // (b) The numbers in the rendered DOM equal the JSON.
    let dom = run_chromium(&page, &profile, &["--dump-dom".to_owned()]);
    assert!(
        dom.contains("Delivery performance"),
        "no page in: {dom:.300}"
    );
    let tagged = Regex::new(r#"data-metric="([^"]+)" data-value="([^"]*)""#)
        .unwrap_or_else(|err| panic!("{err}"));
    let mut checked = 0;
    for found in tagged.captures_iter(&dom) {
        let (metric, shown) = (&found[1], &found[2]);
        let Some(json) = lookup(&report, metric) else {
            panic!("{metric} is on the page but not in the JSON report");
        };
        assert!(
            same(json, shown),
            "{metric}: page shows {shown}, JSON has {json}"
        );
        checked += 1;
    }
    assert_eq!(
        checked,
        dom.matches("data-metric=").count(),
        "every data-metric carries a data-value"
    );
    assert!(checked >= 60, "only {checked} numbers on the page");
    for metric in [
        "production.deployment_frequency.per_week",
        "production.lead_time.median_seconds",
        "production.change_failure_rate.rate",
        "production.time_to_restore.median_seconds",
        "production.lead_time.tier",
        "development.weeks.12.deployments",
        "window.days",
    ] {
        assert!(
            dom.contains(&format!("data-metric=\"{metric}\"")),
            "{metric} missing from the page"
        );
    }

    // (a) The screenshot is not blank, in the light and the dark theme. Copies are kept in
    // the target folder for people to look at.
    let keep = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::copy(&page, keep.join("metrics-report.html"));
    for (name, extra) in [
        ("metrics-report-light.png", None),
        ("metrics-report-dark.png", Some("--force-dark-mode")),
    ] {
        let shot = work.path().join(name);
        let mut args = vec![
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,1600".to_owned(),
        ];
        args.extend(extra.map(str::to_owned));
        run_chromium(&page, &profile, &args);
        assert_not_blank(&shot);
        let _ = std::fs::copy(&shot, keep.join(name));
    }
}
