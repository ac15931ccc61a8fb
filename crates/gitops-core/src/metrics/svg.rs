//! Inline SVG charts for the HTML report: bar charts and the failure-and-recovery timeline.
//! Colours come from CSS classes, so the page's light and dark themes apply to the charts.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use super::html::escape;
use super::{DeployKind, EnvironmentMetrics, format_seconds};

/// One bar: a total with an optional highlighted part (failures), each tagged for tests.
pub(super) struct Bar {
    /// Label under the bar.
    pub label: String,
    /// Height of the bar.
    pub value: u64,
    /// Part of the bar drawn in the failure colour.
    pub highlight: u64,
    /// `data-metric` of the value label.
    pub metric: String,
}

/// Options of a bar chart.
pub(super) struct BarChart<'a> {
    /// Accessible name.
    pub title: &'a str,
    /// Axis caption under the labels.
    pub caption: &'a str,
}

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 44.0;

/// A rounded-up axis maximum: 1, 2, 5 x 10^k.
fn nice_max(value: u64) -> u64 {
    let value = value.max(1);
    let mut step = 1;
    loop {
        for factor in [1, 2, 5] {
            if step * factor >= value {
                return step * factor;
            }
        }
        match step.checked_mul(10) {
            Some(next) => step = next,
            None => return value,
        }
    }
}

#[allow(clippy::cast_precision_loss)]
fn f(value: u64) -> f64 {
    value as f64
}

