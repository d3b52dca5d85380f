//! The now-playing card's motion, in CSS only (GitHub's image proxy allows no script): while a
//! track plays, the progress bar grows from the read position to the end of the track and stops
//! there, small equalizer bars move, and a title too long for the card scrolls. All of it is in
//! one inline `<style>`, switched off under `prefers-reduced-motion: reduce`; with
//! `hide_progress` nothing moves.
//!
//! The animation depends only on what the card already shows (the position at the moment the
//! answer was served and the track's duration), so the same answer and parameters draw the same
//! bytes, and so the same `ETag`.

use std::fmt::Write as _;
use std::time::Duration;

use super::super::{escape, Rgb};

/// Rough width in pixels of one "narrow character" unit of the 16 px bold title: a little more
/// than the average glyph, so the copies of a scrolling title never overlap.
const TITLE_UNIT_PX: f64 = 9.6;
/// The space between the two copies of a scrolling title, in pixels.
const MARQUEE_GAP: f64 = 48.0;
/// How fast a long title scrolls, in pixels per second.
const MARQUEE_SPEED: f64 = 40.0;
/// The share of each scrolling loop the title rests at its start, so it can be read.
const MARQUEE_REST: f64 = 0.25;

/// The moving parts of one card; the default is a card that does not move.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Motion {
    /// The bar grows from `from_px` to `to_px` over `over`.
    pub bar: Option<BarMotion>,
    /// The equalizer bars move.
    pub equalizer: bool,
    /// The title scrolls by `shift_px` (one copy and the gap) in each loop.
    pub marquee: Option<MarqueeMotion>,
}

/// The progress bar's animation: from the drawn width to the full width in the time left.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BarMotion {
    pub from_px: f64,
    pub to_px: u32,
    pub over: Duration,
}

/// A scrolling title: how far one loop moves it, and how long the loop lasts.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct MarqueeMotion {
    pub shift_px: f64,
    pub period: Duration,
}

impl Motion {
    /// Whether anything moves (and so whether the card needs its `<style>`).
    pub fn any(&self) -> bool {
        self.bar.is_some() || self.equalizer || self.marquee.is_some()
    }

    /// Writes the `<style>` element with the keyframes this card uses and the reduced-motion
    /// rule that stops all of them; nothing when nothing moves.
    pub fn write_style(&self, out: &mut String) {
        if !self.any() {
            return;
        }
        out.push_str("<style>");
        if let Some(bar) = &self.bar {
            let _ = write!(
                out,
                "@keyframes np-fill{{from{{width:{from:.1}px}}to{{width:{to}px}}}}.np-progress.np-live{{animation:np-fill {secs:.3}s linear forwards}}",
                from = bar.from_px,
                to = bar.to_px,
                secs = bar.over.as_secs_f64(),
            );
        }
        if self.equalizer {
            out.push_str(
                "@keyframes np-eq{0%,100%{transform:scaleY(.3)}50%{transform:scaleY(1)}}.np-eq rect{transform-box:fill-box;transform-origin:50% 100%;animation:np-eq .9s ease-in-out infinite}.np-eq rect:nth-child(2){animation-delay:-.45s}.np-eq rect:nth-child(3){animation-delay:-.2s}.np-eq rect:nth-child(4){animation-delay:-.65s}",
            );
        }
        if let Some(m) = &self.marquee {
            let _ = write!(
                out,
                "@keyframes np-marquee{{0%,{rest:.0}%{{transform:translateX(0)}}100%{{transform:translateX(-{shift:.1}px)}}}}.np-marquee{{animation:np-marquee {secs:.3}s linear infinite}}",
                rest = MARQUEE_REST * 100.0,
                shift = m.shift_px,
                secs = m.period.as_secs_f64(),
            );
        }
        let moving: Vec<&str> = [
            (self.bar.is_some(), ".np-progress.np-live"),
            (self.equalizer, ".np-eq rect"),
            (self.marquee.is_some(), ".np-marquee"),
        ]
        .into_iter()
        .filter_map(|(on, selector)| on.then_some(selector))
        .collect();
        let _ = write!(
            out,
            "@media (prefers-reduced-motion:reduce){{{}{{animation:none}}}}</style>",
            moving.join(",")
        );
    }
}

/// The bar's animation for a playing track at `pos` of `dur`, drawn `filled_px` of `full_px`
/// wide; `None` when nothing is left to play.
pub(super) fn bar(pos: Duration, dur: Duration, filled_px: f64, full_px: u32) -> Option<BarMotion> {
    let left = dur.checked_sub(pos).filter(|d| !d.is_zero())?;
    Some(BarMotion {
        from_px: filled_px,
        to_px: full_px,
        over: left,
    })
}

/// The scrolling for a title of `units` narrow-character units in a column that holds
/// `budget`; `None` when the title fits.
pub(super) fn marquee(units: usize, budget: usize) -> Option<MarqueeMotion> {
    if units <= budget {
        return None;
    }
    let shift_px = units as f64 * TITLE_UNIT_PX + MARQUEE_GAP;
    let moving = shift_px / MARQUEE_SPEED;
    Some(MarqueeMotion {
        shift_px,
        period: Duration::from_secs_f64(moving / (1.0 - MARQUEE_REST)),
    })
}

/// Writes a title that scrolls: two copies, one after the other, in a group that moves left by
/// one copy and the gap per loop, clipped to the text column (`x`..`right`). Under reduced
/// motion the first copy stands still, cut by the clip at the column's edge.
pub(super) fn scrolling_title(
    out: &mut String,
    x: u32,
    right: u32,
    y: u32,
    fill: Rgb,
    title: &str,
    m: &MarqueeMotion,
) {
    let title = escape(title);
    let _ = write!(
        out,
        r##"<clipPath id="np-title-clip"><rect x="{x}" y="{top}" width="{w}" height="24"/></clipPath><g clip-path="url(#np-title-clip)"><g class="np-marquee"><text x="{x}" y="{y}" font-size="16" font-weight="700" fill="{fill}">{title}</text><text x="{x2:.1}" y="{y}" font-size="16" font-weight="700" fill="{fill}" aria-hidden="true">{title}</text></g></g>"##,
        top = y - 18,
        w = right - x,
        x2 = f64::from(x) + m.shift_px,
    );
}

/// Writes the four equalizer bars, standing on the label line's baseline at `x`; `moving`
/// gives them the class their animation is keyed on.
pub(super) fn equalizer(out: &mut String, x: u32, baseline: u32, fill: Rgb, moving: bool) {
    let class = if moving { r#" class="np-eq""# } else { "" };
    let _ = write!(out, r##"<g{class} fill="{fill}">"##);
    for (i, h) in [6u32, 10, 4, 8].into_iter().enumerate() {
        let _ = write!(
            out,
            r##"<rect x="{bx}" y="{by}" width="2" height="{h}" rx="1" ry="1"/>"##,
            bx = x + 3 * i as u32,
            by = baseline - h,
        );
    }
    out.push_str("</g>");
}
