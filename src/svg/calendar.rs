//! The listening calendar (`GET /api/spotify/history.svg`): a year of days as squares, one
//! column per week (Sunday on top), shaded in five levels by the minutes listened, or by the
//! plays when some plays' lengths are unknown; month labels above, a title with the totals, a
//! `<title>` per day for the tooltip. Text and shapes only: nothing is referred to.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::{background, escape, CardStyle, FONT};
use crate::color::Rgb;
use crate::history::stats::day_key;

const CELL: u32 = 11;
const STEP: u32 = 13;
const LEFT: u32 = 44;
const GRID_TOP: u32 = 58;
const PAD: u32 = 16;

/// What the squares are shaded by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Minutes,
    Plays,
}

/// One day as the statistics give it: plays, timed plays, minutes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Day {
    pub plays: u64,
    pub timed_plays: u64,
    pub minutes: f64,
}

/// The day's tooltip: its date, plays and (when some are timed) minutes.
pub fn day_label(date: &str, d: &Day) -> String {
    let plays = if d.plays == 1 { "play" } else { "plays" };
    if d.timed_plays > 0 {
        format!("{date}: {} {plays}, {} min", d.plays, d.minutes)
    } else {
        format!("{date}: {} {plays}", d.plays)
    }
}

/// The shade of a value (0 to 4): 0 for none, else a quarter of the largest value per step.
pub fn level(value: f64, max: f64) -> u8 {
    if value <= 0.0 || max <= 0.0 {
        return 0;
    }
    ((value / max * 4.0).ceil() as u8).clamp(1, 4)
}

/// Renders the calendar of `days` (oldest first) from the statistics' JSON (`None`: nothing to
/// show, e.g. hidden).
pub fn render(
    stats: Option<&Value>,
    days: impl Iterator<Item = time::Date>,
    style: &CardStyle,
) -> String {
    let days: Vec<time::Date> = days.collect();
    let by_date = days_by_date(stats);
    let totals = Totals::of(stats);
    let max = by_date
        .values()
        .map(|d| totals.measure.of(d))
        .fold(0.0, f64::max);

    let lead = days
        .first()
        .map_or(0, |d| u32::from(d.weekday().number_days_from_sunday()));
    let columns = (lead + days.len() as u32).div_ceil(7).max(1);
    let width = LEFT + columns * STEP + PAD;
    let height = GRID_TOP + 7 * STEP + 34;
    let p = style.palette(None);
    let shades: [Rgb; 5] = [
        p.track,
        p.bg.mix(p.accent, 0.35),
        p.bg.mix(p.accent, 0.55),
        p.bg.mix(p.accent, 0.78),
        p.accent,
    ];

    let heading = totals.heading(stats.is_some());
    let mut out = String::with_capacity(40_000);
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-labelledby="np-cal-title"><title id="np-cal-title">{title}</title>"##,
        title = escape(&heading),
    );
    let framed = CardStyle {
        width,
        ..style.clone()
    };
    background(&mut out, &framed, &p, height);
    let _ = write!(
        out,
        r##"<g font-family="{FONT}"><text x="{PAD}" y="28" font-size="14" font-weight="600" fill="{fg}">{h}</text>"##,
        fg = p.fg,
        h = escape(&heading),
    );
    for (row, name) in [(1u32, "Mon"), (3, "Wed"), (5, "Fri")] {
        let _ = write!(
            out,
            r##"<text x="{PAD}" y="{y}" font-size="9" fill="{muted}">{name}</text>"##,
            y = GRID_TOP + row * STEP + 9,
            muted = p.muted,
        );
    }
    let mut last_month = None;
    for (i, day) in days.iter().enumerate() {
        let slot = lead + i as u32;
        let (col, row) = (slot / 7, slot % 7);
        let x = LEFT + col * STEP;
        if last_month != Some(day.month()) && (row == 0 || i == 0) && col + 2 < columns {
            last_month = Some(day.month());
            let name = &format!("{}", day.month())[..3];
            let _ = write!(
                out,
                r##"<text x="{x}" y="{y}" font-size="9" fill="{muted}">{name}</text>"##,
                y = GRID_TOP - 6,
                muted = p.muted,
            );
        }
        let date = day_key(*day);
        let d = by_date.get(date.as_str()).copied().unwrap_or_default();
        let lvl = level(totals.measure.of(&d), max);
        let _ = write!(
            out,
            r##"<rect class="np-day" data-date="{date}" data-level="{lvl}" x="{x}" y="{y}" width="{CELL}" height="{CELL}" rx="2" fill="{fill}"><title>{t}</title></rect>"##,
            y = GRID_TOP + row * STEP,
            fill = shades[usize::from(lvl)],
            t = escape(&day_label(&date, &d)),
        );
    }
    write_legend(&mut out, totals.measure, &shades, p.muted);
    out.push_str("</g></svg>");
    out
}

impl Measure {
    /// A day's value in this measure.
    fn of(self, d: &Day) -> f64 {
        match self {
            Measure::Minutes => d.minutes,
            Measure::Plays => d.plays as f64,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Measure::Minutes => "minutes",
            Measure::Plays => "plays",
        }
    }
}

