//! The charts of the HTML report as inline SVG, drawn by hand: horizontal bars, a line over
//! periods, grouped bars. Pure string building; every text goes through [`escape`].
//!
//! Accessibility: every chart is an `<svg role="img">` labelled by its own `<title>` and
//! `<desc>` (`aria-labelledby`); the report puts a data table beside it. A value that is not
//! published is never drawn: its place stays empty and carries the reason as text, so a hidden
//! cell can never be read as zero. No `style` attributes (a strict CSP forbids them): the
//! look comes from classes and the report's one `<style>` block.

use std::fmt::Write;

/// Text for HTML and SVG, text nodes and quoted attribute values alike: `&`, `<`, `>`, `"`
/// and `'` become character references.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One value of a chart.
#[derive(Debug, Clone, PartialEq)]
pub enum Point {
    /// Published: the number to draw and its text.
    Shown(f64, String),
    /// Not published; the text says why (`hidden (fewer than 3)`). Drawn as a gap.
    Hidden(String),
    /// No figure at all (no row, or no actual yet).
    Missing(String),
}

impl Point {
    fn number(&self) -> Option<f64> {
        match self {
            Point::Shown(x, _) => Some(*x),
            _ => None,
        }
    }

    /// The CSS class of a point drawn as text alone: `gap` (hidden) or `missing`.
    fn gap_class(&self) -> &'static str {
        if matches!(self, Point::Hidden(_)) {
            "gap"
        } else {
            "missing"
        }
    }

    /// The text shown for it: the value, or why there is none.
    pub fn text(&self) -> &str {
        match self {
            Point::Shown(_, t) | Point::Hidden(t) | Point::Missing(t) => t,
        }
    }
}

/// The title, description and id of a chart.
#[derive(Debug, Clone)]
pub struct Caption<'a> {
    /// Unique within the page; prefixes the ids of `<title>` and `<desc>`.
    pub id: &'a str,
    /// Short name (the `<title>`).
    pub title: &'a str,
    /// What it shows, in a sentence or two (the `<desc>`).
    pub desc: &'a str,
}

/// `[lo, hi]` holding zero and every number, so that bars start at zero.
fn domain(numbers: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = numbers
        .filter(|x| x.is_finite())
        .fold((0.0f64, 0.0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    if hi - lo > 0.0 { (lo, hi) } else { (0.0, 1.0) }
}

fn open(out: &mut String, caption: &Caption, width: u32, height: u32) {
    let id = escape(caption.id);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        escape(caption.title),
        escape(caption.desc)
    );
}

const ROW: u32 = 24;
const LABEL: f64 = 200.0;
const PLOT: f64 = 360.0;
const TEXT_ROOM: f64 = 170.0;

/// A horizontal bar chart, one row per `(key, label, point)`: a `<rect class="bar">` with
/// `data-key` for a published value, text alone for a hidden or missing one.
pub fn bars(caption: &Caption, rows: &[(String, String, Point)]) -> String {
    let (lo, hi) = domain(rows.iter().filter_map(|(_, _, p)| p.number()));
    let x = |v: f64| LABEL + (v - lo) / (hi - lo) * PLOT;
    let width = (LABEL + PLOT + TEXT_ROOM) as u32;
    let rows_len = u32::try_from(rows.len()).unwrap_or(u32::MAX);
    let height = ROW.saturating_mul(rows_len).saturating_add(2 * ROW);
    let mut out = String::new();
    open(&mut out, caption, width, height);
    for (i, (key, label, point)) in rows.iter().enumerate() {
        let top = ROW as f64 * (i as f64 + 0.5);
        let middle = top + ROW as f64 / 2.0 + 4.0;
        let _ = write!(
            out,
            "<text class=\"label\" x=\"{:.1}\" y=\"{middle:.1}\" text-anchor=\"end\">{}</text>",
            LABEL - 6.0,
            escape(label)
        );
        let key = escape(key);
        match point {
            Point::Shown(v, text) => {
                let (a, b) = (x(v.min(0.0)), x(v.max(0.0)));
                let _ = write!(
                    out,
                    "<rect class=\"bar\" data-key=\"{key}\" x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\">\
                     <title>{}: {}</title></rect>\
                     <text class=\"value\" x=\"{:.1}\" y=\"{middle:.1}\">{}</text>",
                    top + 3.0,
                    b - a,
                    ROW as f64 - 6.0,
                    escape(label),
                    escape(text),
                    b + 4.0,
                    escape(text)
                );
            }
            Point::Hidden(text) | Point::Missing(text) => {
                let class = point.gap_class();
                let _ = write!(
                    out,
                    "<text class=\"{class}\" data-key=\"{key}\" x=\"{:.1}\" y=\"{middle:.1}\">{}</text>",
                    x(0.0) + 4.0,
                    escape(text)
                );
            }
        }
    }
    axis(
        &mut out,
        x(0.0),
        ROW as f64 * 0.5,
        ROW as f64 * (rows.len() as f64 + 0.5),
    );
    out.push_str("</svg>");
    out
}

fn axis(out: &mut String, x: f64, y1: f64, y2: f64) {
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{x:.1}\" y1=\"{y1:.1}\" x2=\"{x:.1}\" y2=\"{y2:.1}\"/>"
    );
}

