//! Charts as SVG markup, rendered on the server from exact figures: a bar
//! chart (a count per day) and a step chart (a total at the end of each
//! day). Pure: figures in, markup out.
//!
//! The markup carries no `style` attribute or element (the CSP allows
//! styles from `app.css` only): shapes are styled by class (`.chart .bar`,
//! `.chart .line`, ...) and presentation attributes. The `<svg>` is
//! `role="img"` with a `<title>` and a `<desc>` (the range and the extremes
//! in words), and points at the table of every figure that the page shows
//! beside it (`aria-details`). Every piece of text is escaped here, so the
//! page may include [`Chart::svg`] unescaped. Figures stay exact integers;
//! only pixel coordinates are `f64`.

use chrono::NaiveDate;
use std::fmt::Write;

/// The drawing's coordinate system (the SVG scales to its box's width).
const WIDTH: f64 = 420.0;
const HEIGHT: f64 = 190.0;
const LEFT: f64 = 8.0;
const RIGHT: f64 = WIDTH - 8.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = HEIGHT - 26.0;

/// How the figures are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One bar per day (counts).
    Bars,
    /// A step line across each day at its figure, with the area under it.
    Steps,
}

/// One row of a chart's table.
pub struct ChartRow {
    /// `2024-03-01`.
    pub date: String,
    /// The figure as the page shows it.
    pub value: String,
}

/// A chart ready for a page: the markup and the table of its figures.
pub struct Chart {
    /// The prefix of its element ids (`{id}-title`, `{id}-desc`, `{id}-table`).
    pub id: String,
    pub title: String,
    /// The summary in words (also the SVG's `<desc>`).
    pub summary: String,
    /// The heading of the table's figure column.
    pub value_heading: String,
    /// The `<svg>` element: built from numbers and escaped text only.
    pub svg: String,
    pub rows: Vec<ChartRow>,
}

/// Escapes text for SVG (XML) content and attribute values.
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

/// `1 Mar`, for the axis.
fn short_date(day: NaiveDate) -> String {
    day.format("%-d %b").to_string()
}

/// Builds a chart. `id` is a fixed identifier chosen by the page (letters,
/// digits and dashes); `title` and `value_heading` are text (escaped
/// here); `format` renders a figure (a count, money, a quantity).
pub fn chart(
    kind: Kind,
    id: &str,
    title: &str,
    value_heading: &str,
    points: &[(NaiveDate, i128)],
    format: impl Fn(i128) -> String,
) -> Chart {
    debug_assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let summary = summarise(title, points, &format);
    let svg = draw(kind, id, title, &summary, points, &format);
    Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        summary,
        value_heading: value_heading.to_owned(),
        svg,
        rows: points
            .iter()
            .map(|(day, v)| ChartRow {
                date: day.to_string(),
                value: format(*v),
            })
            .collect(),
    }
}

/// The chart in words: the range of days, the last figure, the extremes.
fn summarise(
    title: &str,
    points: &[(NaiveDate, i128)],
    format: &impl Fn(i128) -> String,
) -> String {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return format!("{title}: no figures.");
    };
    let high = points
        .iter()
        .fold(first, |best, p| if p.1 > best.1 { p } else { best });
    let low = points
        .iter()
        .fold(first, |best, p| if p.1 < best.1 { p } else { best });
    if points.len() == 1 {
        return format!("{title}, {}: {}.", first.0, format(first.1));
    }
    format!(
        "{title}, {} to {}: {} on the last day; highest {} ({}), lowest {} ({}).",
        first.0,
        last.0,
        format(last.1),
        format(high.1),
        high.0,
        format(low.1),
        low.0
    )
}

