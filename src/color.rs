//! Colours for the cards: a parsed hex colour ([`Rgb`]), WCAG contrast, and the colours of an
//! album cover ([`ArtColors`], see [`ArtColors::from_image`]) made readable.
//!
//! Contrast follows WCAG 2.x: the relative luminance of sRGB colours and the ratio
//! `(L1 + 0.05) / (L2 + 0.05)`; AA asks 4.5:1 for body text ([`AA_BODY`]).

use std::str::FromStr;

/// WCAG AA's contrast for body text.
pub const AA_BODY: f64 = 4.5;

/// An sRGB colour, written `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// What a colour parameter accepts, for error messages.
pub const HEX_ACCEPTED: &str = "a hex colour: rgb or rrggbb, with or without # (%23 in a URL)";

impl FromStr for Rgb {
    type Err = ();

    /// `#rgb`, `#rrggbb`, `rgb` or `rrggbb` (hex digits in either case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix('#').unwrap_or(s);
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(());
        }
        let digit = |i: usize| u8::from_str_radix(&hex[i..i + 1], 16).map_err(|_| ());
        let pair = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| ());
        match hex.len() {
            3 => Ok(Rgb(digit(0)? * 17, digit(1)? * 17, digit(2)? * 17)),
            6 => Ok(Rgb(pair(0)?, pair(2)?, pair(4)?)),
            _ => Err(()),
        }
    }
}

impl std::fmt::Display for Rgb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

impl Rgb {
    pub const BLACK: Rgb = Rgb(0, 0, 0);
    pub const WHITE: Rgb = Rgb(255, 255, 255);

    /// WCAG relative luminance, 0 (black) to 1 (white).
    pub fn luminance(self) -> f64 {
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(self.0) + 0.7152 * lin(self.1) + 0.0722 * lin(self.2)
    }

    /// The WCAG contrast ratio of two colours, 1 to 21, in either order.
    pub fn contrast(self, other: Rgb) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// This colour moved `t` (0 to 1) of the way towards `to`.
    pub fn mix(self, to: Rgb, t: f64) -> Rgb {
        let m = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
        Rgb(m(self.0, to.0), m(self.1, to.1), m(self.2, to.2))
    }

    /// Black or white, whichever contrasts more with this colour (at least 4.58:1 for any
    /// colour, since the two ratios multiply to 21).
    pub fn best_text(self) -> Rgb {
        if Rgb::BLACK.contrast(self) >= Rgb::WHITE.contrast(self) {
            Rgb::BLACK
        } else {
            Rgb::WHITE
        }
    }

    /// This colour with its lightness moved, a step at a time, away from `bg` (towards the one of
    /// black and white that contrasts more with `bg`) until it has `ratio` against `bg`.
    pub fn readable_on(self, bg: Rgb, ratio: f64) -> Rgb {
        let target = bg.best_text();
        let mut c = self;
        let mut t = 0.0;
        while c.contrast(bg) < ratio && t < 1.0 {
            t = (t + 0.05_f64).min(1.0);
            c = self.mix(target, t);
        }
        c
    }

    fn saturation(self) -> f64 {
        let max = f64::from(self.0.max(self.1).max(self.2));
        let min = f64::from(self.0.min(self.1).min(self.2));
        if max == 0.0 {
            0.0
        } else {
            (max - min) / max
        }
    }

    fn distance(self, o: Rgb) -> f64 {
        let d = |a: u8, b: u8| (f64::from(a) - f64::from(b)).powi(2);
        (d(self.0, o.0) + d(self.1, o.1) + d(self.2, o.2)).sqrt()
    }
}

/// The colours `theme=art` draws with, taken from an album cover: a background, the text on it
/// and an accent, each text colour at least 4.5:1 against the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtColors {
    pub bg: Rgb,
    pub text: Rgb,
    pub accent: Rgb,
}