/// A line over periods, one `(period, point)` each in order: the line is broken at every
/// hidden or missing point (a `<polyline class="line">` per run of published points, a
/// `<circle class="point">` per published point) and the gap is labelled.
pub fn line(caption: &Caption, points: &[(String, Point)]) -> String {
    const LEFT: f64 = 60.0;
    const TOP: f64 = 20.0;
    const PLOT_H: f64 = 200.0;
    const STEP: f64 = 90.0;
    let (lo, hi) = domain(points.iter().filter_map(|(_, p)| p.number()));
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * PLOT_H;
    let x = |i: usize| LEFT + STEP * (i as f64 + 0.5);
    let width = (LEFT + STEP * points.len().max(1) as f64 + 20.0) as u32;
    let height = (TOP + PLOT_H + 60.0) as u32;
    let mut out = String::new();
    open(&mut out, caption, width, height);
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT:.1}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\"/>\
         <text class=\"tick\" x=\"{2:.1}\" y=\"{0:.1}\" text-anchor=\"end\">{3}</text>\
         <text class=\"tick\" x=\"{2:.1}\" y=\"{4:.1}\" text-anchor=\"end\">{5}</text>",
        y(lo.max(0.0).min(hi)),
        width as f64 - 10.0,
        LEFT - 6.0,
        escape(&tick(lo.max(0.0).min(hi))),
        y(hi) + 4.0,
        escape(&tick(hi)),
    );
    let mut run: Vec<(f64, f64)> = Vec::new();
    let flush = |out: &mut String, run: &mut Vec<(f64, f64)>| {
        if run.len() > 1 {
            out.push_str("<polyline class=\"line\" points=\"");
            let coords: Vec<String> = run.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            out.push_str(&coords.join(" "));
            out.push_str("\"/>");
        }
        run.clear();
    };
    for (i, (period, point)) in points.iter().enumerate() {
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x(i),
            TOP + PLOT_H + 20.0,
            escape(period)
        );
        match point {
            Point::Shown(v, _) => run.push((x(i), y(*v))),
            Point::Hidden(text) | Point::Missing(text) => {
                flush(&mut out, &mut run);
                let class = point.gap_class();
                let _ = write!(
                    out,
                    "<text class=\"{class}\" data-key=\"{}\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                    escape(period),
                    x(i),
                    TOP + PLOT_H + 38.0,
                    escape(text)
                );
            }
        }
    }
    flush(&mut out, &mut run);
    for (i, (period, point)) in points.iter().enumerate() {
        if let Point::Shown(v, text) = point {
            let _ = write!(
                out,
                "<circle class=\"point\" data-key=\"{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\"><title>{}: {}</title></circle>",
                escape(period),
                x(i),
                y(*v),
                escape(period),
                escape(text)
            );
        }
    }
    out.push_str("</svg>");
    out
}