fn draw(
    kind: Kind,
    id: &str,
    title: &str,
    summary: &str,
    points: &[(NaiveDate, i128)],
    format: &impl Fn(i128) -> String,
) -> String {
    let mut svg = String::with_capacity(4096);
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-labelledby="{id}-title" aria-describedby="{id}-desc" aria-details="{id}-table" focusable="false" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        escape(title),
        escape(summary)
    );
    // The value axis spans 0 and every figure.
    let low = points.iter().map(|p| p.1).min().unwrap_or(0).min(0);
    let high = points.iter().map(|p| p.1).max().unwrap_or(0).max(0);
    let span = high as f64 - low as f64;
    let y = |v: i128| -> f64 {
        if span > 0.0 {
            BOTTOM - (v as f64 - low as f64) / span * (BOTTOM - TOP)
        } else {
            BOTTOM
        }
    };
    let zero = y(0);
    // Grid: the top (highest figure) and the zero line.
    let _ = write!(
        svg,
        r#"<line class="grid" x1="{LEFT}" y1="{TOP}" x2="{RIGHT}" y2="{TOP}"/><text class="label" x="{LEFT}" y="{:.1}">{}</text>"#,
        TOP - 8.0,
        escape(&format(high))
    );
    if low < 0 {
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" y1="{BOTTOM}" x2="{RIGHT}" y2="{BOTTOM}"/><text class="label" x="{RIGHT}" y="{:.1}" text-anchor="end">{}</text>"#,
            TOP - 8.0,
            escape(&format!("lowest {}", format(low)))
        );
    }
    if points.is_empty() {
        let _ = write!(
            svg,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="middle">No figures</text>"#,
            WIDTH / 2.0,
            (TOP + BOTTOM) / 2.0
        );
    }
    let slot = (RIGHT - LEFT) / points.len().max(1) as f64;
    match kind {
        Kind::Bars => {
            let bar = (slot * 0.7).max(1.0);
            for (i, (day, v)) in points.iter().enumerate() {
                let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
                let (top, height) = if *v >= 0 {
                    (y(*v), zero - y(*v))
                } else {
                    (zero, y(*v) - zero)
                };
                if height > 0.0 {
                    let _ = write!(
                        svg,
                        r#"<rect class="bar" x="{x:.1}" y="{top:.1}" width="{bar:.1}" height="{height:.1}"><title>{}: {}</title></rect>"#,
                        day,
                        escape(&format(*v))
                    );
                }
            }
        }
        Kind::Steps => {
            if !points.is_empty() {
                let mut line = String::new();
                for (i, (_, v)) in points.iter().enumerate() {
                    let (x0, x1) = (LEFT + slot * i as f64, LEFT + slot * (i + 1) as f64);
                    let _ = if i == 0 {
                        write!(line, "M{x0:.1} {:.1}H{x1:.1}", y(*v))
                    } else {
                        write!(line, "V{:.1}H{x1:.1}", y(*v))
                    };
                }
                let _ = write!(
                    svg,
                    r#"<path class="area" d="{line}V{zero:.1}H{LEFT}Z"/><path class="line" d="{line}" fill="none"/>"#
                );
            }
        }
    }
    // The zero line, and the first and last day under it.
    let _ = write!(
        svg,
        r#"<line class="axis" x1="{LEFT}" y1="{zero:.1}" x2="{RIGHT}" y2="{zero:.1}"/>"#
    );
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let under = HEIGHT - 8.0;
        let _ = write!(
            svg,
            r#"<text class="label" x="{LEFT}" y="{under}">{}</text>"#,
            short_date(first.0)
        );
        if points.len() > 1 {
            let _ = write!(
                svg,
                r#"<text class="label" x="{RIGHT}" y="{under}" text-anchor="end">{}</text>"#,
                short_date(last.0)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(values: &[i128]) -> Vec<(NaiveDate, i128)> {
        let first: NaiveDate = "2024-02-28".parse().unwrap();
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (first + chrono::Days::new(i as u64), *v))
            .collect()
    }

    fn plain(v: i128) -> String {
        v.to_string()
    }

    /// The numbers in every `attr="..."` of the markup.
    fn numbers(svg: &str, attr: &str) -> Vec<f64> {
        svg.split(&format!(" {attr}=\""))
            .skip(1)
            .filter_map(|rest| rest.split('"').next().unwrap().parse::<f64>().ok())
            .collect()
    }

    /// The markup's invariants: accessible, no inline style, every
    /// coordinate finite and inside the drawing, tags balanced.
    fn check(c: &Chart) {
        let svg = &c.svg;
        assert!(
            svg.starts_with("<svg class=\"chart\" viewBox=\"0 0 420 190\""),
            "{svg}"
        );
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains(r#"role="img""#));
        assert!(svg.contains(&format!(r#"<title id="{}-title">"#, c.id)));
        assert!(svg.contains(&format!(r#"<desc id="{}-desc">"#, c.id)));
        assert!(svg.contains(&format!(r#"aria-details="{}-table""#, c.id)));
        assert!(!svg.contains("style"), "no inline style: {svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        for attr in ["x", "x1", "x2", "width"] {
            for n in numbers(svg, attr) {
                assert!((0.0..=WIDTH).contains(&n), "{attr}={n} in {svg}");
            }
        }
        for attr in ["y", "y1", "y2", "height"] {
            for n in numbers(svg, attr) {
                assert!((0.0..=HEIGHT).contains(&n), "{attr}={n} in {svg}");
            }
        }
        assert_eq!(
            svg.matches("<title").count(),
            svg.matches("</title>").count()
        );
        assert_eq!(svg.matches("<rect").count(), svg.matches("</rect>").count());
    }

    #[test]
    fn bars_one_per_nonzero_day_scaled_to_the_highest() {
        let c = chart(
            Kind::Bars,
            "per-day",
            "Movements per day",
            "Movements",
            &days(&[0, 5, 10, 0]),
            plain,
        );
        check(&c);
        assert_eq!(c.svg.matches("<rect class=\"bar\"").count(), 2);
        let heights = numbers(&c.svg, "height");
        assert_eq!(heights.len(), 2);
        assert!((heights[1] - 2.0 * heights[0]).abs() < 0.2, "{heights:?}");
        assert!((heights[1] - (BOTTOM - TOP)).abs() < 0.01);
        assert!(c.svg.contains("<title>2024-02-29: 5</title>"));
        assert!(
            c.svg.contains(">10</text>"),
            "the highest figure labels the axis"
        );
        assert!(c.svg.contains(">28 Feb</text>") && c.svg.contains(">2 Mar</text>"));
        assert_eq!(
            c.summary,
            "Movements per day, 2024-02-28 to 2024-03-02: 0 on the last day; highest 10 (2024-03-01), lowest 0 (2024-02-28)."
        );
        assert_eq!(c.rows.len(), 4);
        assert_eq!(
            (c.rows[2].date.as_str(), c.rows[2].value.as_str()),
            ("2024-03-01", "10")
        );
    }

    #[test]
    fn an_empty_series_says_so() {
        for kind in [Kind::Bars, Kind::Steps] {
            let c = chart(kind, "empty", "Stock", "On hand", &[], plain);
            check(&c);
            assert!(c.svg.contains("No figures"));
            assert_eq!(c.summary, "Stock: no figures.");
            assert!(c.rows.is_empty());
            assert!(!c.svg.contains("<rect") && !c.svg.contains("<path"));
        }
    }

    #[test]
    fn all_zero_draws_no_bars_and_a_flat_line_on_the_axis() {
        let c = chart(
            Kind::Bars,
            "zero",
            "Movements",
            "Movements",
            &days(&[0; 30]),
            plain,
        );
        check(&c);
        assert!(!c.svg.contains("<rect"));
        let s = chart(
            Kind::Steps,
            "zero-steps",
            "Value",
            "Value",
            &days(&[0; 30]),
            plain,
        );
        check(&s);
        assert!(
            s.svg
                .contains(&format!(r#"<path class="line" d="M8.0 {BOTTOM:.1}H"#)),
            "{}",
            s.svg
        );
        assert!(!s.svg.contains(&format!("V{:.1}H", TOP)));
    }

    #[test]
    fn one_point_spans_the_width() {
        let c = chart(Kind::Steps, "one", "Stock", "On hand", &days(&[7]), plain);
        check(&c);
        assert!(
            c.svg.contains(&format!(r#"d="M8.0 {TOP:.1}H{RIGHT:.1}""#)),
            "{}",
            c.svg
        );
        assert_eq!(c.summary, "Stock, 2024-02-28: 7.");
        assert_eq!(c.svg.matches(">28 Feb</text>").count(), 1, "one date label");
        let b = chart(Kind::Bars, "one-bar", "Moves", "Moves", &days(&[3]), plain);
        check(&b);
        assert_eq!(b.svg.matches("<rect").count(), 1);
    }

    #[test]
    fn large_values_stay_exact_in_words_and_in_bounds() {
        let huge = i128::from(i64::MAX) * 1_000_000;
        let c = chart(
            Kind::Steps,
            "big",
            "Value",
            "Value",
            &days(&[huge, huge - 1, i128::MAX, 0]),
            inventory_core::money::format_total,
        );
        check(&c);
        assert_eq!(
            c.rows[1].value,
            inventory_core::money::format_total(huge - 1)
        );
        assert!(c
            .summary
            .contains(&inventory_core::money::format_total(i128::MAX)));
        let n = chart(
            Kind::Bars,
            "neg",
            "Change",
            "Change",
            &days(&[-5, 10]),
            plain,
        );
        check(&n);
        assert!(n.svg.contains(">lowest -5</text>"));
        assert_eq!(n.svg.matches("<rect").count(), 2);
    }

    #[test]
    fn text_is_escaped() {
        let c = chart(
            Kind::Steps,
            "item",
            r#"Stock of <A&B> "x" 'y'"#,
            "On hand",
            &days(&[1, 2]),
            |v| format!("<{v}>"),
        );
        check(&c);
        assert!(c
            .svg
            .contains("Stock of &lt;A&amp;B&gt; &quot;x&quot; &#39;y&#39;"));
        assert!(c.svg.contains("&lt;2&gt;"));
        assert!(!c.svg.contains("<A&B>") && !c.svg.contains("<2>"));
    }
}