/// The side the cover is scaled down to before its colours are counted.
const SAMPLE_SIDE: u32 = 32;
/// The largest cover decoded (on either side), and the most memory decoding may take: a small
/// file that claims a huge image is refused before anything is allocated for it. Covers are
/// at most 640 px (Spotify) or 300 px (Last.fm); 2048 px RGBA is 16 MiB.
const MAX_SIDE: u32 = 2048;
const MAX_DECODE_BYTES: u64 = 16 * 1024 * 1024;

/// A PNG or JPEG cover decoded within [`MAX_SIDE`] and [`MAX_DECODE_BYTES`], or `None` (another
/// type, a broken file, one too large).
pub fn decode_cover(bytes: &[u8]) -> Option<image::DynamicImage> {
    let format = image::guess_format(bytes).ok()?;
    if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg) {
        return None;
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    reader.decode().ok()
}

impl ArtColors {
    /// The colours of a PNG or JPEG cover, or `None` when it cannot be decoded (another type,
    /// a broken file). The cover is scaled down to 32 px; its pixels are grouped by colour
    /// (4 bits a channel); the most common group is the background, the most saturated group
    /// clearly different from it (else the background's opposite) the accent. The background is
    /// then moved in lightness until black or white text has 4.5:1 on it (it always does:
    /// see [`Rgb::best_text`]), and the accent until it has 4.5:1 too.
    pub fn from_image(bytes: &[u8]) -> Option<ArtColors> {
        ArtColors::from_decoded(&decode_cover(bytes)?)
    }