fn tick(v: f64) -> String {
    let text = format!("{v:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Grouped bars: per `(key, label, target, actual)` a target bar (`class="bar target"`) and an
/// actual bar (`class="bar actual"`), or the actual's reason as text when there is none.
pub fn paired_bars(
    caption: &Caption,
    names: (&str, &str),
    rows: &[(String, String, Point, Point)],
) -> String {
    let numbers = rows
        .iter()
        .flat_map(|(_, _, t, a)| [t.number(), a.number()])
        .flatten();
    let (lo, hi) = domain(numbers);
    let x = |v: f64| LABEL + (v - lo) / (hi - lo) * PLOT;
    let group = 2.0 * ROW as f64 + 8.0;
    let width = (LABEL + PLOT + TEXT_ROOM) as u32;
    let height = (group * (rows.len() as f64 + 1.0) + ROW as f64) as u32;
    let mut out = String::new();
    open(&mut out, caption, width, height);
    let _ = write!(
        out,
        "<rect class=\"legend target\" x=\"{LABEL:.1}\" y=\"4\" width=\"12\" height=\"12\"/>\
         <text class=\"label\" x=\"{:.1}\" y=\"14\">{}</text>\
         <rect class=\"legend actual\" x=\"{:.1}\" y=\"4\" width=\"12\" height=\"12\"/>\
         <text class=\"label\" x=\"{:.1}\" y=\"14\">{}</text>",
        LABEL + 16.0,
        escape(names.0),
        LABEL + 140.0,
        LABEL + 156.0,
        escape(names.1),
    );
    for (i, (key, label, target, actual)) in rows.iter().enumerate() {
        let top = ROW as f64 + group * i as f64;
        let _ = write!(
            out,
            "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LABEL - 6.0,
            top + ROW as f64 + 4.0,
            escape(label)
        );
        for (j, (point, class, name)) in [(target, "target", names.0), (actual, "actual", names.1)]
            .into_iter()
            .enumerate()
        {
            let row_top = top + ROW as f64 * j as f64;
            let middle = row_top + ROW as f64 / 2.0 + 4.0;
            match point {
                Point::Shown(v, text) => {
                    let (a, b) = (x(v.min(0.0)), x(v.max(0.0)));
                    let _ = write!(
                        out,
                        "<rect class=\"bar {class}\" data-key=\"{}\" x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\">\
                         <title>{}, {}: {}</title></rect>\
                         <text class=\"value\" x=\"{:.1}\" y=\"{middle:.1}\">{}</text>",
                        escape(key),
                        row_top + 2.0,
                        b - a,
                        ROW as f64 - 4.0,
                        escape(label),
                        escape(name),
                        escape(text),
                        b + 4.0,
                        escape(text)
                    );
                }
                Point::Hidden(text) | Point::Missing(text) => {
                    let gap = point.gap_class();
                    let _ = write!(
                        out,
                        "<text class=\"{gap} {class}\" data-key=\"{}\" x=\"{:.1}\" y=\"{middle:.1}\">{}</text>",
                        escape(key),
                        x(0.0) + 4.0,
                        escape(text)
                    );
                }
            }
        }
    }
    axis(&mut out, x(0.0), ROW as f64, height as f64 - ROW as f64);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caption() -> Caption<'static> {
        Caption {
            id: "c",
            title: "Children <screened>",
            desc: "A \"test\" chart",
        }
    }

    fn shown(v: f64) -> Point {
        Point::Shown(v, format!("{v}"))
    }

    #[test]
    fn escape_replaces_every_markup_character() {
        assert_eq!(
            escape("<script>alert('x & y')</script> \"q\""),
            "&lt;script&gt;alert(&#39;x &amp; y&#39;)&lt;/script&gt; &quot;q&quot;"
        );
        assert_eq!(escape("Rēzekne — ok"), "Rēzekne — ok");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn bars_draw_one_rect_per_published_value_and_none_for_a_hidden_one() {
        let rows = vec![
            ("0001000".to_string(), "A".to_string(), shown(10.0)),
            (
                "0002000".to_string(),
                "B".to_string(),
                Point::Hidden("hidden (fewer than 3)".into()),
            ),
            ("0003000".to_string(), "C".to_string(), shown(0.0)),
            (
                "0004000".to_string(),
                "D".to_string(),
                Point::Missing("no data".into()),
            ),
        ];
        let svg = bars(&caption(), &rows);
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2);
        assert_eq!(
            svg.matches("<rect class=\"bar\" data-key=\"0001000\"")
                .count(),
            1
        );
        assert_eq!(
            svg.matches("<rect class=\"bar\" data-key=\"0003000\"")
                .count(),
            1
        );
        assert!(!svg.contains("<rect class=\"bar\" data-key=\"0002000\""));
        assert!(svg.contains("<text class=\"gap\" data-key=\"0002000\""));
        assert!(svg.contains(">hidden (fewer than 3)</text>"));
        assert!(svg.contains("<text class=\"missing\" data-key=\"0004000\""));
        assert!(svg.contains("<title id=\"c-title\">Children &lt;screened&gt;</title>"));
        assert!(svg.contains("<desc id=\"c-desc\">A &quot;test&quot; chart</desc>"));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\""));
        // The longest bar spans the plot; zero has no width.
        assert!(svg.contains("width=\"360.0\""));
        assert!(svg.contains("data-key=\"0003000\" x=\"200.0\" y=\"63.0\" width=\"0.0\""));
    }

    #[test]
    fn negative_values_extend_left_of_the_zero_axis() {
        let rows = vec![
            ("a".to_string(), "a".to_string(), shown(-1.0)),
            ("b".to_string(), "b".to_string(), shown(3.0)),
        ];
        let svg = bars(&caption(), &rows);
        // Domain [-1, 3] over 360 px: zero at 200 + 90 = 290.
        assert!(svg.contains("data-key=\"a\" x=\"200.0\" y=\"15.0\" width=\"90.0\""));
        assert!(svg.contains("data-key=\"b\" x=\"290.0\" y=\"39.0\" width=\"270.0\""));
        assert!(svg.contains("<line class=\"axis\" x1=\"290.0\""));
    }

    #[test]
    fn the_line_breaks_at_a_hidden_period() {
        let points = vec![
            ("2026-Q1".to_string(), shown(5.0)),
            ("2026-Q2".to_string(), shown(7.0)),
            (
                "2026-Q3".to_string(),
                Point::Hidden("hidden (fewer than 3)".into()),
            ),
            ("2026-Q4".to_string(), shown(9.0)),
        ];
        let svg = line(&caption(), &points);
        // Q1–Q2 is one run; Q4 stands alone (a point, no line through the gap).
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle class=\"point\"").count(), 3);
        assert!(!svg.contains("<circle class=\"point\" data-key=\"2026-Q3\""));
        assert!(svg.contains("<text class=\"gap\" data-key=\"2026-Q3\""));
        let polyline = svg
            .split("<polyline class=\"line\" points=\"")
            .nth(1)
            .expect("a polyline");
        let coords = polyline.split('"').next().expect("points");
        assert_eq!(coords.split(' ').count(), 2);
    }

    #[test]
    fn paired_bars_leave_an_unknown_actual_undrawn() {
        let rows = vec![
            (
                "p0".to_string(),
                "<b>Vaccines</b>".to_string(),
                shown(100.0),
                shown(80.0),
            ),
            (
                "p1".to_string(),
                "Hearing".to_string(),
                shown(50.0),
                Point::Missing("no data".into()),
            ),
        ];
        let svg = paired_bars(&caption(), ("Annual target", "Actual"), &rows);
        assert_eq!(svg.matches("<rect class=\"bar target\"").count(), 2);
        assert_eq!(svg.matches("<rect class=\"bar actual\"").count(), 1);
        assert!(svg.contains("<text class=\"missing actual\" data-key=\"p1\""));
        assert!(svg.contains("&lt;b&gt;Vaccines&lt;/b&gt;"));
        assert!(!svg.contains("<b>"));
    }
}
