//! Line coverage from lcov, Cobertura XML or a cargo-llvm-cov JSON summary (detected from the
//! content). The gate passes only when coverage is strictly greater than the threshold.

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::{Deserialize, Serialize};

use super::{GateError, GateKind, GateOutcome};
use crate::policy::CoverageGate;

/// The coverage report formats understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoverageFormat {
    /// lcov tracefile (`SF:`, `DA:`, `LF:`, `LH:`).
    Lcov,
    /// Cobertura XML (`<coverage line-rate=...>`).
    Cobertura,
    /// `cargo llvm-cov --json --summary-only`.
    LlvmCovJson,
}

/// Total line coverage of one report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CoverageSummary {
    /// Detected format.
    pub format: CoverageFormat,
    /// Line coverage in percent (0-100).
    pub percent: f64,
    /// Lines covered, when the report counts them.
    pub lines_covered: Option<u64>,
    /// Lines instrumented, when the report counts them.
    pub lines_valid: Option<u64>,
}

fn invalid(file: &str, format: &'static str, problem: impl Into<String>) -> GateError {
    GateError::Invalid {
        file: file.to_owned(),
        format,
        problem: problem.into(),
    }
}

/// Parses a coverage report, detecting its format from the content.
pub fn parse_coverage(text: &str, file: &str) -> Result<CoverageSummary, GateError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('<') {
        parse_cobertura(trimmed, file)
    } else if trimmed.starts_with('{') {
        parse_llvm_cov(trimmed, file)
    } else if trimmed
        .lines()
        .any(|l| l.starts_with("SF:") || l.starts_with("DA:") || l.starts_with("LF:"))
    {
        parse_lcov(trimmed, file)
    } else {
        Err(invalid(
            file,
            "coverage",
            "format not recognised: expected lcov (SF:/DA:/LF: lines), Cobertura XML (<coverage line-rate=...>) or `cargo llvm-cov --json --summary-only` output",
        ))
    }
}

fn parse_lcov(text: &str, file: &str) -> Result<CoverageSummary, GateError> {
    const FORMAT: &str = "lcov";
    let (mut found, mut hit) = (0u64, 0u64);
    // Per record: LF/LH when present, else counted from DA lines.
    let (mut rec_lf, mut rec_lh, mut rec_da, mut rec_da_hit) = (None, None, 0u64, 0u64);
    let mut flush = |lf: &mut Option<u64>, lh: &mut Option<u64>, da: &mut u64, dh: &mut u64| {
        found += lf.take().unwrap_or(*da);
        hit += lh.take().unwrap_or(*dh);
        *da = 0;
        *dh = 0;
    };
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        let number = |value: &str| -> Result<u64, GateError> {
            value.trim().parse::<u64>().map_err(|_| {
                invalid(
                    file,
                    FORMAT,
                    format!("line {}: '{line}' has no valid count", index + 1),
                )
            })
        };
        if let Some(value) = line.strip_prefix("LF:") {
            rec_lf = Some(number(value)?);
        } else if let Some(value) = line.strip_prefix("LH:") {
            rec_lh = Some(number(value)?);
        } else if let Some(value) = line.strip_prefix("DA:") {
            let mut parts = value.split(',');
            let (Some(_line_no), Some(hits)) = (parts.next(), parts.next()) else {
                return Err(invalid(
                    file,
                    FORMAT,
                    format!("line {}: '{line}' is not DA:<line>,<hits>", index + 1),
                ));
            };
            rec_da += 1;
            // Hit counts may be negative or huge in broken tracefiles; only "> 0" matters.
            if hits.trim().trim_start_matches('-').parse::<u128>().is_err() {
                return Err(invalid(
                    file,
                    FORMAT,
                    format!("line {}: '{line}' has no valid hit count", index + 1),
                ));
            }
            if !hits.trim().starts_with('-') && !hits.trim().trim_start_matches('0').is_empty() {
                rec_da_hit += 1;
            }
        } else if line == "end_of_record" {
            flush(&mut rec_lf, &mut rec_lh, &mut rec_da, &mut rec_da_hit);
        }
    }
    flush(&mut rec_lf, &mut rec_lh, &mut rec_da, &mut rec_da_hit);
    if hit > found {
        return Err(invalid(
            file,
            FORMAT,
            format!("more lines hit ({hit}) than found ({found})"),
        ));
    }
    summary(CoverageFormat::Lcov, file, FORMAT, hit, found)
}

fn summary(
    format: CoverageFormat,
    file: &str,
    name: &'static str,
    covered: u64,
    valid: u64,
) -> Result<CoverageSummary, GateError> {
    if valid == 0 {
        return Err(invalid(
            file,
            name,
            "no instrumented lines: the report is empty (did the tests run with coverage?)",
        ));
    }
    #[allow(clippy::cast_precision_loss)]
    let percent = covered as f64 * 100.0 / valid as f64;
    Ok(CoverageSummary {
        format,
        percent,
        lines_covered: Some(covered),
        lines_valid: Some(valid),
    })
}