    /// [`ArtColors::from_image`] of a cover already decoded (by [`decode_cover`]).
    pub fn from_decoded(img: &image::DynamicImage) -> Option<ArtColors> {
        let small = img.thumbnail(SAMPLE_SIDE, SAMPLE_SIDE).to_rgb8();
        let mut groups: std::collections::HashMap<(u8, u8, u8), (u64, [u64; 3])> =
            Default::default();
        for p in small.pixels() {
            let [r, g, b] = p.0;
            let e = groups.entry((r >> 4, g >> 4, b >> 4)).or_default();
            e.0 += 1;
            e.1[0] += u64::from(r);
            e.1[1] += u64::from(g);
            e.1[2] += u64::from(b);
        }
        let mut colours: Vec<(u64, Rgb)> = groups
            .into_values()
            .map(|(n, s)| {
                let avg = |i: usize| (s[i] / n) as u8;
                (n, Rgb(avg(0), avg(1), avg(2)))
            })
            .collect();
        // Most common first; ties by colour, so the answer does not depend on hash order.
        colours.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then((b.1 .0, b.1 .1, b.1 .2).cmp(&(a.1 .0, a.1 .1, a.1 .2)))
        });
        let (_, dominant) = *colours.first()?;
        let total: u64 = colours.iter().map(|(n, _)| n).sum();
        let accent = colours
            .iter()
            .filter(|(n, c)| c.distance(dominant) > 80.0 && *n * 50 >= total)
            .max_by(|a, b| {
                let score = |(n, c): &(u64, Rgb)| c.saturation() * (*n as f64).sqrt();
                score(a).total_cmp(&score(b))
            })
            .map(|(_, c)| *c);
        Some(ArtColors::readable(dominant, accent))
    }

    /// Makes a background and an accent readable: the background moves towards the lightness
    /// of its own extreme until black or white text has [`AA_BODY`] on it, the accent away from
    /// the background until it has [`AA_BODY`] as well.
    pub fn readable(bg: Rgb, accent: Option<Rgb>) -> ArtColors {
        let text = bg.best_text();
        let mut bg_ok = bg;
        let away = if text == Rgb::BLACK {
            Rgb::WHITE
        } else {
            Rgb::BLACK
        };
        let mut t = 0.0;
        while text.contrast(bg_ok) < AA_BODY && t < 1.0 {
            t = (t + 0.05_f64).min(1.0);
            bg_ok = bg.mix(away, t);
        }
        let accent = accent
            .unwrap_or_else(|| bg_ok.mix(text, 0.6))
            .readable_on(bg_ok, AA_BODY);
        ArtColors {
            bg: bg_ok,
            text,
            accent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_colours_parse_in_every_accepted_form() {
        assert_eq!("#fff".parse(), Ok(Rgb(255, 255, 255)));
        assert_eq!("0F0".parse(), Ok(Rgb(0, 255, 0)));
        assert_eq!("#1db954".parse(), Ok(Rgb(0x1d, 0xb9, 0x54)));
        assert_eq!("1DB954".parse(), Ok(Rgb(0x1d, 0xb9, 0x54)));
        for bad in [
            "",
            "#",
            "ff",
            "#ffff",
            "#fffffff",
            "ggg",
            "#12345g",
            "red",
            "+12",
            "１２３",
        ] {
            assert_eq!(bad.parse::<Rgb>(), Err(()), "{bad}");
        }
        assert_eq!(Rgb(1, 0xab, 255).to_string(), "#01abff");
    }

    fn encode(img: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_covers_colours_come_from_its_pixels() {
        // Mostly teal with a band of orange: teal background, orange accent (made readable).
        let img = image::RgbImage::from_fn(120, 120, |_, y| {
            image::Rgb(if y < 90 { [0, 110, 110] } else { [250, 140, 0] })
        });
        for format in [image::ImageFormat::Png, image::ImageFormat::Jpeg] {
            let c = ArtColors::from_image(&encode(&img, format)).expect("decodes");
            let Rgb(r, g, b) = c.bg;
            assert!(
                r < 30 && (90..=130).contains(&g) && (90..=130).contains(&b),
                "{c:?}"
            );
            assert!(
                u16::from(c.accent.0) > u16::from(c.accent.2) + 60,
                "orange accent: {c:?}"
            );
            assert!(c.text.contrast(c.bg) >= AA_BODY && c.accent.contrast(c.bg) >= AA_BODY);
        }
        // Not an image, another type, a broken file: no colours.
        assert_eq!(ArtColors::from_image(b"not an image"), None);
        assert_eq!(ArtColors::from_image(b"GIF89a\x01\x00\x01\x00"), None);
        let mut broken = encode(&img, image::ImageFormat::Png);
        broken.truncate(broken.len() / 2);
        assert_eq!(ArtColors::from_image(&broken), None);
    }

    #[test]
    fn a_huge_image_is_refused_before_it_is_decoded() {
        // 2049 x 2 px: a few hundred bytes of PNG, over the side limit.
        let wide = image::RgbImage::from_pixel(MAX_SIDE + 1, 2, image::Rgb([9, 9, 9]));
        let png = encode(&wide, image::ImageFormat::Png);
        assert!(png.len() < 2_000, "{}", png.len());
        assert_eq!(ArtColors::from_image(&png), None);
        let ok = image::RgbImage::from_pixel(MAX_SIDE, 2, image::Rgb([9, 9, 9]));
        assert!(ArtColors::from_image(&encode(&ok, image::ImageFormat::Png)).is_some());
    }

    #[test]
    fn contrast_matches_wcag() {
        assert!((Rgb::BLACK.contrast(Rgb::WHITE) - 21.0).abs() < 1e-9);
        assert!((Rgb::WHITE.contrast(Rgb::WHITE) - 1.0).abs() < 1e-9);
        // #767676 on white is the classic 4.54:1.
        let grey = Rgb(0x76, 0x76, 0x76).contrast(Rgb::WHITE);
        assert!((grey - 4.54).abs() < 0.01, "{grey}");
    }

    #[test]
    fn readable_colours_hold_aa_for_every_grey_and_hue() {
        for v in (0..=255).step_by(5) {
            for bg in [
                Rgb(v, v, v),
                Rgb(v, 0, 0),
                Rgb(0, v, 0),
                Rgb(0, 0, v),
                Rgb(v, v, 0),
            ] {
                for accent in [None, Some(bg), Some(Rgb(255 - v, v, 128))] {
                    let c = ArtColors::readable(bg, accent);
                    assert!(c.text.contrast(c.bg) >= AA_BODY, "{bg} {c:?}");
                    assert!(c.accent.contrast(c.bg) >= AA_BODY, "{bg} {c:?}");
                }
            }
        }
    }
}
