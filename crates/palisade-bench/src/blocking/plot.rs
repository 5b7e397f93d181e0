//! The PNG: one panel per phase, median time against N, one curve per method, log scale on both
//! axes (N spans four to six decades, and the linear rules' times grow by a factor of tens while
//! the others stay flat).
//!
//! Text is drawn with a font file read at run time (DejaVu Sans, Debian's `fonts-dejavu-core`),
//! so the benchmark needs neither fontconfig nor freetype; `PALISADE_BENCH_FONT` names another.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::client::PHASES;
use super::methods::Method;
use super::report::median_us;
use super::Results;

const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const FAMILY: &str = "sans-serif";

/// Where N = 0 is drawn on the log axis (and labelled "0"): a decade left of the smallest
/// other N, so the curves start at the no-rules point.
fn zero_x(r: &Results) -> f64 {
    let smallest = r.plan.ns.iter().copied().filter(|&n| n > 0).min();
    smallest.map_or(1.0, |n| n as f64 / 10.0)
}

fn color(m: Method) -> RGBColor {
    match m {
        Method::None => RGBColor(0, 0, 0),
        Method::IptablesNft => RGBColor(214, 39, 40),
        Method::IptablesLegacy => RGBColor(255, 127, 14),
        Method::Ipset => RGBColor(31, 119, 180),
        Method::Palisade => RGBColor(44, 160, 44),
    }
}

/// Register the font once; plotters keeps a `'static` reference to its bytes.
fn load_font() -> Result<(), String> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let path = std::env::var("PALISADE_BENCH_FONT").unwrap_or_else(|_| DEFAULT_FONT.into());
            let bytes = std::fs::read(&path).map_err(|e| {
                format!("font {path}: {e} (install fonts-dejavu-core, or set PALISADE_BENCH_FONT)")
            })?;
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
                .map_err(|_| format!("{path} is not a font plotters can read"))
        })
        .clone()
}

/// `1k`, `50k`, `1M`: short labels for the N axis.
fn n_label(n: f64, zero: f64) -> String {
    if n <= zero * 1.01 {
        return "0".into();
    }
    match n {
        n if n >= 1e6 => format!("{}M", n / 1e6),
        n if n >= 1e3 => format!("{}k", n / 1e3),
        n => format!("{n}"),
    }
}

/// Draw the panels into `path`.
pub fn draw(r: &Results, path: &Path) -> Result<(), String> {
    load_font()?;
    let err = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    let root = BitMapBackend::new(path, (1600, 1200)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let title = format!(
        "HTTP response time against blocked addresses (median of {} requests; {} KiB file; fresh TCP connection each)",
        r.plan.requests,
        super::lab::FILE_SIZE / 1024
    );
    let body = root.titled(&title, (FAMILY, 26)).map_err(|e| err(&e))?;
    let zero = zero_x(r);
    let max_n = r.plan.ns.iter().copied().max().unwrap_or(1).max(1) as f64;
    let x_of = |n: usize| if n == 0 { zero } else { n as f64 };

    for (phase, area) in body.split_evenly((2, 2)).iter().enumerate() {
        let series: Vec<(Method, Vec<(f64, f64)>)> = Method::ALL
            .iter()
            .map(|&m| {
                let pts = r
                    .points
                    .iter()
                    .filter(|p| p.method == m && !p.samples.is_empty())
                    .map(|p| (x_of(p.n), median_us(&p.samples, phase)))
                    .collect();
                (m, pts)
            })
            .filter(|(_, pts): &(Method, Vec<(f64, f64)>)| !pts.is_empty())
            .collect();
        let ys = series.iter().flat_map(|(_, p)| p.iter().map(|&(_, y)| y));
        let (lo, hi) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
        let (lo, hi) = if lo <= hi {
            (lo / 1.3, hi * 1.3)
        } else {
            (1.0, 10.0)
        };

        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{}: median µs from the start of the request", PHASES[phase]),
                (FAMILY, 22),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d((zero / 1.5..max_n * 1.5).log_scale(), (lo..hi).log_scale())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("blocked addresses N (log scale)")
            .y_desc("µs (log scale)")
            .x_label_formatter(&|x| n_label(*x, zero))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style((FAMILY, 16))
            .axis_desc_style((FAMILY, 17))
            .draw()
            .map_err(|e| err(&e))?;
        for (m, pts) in series {
            let c = color(m);
            chart
                .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(m.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FAMILY, 16))
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full run's shape, made up: linear methods growing with N, the others flat.
    fn synthetic() -> Results {
        use super::super::{Plan, Point};
        use crate::blocking::client::Sample;
        use std::time::Duration;
        let plan = Plan::new(false);
        let mut points = Vec::new();
        for &n in &plan.ns {
            for m in Method::ALL.into_iter().filter(|&m| plan.covers(m, n)) {
                let extra = if m.linear() { n as f64 * 0.05 } else { 2.0 };
                let us = |base: f64| Duration::from_secs_f64((base + extra) * 1e-6);
                let s = Sample {
                    connect: us(35.0),
                    send: us(45.0),
                    first_byte: us(95.0),
                    complete: us(100.0),
                };
                points.push(Point {
                    method: m,
                    n,
                    load_ms: 1.0,
                    samples: vec![s; 3],
                });
            }
        }
        Results {
            plan,
            points,
            wrk: Vec::new(),
            steps: Vec::new(),
            wrk_waited_s: 0.0,
            failures: Vec::new(),
            loadavg: ("0".into(), "0".into()),
        }
    }

    #[test]
    fn draws_a_png() {
        let path = std::env::temp_dir().join(format!("blocking-plot-{}.png", std::process::id()));
        draw(&synthetic(), &path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG file");
        assert!(
            bytes.len() > 20_000,
            "with something drawn: {} bytes",
            bytes.len()
        );
    }

    #[test]
    fn n_axis_labels() {
        assert_eq!(n_label(10.0, 10.0), "0");
        assert_eq!(n_label(100.0, 10.0), "100");
        assert_eq!(n_label(50_000.0, 10.0), "50k");
        assert_eq!(n_label(1_000_000.0, 10.0), "1M");
    }
}
