//! The calculators' `--svg FILE` charts, drawn with the `svg` crate: funnel conversion bars
//! with drop-off and a time-to-convert histogram, a retention heatmap in PostHog's layout
//! (cohort, size, period 0 = 100%), and the RFM classes. Labels in Chinese or English
//! (`--lang zh|en`); code enums take their labels from `clinic_ops::label`.
//!
//! `#[path]`-included by each calculator, so each compiles the parts it uses.
#![allow(dead_code)]

use clinic_ops::label::{Label, Lang};
use clinic_ops::metrics::event::JourneyStage;
use svg::Document;
use svg::node::element::{Group, Line, Rectangle, Text};

const WIDTH: f64 = 860.0;
const ROW: f64 = 30.0;
const BLUE: &str = "#3b6fd8";
const DROP: &str = "#f4a58a";
const INK: &str = "#222222";
const GRID: &str = "#dddddd";
const FONT: &str = "Noto Sans CJK SC, PingFang SC, Microsoft YaHei, sans-serif";

/// The `--lang` flag's value.
pub(crate) fn parse_lang(v: &str) -> Result<Lang, String> {
    v.parse::<Lang>().map_err(|e| e.to_string())
}

/// Words the charts use, by language.
fn word(lang: Lang, key: &str) -> &'static str {
    let zh = matches!(lang, Lang::Zh);
    match key {
        "funnel" => {
            if zh {
                "转化漏斗"
            } else {
                "Conversion funnel"
            }
        }
        "histogram" => {
            if zh {
                "转化用时分布(至最后一步)"
            } else {
                "Time to convert (to the last step)"
            }
        }
        "patients" => {
            if zh {
                "患者数"
            } else {
                "patients"
            }
        }
        "dropped" => {
            if zh {
                "流失"
            } else {
                "dropped"
            }
        }
        "retention" => {
            if zh {
                "留存队列"
            } else {
                "Retention by cohort"
            }
        }
        "cohort" => {
            if zh {
                "队列"
            } else {
                "Cohort"
            }
        }
        "size" => {
            if zh {
                "人数"
            } else {
                "Size"
            }
        }
        "rfm" => {
            if zh {
                "RFM 客户分层"
            } else {
                "RFM classes"
            }
        }
        "none" => {
            if zh {
                "无人转化"
            } else {
                "nobody converted"
            }
        }
        _ => "",
    }
}

fn text(x: f64, y: f64, size: f64, content: impl Into<String>) -> Text {
    Text::new(content.into())
        .set("x", x)
        .set("y", y)
        .set("font-size", size)
        .set("font-family", FONT)
        .set("fill", INK)
}

fn rect(x: f64, y: f64, w: f64, h: f64, fill: &str) -> Rectangle {
    Rectangle::new()
        .set("x", x)
        .set("y", y)
        .set("width", w.max(0.0))
        .set("height", h.max(0.0))
        .set("fill", fill)
}

fn document(height: f64) -> Document {
    Document::new()
        .set("viewBox", (0, 0, WIDTH, height))
        .set("width", WIDTH)
        .set("height", height)
        .add(rect(0.0, 0.0, WIDTH, height, "#ffffff"))
}

/// A step's label: a journey stage's own label when the step is a stage code, else the
/// name as given.
pub(crate) fn step_label(name: &str, lang: Lang) -> String {
    JourneyStage::ALL
        .iter()
        .find(|s| s.code() == name)
        .map_or_else(|| name.to_owned(), |s| s.label(lang).to_owned())
}

/// A duration in seconds the way people read it: `45s`, `12m`, `3.5h`, `2.0d`.
fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.0}s")
    } else if seconds < 3600.0 {
        format!("{:.0}m", seconds / 60.0)
    } else if seconds < 86_400.0 {
        format!("{:.1}h", seconds / 3600.0)
    } else {
        format!("{:.1}d", seconds / 86_400.0)
    }
}

/// One funnel step for the chart.
pub(crate) struct FunnelBar {
    pub(crate) label: String,
    pub(crate) patients: u64,
    pub(crate) from_first: f64,
    pub(crate) from_previous: f64,
}

