//! The calculators' `--svg` charts (CALCULATORS.md: `funnel`, `retention`, `rfm`): each is
//! drawn in both languages, rendered to pixels by a pure-Rust renderer (`resvg`), and must
//! not be blank; the answer on stdout is the same with or without the chart.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use resvg::tiny_skia::{Pixmap, Transform};

mod support;
use support::example;

/// Runs a calculator on `stdin`, returning its stdout.
fn run(name: &str, args: &[&str], stdin: &str) -> String {
    let out = Command::new(example(name))
        .args(args)
        .write_stdin(stdin)
        .output()
        .expect("the calculator runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Renders an SVG file; returns the pixels and how many are not the white background.
fn render(path: &Path) -> (Pixmap, usize) {
    let data = std::fs::read(path).expect("the chart was written");
    let tree = resvg::usvg::Tree::from_data(&data, &resvg::usvg::Options::default())
        .expect("the chart is valid SVG");
    let size = tree.size().to_int_size();
    let mut pixmap = Pixmap::new(size.width(), size.height()).expect("a non-empty chart");
    resvg::render(&tree, Transform::default(), &mut pixmap.as_mut());
    let inked = pixmap
        .pixels()
        .iter()
        .filter(|p| (p.red(), p.green(), p.blue(), p.alpha()) != (255, 255, 255, 255))
        .count();
    (pixmap, inked)
}

/// Draws the chart of `name` in both languages and checks it.
fn chart(name: &str, args: &[&str], stdin: &str, dir: &Path) -> Vec<String> {
    let plain = run(name, args, stdin);
    let mut svgs = Vec::new();
    for lang in ["zh", "en"] {
        let path = dir.join(format!("{name}-{lang}.svg"));
        let p = path.to_string_lossy().into_owned();
        let mut with = args.to_vec();
        with.extend(["--svg", &p, "--lang", lang]);
        assert_eq!(
            run(name, &with, stdin),
            plain,
            "{name}: the chart changed the answer"
        );
        let (pixmap, inked) = render(&path);
        let total = pixmap.pixels().len();
        // Bars and cells cover well over 1% of a drawn chart; a blank one covers nothing.
        assert!(
            inked * 100 > total,
            "{name} {lang}: {inked} of {total} pixels drawn"
        );
        if let Some(out) = std::env::var_os("CHART_PNG_DIR") {
            pixmap
                .save_png(Path::new(&out).join(format!("{name}-{lang}.png")))
                .expect("the PNG is written");
        }
        svgs.push(std::fs::read_to_string(&path).unwrap());
    }
    svgs
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clinic-ops-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn funnel_draws_bars_and_a_histogram_in_both_languages() {
    let dir = temp_dir("funnel-chart");
    let mut csv = String::from("patient_id,event,timestamp\n");
    // 40 leads; every second one converts, after i hours; every fourth books.
    for i in 0..40 {
        let t = 1_767_225_600 + i * 60;
        csv += &format!("P{i},lead,{t}\n");
        if i % 2 == 0 {
            csv += &format!("P{i},converted,{}\n", t + i * 3600);
        }
        if i % 4 == 0 {
            csv += &format!("P{i},booked,{}\n", t + i * 7200);
        }
    }
    let svgs = chart(
        "funnel",
        &["--steps", "lead,converted,booked", "--window", "30d"],
        &csv,
        &dir,
    );
    // Journey stages take their labels from the library.
    assert!(svgs[0].contains("引流") && svgs[0].contains("预约挂号"));
    assert!(svgs[1].contains("Lead") && svgs[1].contains("Booked"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn retention_draws_a_cohort_heatmap() {
    let dir = temp_dir("retention-chart");
    let mut csv = String::from("patient_id,timestamp\n");
    for i in 0..30i64 {
        for visit in 0..(i % 5) {
            csv += &format!(
                "P{i},{}\n",
                1_767_225_600 + (i % 3) * 86_400 + visit * 86_400
            );
        }
        csv += &format!("P{i},{}\n", 1_767_225_600 + (i % 3) * 86_400);
    }
    let svgs = chart(
        "retention",
        &["--period", "day", "--periods", "5"],
        &csv,
        &dir,
    );
    assert!(svgs[0].contains("100%") && svgs[0].contains("留存"));
    assert!(svgs[1].contains("Retention"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rfm_draws_the_eight_classes() {
    let dir = temp_dir("rfm-chart");
    let mut csv = String::from("patient_id,date,amount\n");
    for i in 0..40 {
        for d in 0..(i % 4 + 1) {
            csv += &format!(
                "P{i},2026-01-{:02},{}.00\n",
                1 + (i + d * 7) % 28,
                10 + i * 7
            );
        }
    }
    let svgs = chart("rfm", &["--as-of", "2026-02-01"], &csv, &dir);
    assert!(svgs[0].contains("重要价值客户"));
    assert!(svgs[1].contains("Champions"));
    std::fs::remove_dir_all(&dir).unwrap();
}