/// Renders a vertical bar chart.
pub(super) fn bar_chart(bars: &[Bar], chart: &BarChart<'_>) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(chart.title)
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let max = nice_max(bars.iter().map(|b| b.value).max().unwrap_or(0));
    let baseline = TOP + plot_h;
    // Grid lines at quarters of the axis (only whole numbers).
    for k in 0..=4u64 {
        if !(max * k).is_multiple_of(4) {
            continue;
        }
        let v = max * k / 4;
        let y = baseline - plot_h * f(v) / f(max);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="axis-label" x="{}" y="{:.1}" text-anchor="end">{v}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let n = bars.len().max(1);
    let slot = plot_w / f(n as u64);
    let bar_w = (slot * 0.72).max(2.0);
    let every = n.div_ceil(8);
    for (i, bar) in bars.iter().enumerate() {
        let x = LEFT + slot * f(i as u64) + (slot - bar_w) / 2.0;
        let h = plot_h * f(bar.value) / f(max);
        let y = baseline - h;
        let _ = write!(
            out,
            r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{bar_w:.1}" height="{h:.1}" rx="2"><title>{}: {}</title></rect>"#,
            escape(&bar.label),
            bar.value
        );
        if bar.highlight > 0 {
            let hh = plot_h * f(bar.highlight.min(bar.value)) / f(max);
            let _ = write!(
                out,
                r#"<rect class="bar-fail" x="{x:.1}" y="{:.1}" width="{bar_w:.1}" height="{hh:.1}" rx="2"/>"#,
                baseline - hh
            );
        }
        if bar.value > 0 || n <= 12 {
            let _ = write!(
                out,
                r#"<text class="bar-value" x="{:.1}" y="{:.1}" text-anchor="middle" data-metric="{}" data-value="{}">{}</text>"#,
                x + bar_w / 2.0,
                y - 5.0,
                escape(&bar.metric),
                bar.value,
                bar.value
            );
        }
        if i % every == 0 {
            let _ = write!(
                out,
                r#"<text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + bar_w / 2.0,
                baseline + 16.0,
                escape(&bar.label)
            );
        }
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" x2="{}" y1="{baseline}" y2="{baseline}"/><text class="axis-caption" x="{}" y="{}" text-anchor="middle">{}</text></svg>"#,
        WIDTH - RIGHT,
        LEFT + plot_w / 2.0,
        HEIGHT - 6.0,
        escape(chart.caption)
    );
    out
}

/// Renders the failure-and-recovery timeline of one environment: deployments as ticks,
/// failures as red spans from the failed deployment to the one that restored service.
pub(super) fn timeline(
    env: &EnvironmentMetrics,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> String {
    const W: f64 = 1140.0;
    const H: f64 = 150.0;
    const L: f64 = 16.0;
    const R: f64 = 16.0;
    let span = (end - start).num_seconds().max(1);
    #[allow(clippy::cast_precision_loss)]
    let x_of = |t: DateTime<Utc>| {
        let offset = (t - start).num_seconds().clamp(0, span);
        L + (W - L - R) * offset as f64 / span as f64
    };
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart timeline" viewBox="0 0 {W} {H}" role="img" aria-label="Failure and recovery timeline of {}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(&env.environment)
    );
    let axis_y = 104.0;
    let _ = write!(
        out,
        r#"<line class="axis" x1="{L}" x2="{}" y1="{axis_y}" y2="{axis_y}"/>"#,
        W - R
    );
    // Month ticks (bounded by the window's months).
    let mut month = first_of_month(start.date_naive());
    let last = end.date_naive();
    while month <= last {
        if let Some(t) = month.and_hms_opt(0, 0, 0).map(|d| d.and_utc())
            && t >= start
        {
            let x = x_of(t);
            // Too close to an edge for its label: the start and end dates are written there.
            if !(L + 60.0..=W - R - 60.0).contains(&x) {
                month = next_month(month);
                continue;
            }
            let _ = write!(
                out,
                r#"<line class="grid" x1="{x:.1}" x2="{x:.1}" y1="14" y2="{axis_y}"/><text class="axis-label" x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
                axis_y + 18.0,
                month.format("%b %Y")
            );
        }
        month = next_month(month);
    }
    // Failure spans, open ones running to the end of the window.
    for (i, incident) in env.incidents.iter().enumerate() {
        let x1 = x_of(incident.failed_at);
        let x2 = x_of(incident.restored_at.unwrap_or(end)).max(x1 + 4.0);
        let lane = 24.0 + f((i % 3) as u64) * 22.0;
        let class = if incident.restored_at.is_some() {
            "span-fail"
        } else {
            "span-open"
        };
        let text = match incident.seconds {
            #[allow(clippy::cast_precision_loss)]
            Some(s) => format!("restored in {}", format_seconds(s as f64)),
            None => "not restored yet".to_owned(),
        };
        let _ = write!(
            out,
            r#"<rect class="{class}" x="{x1:.1}" y="{lane:.1}" width="{:.1}" height="14" rx="7"><title>{} failed ({}) {}: {}</title></rect>"#,
            x2 - x1,
            escape(short(&incident.deployment)),
            incident.cause.as_str(),
            incident.failed_at.format("%Y-%m-%d %H:%M UTC"),
            text
        );
        if incident.restored_at.is_some() {
            let _ = write!(
                out,
                r#"<circle class="dot-restore" cx="{x2:.1}" cy="{:.1}" r="5"/>"#,
                lane + 7.0
            );
        }
        let _ = write!(
            out,
            r#"<line class="link-fail" x1="{x1:.1}" x2="{x1:.1}" y1="{:.1}" y2="{axis_y}"/>"#,
            lane + 14.0
        );
    }
    // Thinner ticks when there are many, so a busy window stays readable.
    #[allow(clippy::cast_precision_loss)]
    let tick = ((W - L - R) / (env.timeline.len().max(1) as f64) * 0.6).clamp(1.0, 3.0);
    for event in &env.timeline {
        let x = x_of(event.time);
        let class = match (event.kind, event.success, event.failed) {
            (_, false, _) => "tick-error",
            (DeployKind::Rollback, _, _) => "tick-rollback",
            (DeployKind::Hotfix, _, _) => "tick-hotfix",
            (DeployKind::Deploy, _, true) => "tick-error",
            (DeployKind::Deploy, _, false) => "tick-deploy",
        };
        let _ = write!(
            out,
            r#"<line class="{class}" style="stroke-width:{tick:.1}" x1="{x:.1}" x2="{x:.1}" y1="{}" y2="{}"><title>{} {} {}</title></line>"#,
            axis_y - 22.0,
            axis_y + 6.0,
            event.kind.as_str(),
            escape(short(&event.id)),
            event.time.format("%Y-%m-%d %H:%M UTC")
        );
    }
    let _ = write!(
        out,
        r#"<text class="axis-label" x="{L}" y="{}" text-anchor="start">{}</text><text class="axis-label" x="{}" y="{}" text-anchor="end">{}</text></svg>"#,
        H - 6.0,
        start.format("%Y-%m-%d"),
        W - R,
        H - 6.0,
        end.format("%Y-%m-%d")
    );
    out
}

/// The first seven characters of a commit id.
pub(super) fn short(id: &str) -> &str {
    id.char_indices().nth(7).map_or(id, |(i, _)| &id[..i])
}

fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

fn next_month(date: NaiveDate) -> NaiveDate {
    let next = date + Duration::days(32);
    next.with_day(1).unwrap_or(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axis_maxima() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(3), 5);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(50), 50);
        assert_eq!(short("abcdef0123"), "abcdef0");
    }
}