/// Conversion bars (each step's share of the first, with the drop-off from the step before
/// shaded) above a histogram of the time to convert to the last step.
pub(crate) fn funnel(lang: Lang, steps: &[FunnelBar], histogram: &[(u64, u64, u64)]) -> Document {
    let label_w = 170.0;
    let bar_w = WIDTH - label_w - 190.0;
    let top = 50.0;
    let bars_h = ROW * steps.len() as f64;
    let hist_top = top + bars_h + 60.0;
    let hist_h = 180.0;
    let mut doc =
        document(hist_top + hist_h + 60.0).add(text(20.0, 30.0, 18.0, word(lang, "funnel")));
    let first = steps.first().map_or(0, |s| s.patients).max(1) as f64;
    let mut previous = first;
    for (i, s) in steps.iter().enumerate() {
        let y = top + ROW * i as f64;
        let w = bar_w * s.patients as f64 / first;
        let prev_w = bar_w * previous / first;
        let dropped = (previous - s.patients as f64).max(0.0);
        let mut g = Group::new()
            .add(text(20.0, y + 19.0, 13.0, s.label.clone()))
            .add(rect(label_w + w, y + 4.0, prev_w - w, ROW - 8.0, DROP))
            .add(rect(label_w, y + 4.0, w, ROW - 8.0, BLUE));
        let note = if i == 0 {
            format!("{} {}", s.patients, word(lang, "patients"))
        } else {
            format!(
                "{} ({:.1}%, {} {:.0})",
                s.patients,
                s.from_first * 100.0,
                word(lang, "dropped"),
                dropped
            )
        };
        g = g.add(text(label_w + bar_w + 10.0, y + 19.0, 12.0, note));
        doc = doc.add(g);
        previous = s.patients as f64;
    }
    doc = doc.add(text(20.0, hist_top - 15.0, 15.0, word(lang, "histogram")));
    let axis = Line::new()
        .set("x1", 40.0)
        .set("y1", hist_top + hist_h)
        .set("x2", WIDTH - 20.0)
        .set("y2", hist_top + hist_h)
        .set("stroke", GRID);
    doc = doc.add(axis);
    let most = histogram.iter().map(|b| b.2).max().unwrap_or(0);
    if histogram.is_empty() || most == 0 {
        return doc.add(text(
            50.0,
            hist_top + hist_h / 2.0,
            13.0,
            word(lang, "none"),
        ));
    }
    let bin_w = (WIDTH - 60.0) / histogram.len() as f64;
    // Label about ten bins, so the axis stays readable with 60.
    let every = histogram.len().div_ceil(10).max(1);
    for (i, &(from, _to, n)) in histogram.iter().enumerate() {
        let h = hist_h * n as f64 / most as f64;
        let x = 40.0 + bin_w * i as f64;
        doc = doc.add(rect(x + 1.0, hist_top + hist_h - h, bin_w - 2.0, h, BLUE));
        if i % every == 0 {
            doc = doc.add(text(
                x,
                hist_top + hist_h + 16.0,
                10.0,
                duration(from as f64),
            ));
        }
    }
    doc.add(text(
        WIDTH - 120.0,
        hist_top + hist_h + 36.0,
        11.0,
        format!("{} {}", most, word(lang, "patients")),
    ))
}

/// One retention cohort for the heatmap.
pub(crate) struct CohortRow {
    pub(crate) start: String,
    pub(crate) size: u64,
    pub(crate) retained: Vec<u64>,
}

/// PostHog's retention table: a row per cohort with its start and size, then the share
/// retained in each period (period 0 = 100%), shaded by that share.
pub(crate) fn retention(lang: Lang, period: &str, cohorts: &[CohortRow]) -> Document {
    let periods = cohorts.iter().map(|c| c.retained.len()).max().unwrap_or(0);
    let (start_w, size_w) = (110.0, 70.0);
    let cell = ((WIDTH - 40.0 - start_w - size_w) / periods.max(1) as f64).min(70.0);
    let top = 70.0;
    let mut doc = document(top + ROW * cohorts.len().max(1) as f64 + 30.0)
        .add(text(20.0, 30.0, 18.0, word(lang, "retention")))
        .add(text(20.0, top - 10.0, 12.0, word(lang, "cohort")))
        .add(text(20.0 + start_w, top - 10.0, 12.0, word(lang, "size")));
    for k in 0..periods {
        let x = 20.0 + start_w + size_w + cell * k as f64;
        doc = doc.add(text(x + 4.0, top - 10.0, 11.0, format!("{period} {k}")));
    }
    for (r, c) in cohorts.iter().enumerate() {
        let y = top + ROW * r as f64;
        doc = doc
            .add(text(20.0, y + 19.0, 12.0, c.start.clone()))
            .add(text(20.0 + start_w, y + 19.0, 12.0, c.size.to_string()));
        for (k, &n) in c.retained.iter().enumerate() {
            let share = if c.size == 0 {
                0.0
            } else {
                n as f64 / c.size as f64
            };
            // White to blue with the share; text turns white on dark cells.
            let mix = |full: u8| (255.0 - (255.0 - f64::from(full)) * share).round() as u8;
            let fill = format!("rgb({},{},{})", mix(0x3b), mix(0x6f), mix(0xd8));
            let x = 20.0 + start_w + size_w + cell * k as f64;
            doc = doc.add(rect(x, y + 2.0, cell - 2.0, ROW - 4.0, &fill)).add(
                text(x + 6.0, y + 19.0, 11.0, format!("{:.0}%", share * 100.0))
                    .set("fill", if share > 0.5 { "#ffffff" } else { INK }),
            );
        }
    }
    doc
}

/// The RFM classes as bars: how many patients are in each, labelled in `lang`.
pub(crate) fn rfm(lang: Lang, classes: &[(clinic_ops::segment::RfmClass, u64)]) -> Document {
    let label_w = 200.0;
    let bar_w = WIDTH - label_w - 160.0;
    let top = 50.0;
    let total: u64 = classes.iter().map(|c| c.1).sum();
    let most = classes.iter().map(|c| c.1).max().unwrap_or(0).max(1) as f64;
    let mut doc = document(top + ROW * classes.len() as f64 + 20.0).add(text(
        20.0,
        30.0,
        18.0,
        word(lang, "rfm"),
    ));
    for (i, (class, n)) in classes.iter().enumerate() {
        let y = top + ROW * i as f64;
        let share = if total == 0 {
            0.0
        } else {
            *n as f64 / total as f64 * 100.0
        };
        doc = doc
            .add(text(20.0, y + 19.0, 13.0, class.label(lang)))
            .add(rect(
                label_w,
                y + 4.0,
                bar_w * *n as f64 / most,
                ROW - 8.0,
                BLUE,
            ))
            .add(text(
                label_w + bar_w + 10.0,
                y + 19.0,
                12.0,
                format!("{n} ({share:.1}%)"),
            ));
    }
    doc
}

/// Writes a chart to `path`.
pub(crate) fn save(path: &str, doc: &Document) -> Result<(), String> {
    svg::save(path, doc).map_err(|e| format!("{path}: cannot write the chart: {e}"))
}