fn parse_cobertura(text: &str, file: &str) -> Result<CoverageSummary, GateError> {
    const FORMAT: &str = "Cobertura XML";
    let mut reader = Reader::from_str(text);
    let mut root: Option<(Option<String>, Option<u64>, Option<u64>)> = None;
    // Read the whole document: a truncated or malformed file fails even when the root
    // element came through intact.
    loop {
        let event = reader.read_event().map_err(|source| GateError::Xml {
            file: file.to_owned(),
            format: FORMAT,
            position: reader.error_position(),
            source,
        })?;
        match event {
            Event::Start(e) | Event::Empty(e) if root.is_none() => {
                if e.name().as_ref() != b"coverage" {
                    return Err(invalid(file, FORMAT, "the root element is not <coverage>"));
                }
                let (mut rate, mut covered, mut valid) = (None, None, None);
                for attr in e.attributes() {
                    let attr = attr.map_err(|source| GateError::Xml {
                        file: file.to_owned(),
                        format: FORMAT,
                        position: reader.buffer_position(),
                        source: source.into(),
                    })?;
                    let value = String::from_utf8_lossy(&attr.value).into_owned();
                    match attr.key.as_ref() {
                        b"line-rate" => rate = Some(value),
                        b"lines-covered" => covered = value.trim().parse::<u64>().ok(),
                        b"lines-valid" => valid = value.trim().parse::<u64>().ok(),
                        _ => {}
                    }
                }
                root = Some((rate, covered, valid));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let Some((rate, covered, valid)) = root else {
        return Err(invalid(file, FORMAT, "no <coverage> element"));
    };
    // Counts are exact; line-rate is rounded by some writers.
    if let (Some(covered), Some(valid)) = (covered, valid)
        && valid > 0
        && covered <= valid
    {
        return summary(CoverageFormat::Cobertura, file, FORMAT, covered, valid);
    }
    let Some(rate) = rate else {
        return Err(invalid(
            file,
            FORMAT,
            "<coverage> has no line-rate attribute",
        ));
    };
    let rate: f64 = rate
        .trim()
        .parse()
        .map_err(|_| invalid(file, FORMAT, format!("line-rate '{rate}' is not a number")))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(invalid(
            file,
            FORMAT,
            format!("line-rate {rate} is outside 0..1"),
        ));
    }
    Ok(CoverageSummary {
        format: CoverageFormat::Cobertura,
        percent: rate * 100.0,
        lines_covered: None,
        lines_valid: None,
    })
}

#[derive(Deserialize)]
struct LlvmCov {
    data: Vec<LlvmCovData>,
}
#[derive(Deserialize)]
struct LlvmCovData {
    totals: LlvmCovTotals,
}
#[derive(Deserialize)]
struct LlvmCovTotals {
    lines: LlvmCovLines,
}
#[derive(Deserialize)]
struct LlvmCovLines {
    count: Option<u64>,
    covered: Option<u64>,
    percent: f64,
}

fn parse_llvm_cov(text: &str, file: &str) -> Result<CoverageSummary, GateError> {
    const FORMAT: &str = "cargo-llvm-cov JSON";
    let report: LlvmCov = serde_json::from_str(text).map_err(|source| GateError::Json {
        file: file.to_owned(),
        format: FORMAT,
        source,
    })?;
    let Some(first) = report.data.first() else {
        return Err(invalid(file, FORMAT, "`data` is empty"));
    };
    let lines = &first.totals.lines;
    if let (Some(count), Some(covered)) = (lines.count, lines.covered)
        && count > 0
        && covered <= count
    {
        return summary(CoverageFormat::LlvmCovJson, file, FORMAT, covered, count);
    }
    if lines.count == Some(0) {
        return summary(CoverageFormat::LlvmCovJson, file, FORMAT, 0, 0);
    }
    if !(0.0..=100.0).contains(&lines.percent) {
        return Err(invalid(
            file,
            FORMAT,
            format!("lines.percent {} is outside 0..100", lines.percent),
        ));
    }
    Ok(CoverageSummary {
        format: CoverageFormat::LlvmCovJson,
        percent: lines.percent,
        lines_covered: lines.covered,
        lines_valid: lines.count,
    })
}

/// Evaluates coverage: passes only when `percent > gate.min_percent` (exactly the threshold
/// fails).
pub fn evaluate_coverage(
    summary: &CoverageSummary,
    source: &str,
    gate: &CoverageGate,
) -> GateOutcome {
    let passed = summary.percent > gate.min_percent;
    let counts = match (summary.lines_covered, summary.lines_valid) {
        (Some(c), Some(v)) => format!(", {c}/{v} lines"),
        _ => String::new(),
    };
    let reasons = if passed {
        Vec::new()
    } else {
        vec![format!(
            "line coverage {} is not greater than {}%: add tests or lower gates.coverage.min_percent",
            format_percent(summary.percent),
            gate.min_percent
        )]
    };
    GateOutcome {
        gate: GateKind::Coverage,
        source: source.to_owned(),
        passed,
        summary: format!(
            "coverage {}{counts} (must be > {}%)",
            format_percent(summary.percent),
            gate.min_percent
        ),
        reasons,
        findings: Vec::new(),
    }
}

/// Two decimals, but never rounding a failing value up to look like the threshold's neighbour:
/// truncates toward zero (49.999 shows as 49.99%).
fn format_percent(percent: f64) -> String {
    let truncated = (percent * 100.0).floor() / 100.0;
    format!("{truncated:.2}%")
}
