//! A self-contained HTML report: inline CSS and SVG, no scripts, fonts or other assets, so it
//! opens offline and on a team's screen. Every number carries `data-metric` (its path in the
//! JSON report, with the environment name in place of its index) and `data-value` (the JSON
//! value), so a test can compare the page with `--format json`.

use std::fmt::Write as _;

use super::svg::{Bar, BarChart, bar_chart, short, timeline};
use super::{EnvironmentMetrics, MetricsReport, Tier, format_rate, format_seconds};

/// Escapes text for HTML content and attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
:root { color-scheme: light dark;
  --bg: #f5f7fa; --panel: #ffffff; --text: #18202b; --muted: #5b6777; --line: #dde3ea;
  --accent: #2f6fde; --fail: #d93b3b; --ok: #1f9d55; --amber: #d98a00; --violet: #7a4fd6;
  --elite: #1f9d55; --high: #2f6fde; --medium: #d98a00; --low: #d93b3b; }
@media (prefers-color-scheme: dark) { :root {
  --bg: #0f141b; --panel: #18202b; --text: #e8edf3; --muted: #9aa7b7; --line: #2b3746;
  --accent: #5b9bff; --fail: #ff6b6b; --ok: #3ecf7a; --amber: #ffb340; --violet: #a98bff;
  --elite: #3ecf7a; --high: #5b9bff; --medium: #ffb340; --low: #ff6b6b; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, main, footer { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 30px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 22px; margin: 34px 0 14px; display: flex; align-items: baseline; gap: 12px; }
h2 .env-note { font-size: 14px; font-weight: 400; color: var(--muted); }
h3 { font-size: 14px; font-weight: 600; margin: 0 0 8px; color: var(--muted);
  text-transform: uppercase; letter-spacing: 0.06em; }
.sub { color: var(--muted); margin: 0; }
.cards { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 16px; }
.card, figure { background: var(--panel); border: 1px solid var(--line); border-radius: 14px;
  padding: 18px 20px; margin: 0; }
.card .label { font-size: 14px; color: var(--muted); font-weight: 600; }
.card .big { font-size: 46px; font-weight: 700; line-height: 1.1; margin: 8px 0 4px;
  font-variant-numeric: tabular-nums; }
.card .big .unit { font-size: 20px; font-weight: 600; color: var(--muted); margin-left: 4px; }
.card .detail { font-size: 14px; color: var(--muted); min-height: 20px; }
.badge { display: inline-block; font-size: 12px; font-weight: 700; text-transform: uppercase;
  letter-spacing: 0.08em; padding: 3px 10px; border-radius: 999px; color: #fff; background: var(--muted); }
.badge.elite { background: var(--elite); } .badge.high { background: var(--high); }
.badge.medium { background: var(--medium); color: #1b1300; } .badge.low { background: var(--low); }
.badge.none { background: transparent; color: var(--muted); border: 1px solid var(--line); }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; margin-top: 16px; }
.charts .wide { grid-column: 1 / -1; }
svg.chart { width: 100%; height: auto; display: block; }
.grid { stroke: var(--line); stroke-width: 1; }
.axis { stroke: var(--muted); stroke-width: 1.5; }
.axis-label { fill: var(--muted); font-size: 11px; }
.axis-caption { fill: var(--muted); font-size: 12px; }
.bar { fill: var(--accent); } .bar-fail { fill: var(--fail); }
.bar-value { fill: var(--text); font-size: 12px; font-weight: 600; }
.span-fail { fill: var(--fail); opacity: 0.85; }
.span-open { fill: var(--fail); opacity: 0.45; stroke: var(--fail); stroke-dasharray: 4 3; }
.dot-restore { fill: var(--ok); stroke: var(--panel); stroke-width: 2; }
.link-fail { stroke: var(--fail); stroke-width: 1; stroke-dasharray: 2 3; }
.tick-deploy { stroke: var(--accent); stroke-width: 2.5; }
.tick-hotfix { stroke: var(--amber); stroke-width: 3; }
.tick-rollback { stroke: var(--violet); stroke-width: 3; }
.tick-error { stroke: var(--fail); stroke-width: 3; }
.legend { display: flex; flex-wrap: wrap; gap: 16px; font-size: 13px; color: var(--muted); margin-top: 8px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 3px; margin-right: 6px;
  vertical-align: -1px; }
table.incidents { width: 100%; border-collapse: collapse; font-size: 14px; margin-top: 12px;
  font-variant-numeric: tabular-nums; }
table.incidents th, table.incidents td { text-align: left; padding: 6px 8px; border-top: 1px solid var(--line); }
table.incidents th { color: var(--muted); font-weight: 600; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.empty { color: var(--muted); padding: 24px; text-align: center; }
footer { color: var(--muted); font-size: 13px; padding-top: 28px; padding-bottom: 32px; }
@media (max-width: 900px) { .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .charts { grid-template-columns: 1fr; } }
"#;

/// A number shown on the page with its JSON path and value.
fn number(metric: &str, value: Option<f64>, text: &str) -> String {
    let data = value.map_or_else(|| "null".to_owned(), json_number);
    format!(
        r#"<span data-metric="{}" data-value="{}">{}</span>"#,
        escape(metric),
        data,
        escape(text)
    )
}

/// How a number is written in `data-value`: exactly as `serde_json` writes it.
fn json_number(value: f64) -> String {
    serde_json::Number::from_f64(value).map_or_else(|| "null".to_owned(), |n| n.to_string())
}

#[allow(clippy::cast_precision_loss)]
fn count(metric: &str, value: u64) -> String {
    format!(
        r#"<span data-metric="{}" data-value="{value}">{value}</span>"#,
        escape(metric)
    )
}

fn badge(metric: &str, tier: Option<Tier>) -> String {
    match tier {
        Some(tier) => format!(
            r#"<span class="badge {tier}" data-metric="{}" data-value="{tier}">{tier}</span>"#,
            escape(metric)
        ),
        None => format!(
            r#"<span class="badge none" data-metric="{}" data-value="null">no data</span>"#,
            escape(metric)
        ),
    }
}

/// A big number split into value and unit (`3.5` `h`).
fn split_unit(text: &str) -> (&str, &str) {
    let at = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    text.split_at(at)
}

fn big(metric: &str, value: Option<f64>, text: Option<String>) -> String {
    match text {
        Some(text) => {
            let (number_part, unit) = split_unit(&text);
            format!(
                r#"<div class="big">{}<span class="unit">{}</span></div>"#,
                number(metric, value, number_part),
                escape(unit)
            )
        }
        None => format!(r#"<div class="big">{}</div>"#, number(metric, None, "–")),
    }
}

fn card(label: &str, big_html: &str, badge_html: &str, detail: &str) -> String {
    format!(
        r#"<div class="card"><div class="label">{}</div>{big_html}<div class="detail">{detail}</div><div>{badge_html}</div></div>"#,
        escape(label)
    )
}

fn environment_section(report: &MetricsReport, env: &EnvironmentMetrics) -> String {
    let p = |key: &str| format!("{}.{key}", env.environment);
    let mut out = String::new();
    let f = &env.deployment_frequency;
    let _ = write!(
        out,
        r#"<section class="env" data-environment="{}"><h2>{}<span class="env-note">{} rollbacks · {} hotfixes</span></h2><div class="cards">"#,
        escape(&env.environment),
        escape(&env.environment),
        count(&p("rollbacks"), env.rollbacks),
        count(&p("hotfixes"), env.hotfixes),
    );
    let class = f.class.map_or("no deployments", |c| c.as_str());
    out.push_str(&card(
        "Deployment frequency",
        &format!(
            r#"<div class="big">{}<span class="unit">/ week</span></div>"#,
            number(
                &p("deployment_frequency.per_week"),
                Some(f.per_week),
                &trim(f.per_week)
            )
        ),
        &badge(&p("deployment_frequency.tier"), f.tier),
        &format!(
            "{} deploys on {} days · {}",
            count(&p("deployment_frequency.deployments"), f.deployments),
            count(&p("deployment_frequency.deploy_days"), f.deploy_days),
            escape(class)
        ),
    ));
    let lead = &env.lead_time;
    out.push_str(&card(
        "Lead time for changes",
        &big(
            &p("lead_time.median_seconds"),
            lead.median_seconds,
            lead.median_seconds.map(format_seconds),
        ),
        &badge(&p("lead_time.tier"), lead.tier),
        &format!(
            "median of {} changes · p90 {}",
            count(&p("lead_time.samples"), lead.samples),
            number(
                &p("lead_time.p90_seconds"),
                lead.p90_seconds,
                &lead
                    .p90_seconds
                    .map_or_else(|| "–".to_owned(), format_seconds)
            )
        ),
    ));
    let cfr = &env.change_failure_rate;
    out.push_str(&card(
        "Change failure rate",
        &big(
            &p("change_failure_rate.rate"),
            cfr.rate,
            cfr.rate.map(format_rate),
        ),
        &badge(&p("change_failure_rate.tier"), cfr.tier),
        &format!(
            "{} of {} deployments failed",
            count(&p("change_failure_rate.failures"), cfr.failures),
            count(&p("change_failure_rate.deployments"), cfr.deployments)
        ),
    ));
    let ttr = &env.time_to_restore;
    out.push_str(&card(
        "Time to restore",
        &big(
            &p("time_to_restore.median_seconds"),
            ttr.median_seconds,
            ttr.median_seconds.map(format_seconds),
        ),
        &badge(&p("time_to_restore.tier"), ttr.tier),
        &format!(
            "{} restored · {} open",
            count(&p("time_to_restore.restored"), ttr.restored),
            count(&p("time_to_restore.open"), ttr.open)
        ),
    ));
    out.push_str(r#"</div><div class="charts">"#);

    let week_bars: Vec<Bar> = env
        .weeks
        .iter()
        .enumerate()
        .map(|(i, w)| Bar {
            label: w.week_start.format("%b %d").to_string(),
            value: w.deployments,
            highlight: w.failures,
            metric: p(&format!("weeks.{i}.deployments")),
        })
        .collect();
    let _ = write!(
        out,
        r#"<figure><h3>Deployments per week</h3>{}<div class="legend"><span><i style="background:var(--accent)"></i>deployments</span><span><i style="background:var(--fail)"></i>of which failed</span></div></figure>"#,
        bar_chart(
            &week_bars,
            &BarChart {
                title: "Deployments per week",
                caption: "week starting (Monday, UTC)",
            }
        )
    );
    let lead_bars: Vec<Bar> = lead
        .histogram
        .iter()
        .enumerate()
        .map(|(i, b)| Bar {
            label: b.label.clone(),
            value: b.count,
            highlight: 0,
            metric: p(&format!("lead_time.histogram.{i}.count")),
        })
        .collect();
    let _ = write!(
        out,
        r#"<figure><h3>Lead time distribution</h3>{}<div class="legend"><span>commit to deployment, one bar per range</span></div></figure>"#,
        bar_chart(
            &lead_bars,
            &BarChart {
                title: "Lead time distribution",
                caption: "lead time (commit to deployment)",
            }
        )
    );
    let _ = write!(
        out,
        r#"<figure class="wide"><h3>Failures and recovery</h3>{}<div class="legend"><span><i style="background:var(--accent)"></i>deploy</span><span><i style="background:var(--amber)"></i>hotfix</span><span><i style="background:var(--violet)"></i>rollback</span><span><i style="background:var(--fail)"></i>failed deployment until restored</span><span><i style="background:var(--ok);border-radius:50%"></i>restored</span></div>"#,
        timeline(env, report.window.start, report.window.end)
    );
    if !env.incidents.is_empty() {
        out.push_str(
            r#"<table class="incidents"><thead><tr><th>failed deployment</th><th>why</th><th>failed at (UTC)</th><th>restored by</th><th>time to restore</th></tr></thead><tbody>"#,
        );
        for (i, incident) in env.incidents.iter().enumerate() {
            #[allow(clippy::cast_precision_loss)]
            let seconds = incident.seconds.map(|s| s as f64);
            let _ = write!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                escape(short(&incident.deployment)),
                incident.cause.as_str(),
                incident.failed_at.format("%Y-%m-%d %H:%M"),
                escape(incident.restored_by.as_deref().map_or("–", short)),
                number(
                    &p(&format!("incidents.{i}.seconds")),
                    seconds,
                    &seconds.map_or_else(|| "not yet".to_owned(), format_seconds)
                )
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</figure></div></section>");
    out
}

fn trim(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").unwrap_or(&text).to_owned()
}

/// Renders the whole report as one self-contained HTML page.
pub fn render_html(report: &MetricsReport) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Delivery performance · DORA metrics</title><style>{STYLE}</style></head><body>
<header><h1>Delivery performance</h1><p class="sub">{} – {} · {} days · tiers per {} (Accelerate State of DevOps report {})</p></header><main>"#,
        report.window.start.format("%Y-%m-%d"),
        report.window.end.format("%Y-%m-%d %H:%M UTC"),
        number(
            "window.days",
            Some(report.window.days),
            &trim(report.window.days)
        ),
        escape(&report.bands.source),
        report.bands.year,
    );
    if report.environments.is_empty() {
        out.push_str(r#"<p class="empty">No deployments found in the ledger for this window.</p>"#);
    }
    for env in &report.environments {
        out.push_str(&environment_section(report, env));
    }
    let _ = writeln!(
        out,
        r#"</main><footer>Generated {} by <code>gitops metrics</code> from the deploy ledger. Deployment frequency counts successful deploys and hotfixes; a deployment fails when it is rolled back, followed by a hotfix, or does not succeed; it is restored by the next successful deployment. Lead time runs from the source commit to its first deployment.</footer></body></html>"#,
        report.generated_at.format("%Y-%m-%d %H:%M UTC")
    );
    out
}