/// The statistics' days by their date (`YYYY-MM-DD`); a day missing a count counts 0.
fn days_by_date(stats: Option<&Value>) -> HashMap<&str, Day> {
    stats
        .and_then(|s| s["days"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|d| {
                    Some((
                        d["date"].as_str()?,
                        Day {
                            plays: d["plays"].as_u64().unwrap_or(0),
                            timed_plays: d["timedPlays"].as_u64().unwrap_or(0),
                            minutes: d["minutesPlayed"].as_f64().unwrap_or(0.0),
                        },
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The statistics' totals, and the measure they allow: minutes only when every play is timed.
struct Totals {
    plays: u64,
    minutes: f64,
    measure: Measure,
}

impl Totals {
    fn of(stats: Option<&Value>) -> Totals {
        let totals = stats.map(|s| &s["totals"]);
        let plays = totals.and_then(|t| t["plays"].as_u64()).unwrap_or(0);
        let timed = totals.and_then(|t| t["timedPlays"].as_u64()).unwrap_or(0);
        let minutes = totals
            .and_then(|t| t["minutesPlayed"].as_f64())
            .unwrap_or(0.0);
        let measure = if plays > 0 && timed == plays {
            Measure::Minutes
        } else {
            Measure::Plays
        };
        Totals {
            plays,
            minutes,
            measure,
        }
    }

    /// The title line (`shown`: whether there are statistics at all).
    fn heading(&self, shown: bool) -> String {
        match (shown, self.plays) {
            (false, _) => "Listening history · nothing to show yet".to_string(),
            (true, 0) => "Listening history · no plays in the last year".to_string(),
            (true, n) if self.measure == Measure::Minutes => format!(
                "Listening history · {n} plays · {} hours in the last year",
                (self.minutes / 60.0).round()
            ),
            (true, n) => format!("Listening history · {n} plays in the last year"),
        }
    }
}

/// The legend under the grid: what shades the squares, from less to more.
fn write_legend(out: &mut String, measure: Measure, shades: &[Rgb; 5], muted: Rgb) {
    let legend_y = GRID_TOP + 7 * STEP + 12;
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="{ty}" font-size="9" fill="{muted}">Shaded by {what} a day (UTC) · less</text>"##,
        ty = legend_y + 9,
        what = measure.name(),
    );
    for (i, shade) in shades.iter().enumerate() {
        let _ = write!(
            out,
            r##"<rect x="{x}" y="{legend_y}" width="{CELL}" height="{CELL}" rx="2" fill="{shade}"/>"##,
            x = LEFT + 170 + i as u32 * STEP,
        );
    }
    let _ = write!(
        out,
        r##"<text x="{x}" y="{ty}" font-size="9" fill="{muted}">more</text>"##,
        x = LEFT + 170 + 5 * STEP + 4,
        ty = legend_y + 9,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svg::Theme;
    use serde_json::json;
    use time::macros::date;

    fn year() -> Vec<time::Date> {
        let last = date!(2026 - 12 - 02);
        let first = last - time::Duration::days(364);
        std::iter::successors(Some(first), |d| d.next_day().filter(|n| *n <= last)).collect()
    }

    #[test]
    fn levels_are_quarters_of_the_largest_day() {
        assert_eq!(level(0.0, 10.0), 0);
        assert_eq!(level(1.0, 10.0), 1);
        assert_eq!(level(2.5, 10.0), 1);
        assert_eq!(level(2.6, 10.0), 2);
        assert_eq!(level(10.0, 10.0), 4);
        assert_eq!(level(3.0, 0.0), 0);
    }

    #[test]
    fn a_calendar_has_a_square_and_a_title_per_day_in_both_themes() {
        let stats = json!({
            "days": [{"date": "2026-11-30", "plays": 12, "timedPlays": 0, "minutesPlayed": 0.0},
                     {"date": "2026-12-01", "plays": 3, "timedPlays": 0, "minutesPlayed": 0.0}],
            "totals": {"plays": 15, "timedPlays": 0, "minutesPlayed": 0.0},
        });
        for theme in [Theme::Light, Theme::Dark] {
            let svg = render(Some(&stats), year().into_iter(), &CardStyle::from(theme));
            let doc = roxmltree::Document::parse(&svg).expect("well-formed");
            let days: Vec<_> = doc
                .descendants()
                .filter(|n| n.attribute("class") == Some("np-day"))
                .collect();
            assert_eq!(days.len(), 365);
            let busy = days
                .iter()
                .find(|n| n.attribute("data-date") == Some("2026-11-30"))
                .unwrap();
            assert_eq!(busy.attribute("data-level"), Some("4"));
            assert_eq!(
                busy.first_child().unwrap().text(),
                Some("2026-11-30: 12 plays")
            );
            let light = days
                .iter()
                .find(|n| n.attribute("data-date") == Some("2026-12-01"))
                .unwrap();
            assert_eq!(light.attribute("data-level"), Some("1"));
            assert!(svg.contains("15 plays in the last year"));
            assert!(!svg.contains("href") && !svg.contains("<script"));
        }
        let empty = render(None, year().into_iter(), &CardStyle::default());
        assert!(empty.contains("nothing to show yet"));
        roxmltree::Document::parse(&empty).unwrap();
    }
}
