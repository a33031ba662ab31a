//! Pure checks of what the test client received: colour classification of decoded frames, the
//! colour seen in each pane of a layout, the expectations on them, and audio loudness. No network,
//! no GStreamer: unit-tested on synthetic frames.

use std::collections::BTreeMap;

use convene_pipelines::layout::{Layout, PaneKind, Rect, panes};
use serde::Serialize;

/// The colours a test client sends, plus black (the compositor's background) and white.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    Black,
    White,
    Red,
    Green,
    Blue,
    Yellow,
    Cyan,
    Magenta,
}

impl Colour {
    pub const ALL: [Colour; 8] =
        [Colour::Black, Colour::White, Colour::Red, Colour::Green, Colour::Blue, Colour::Yellow, Colour::Cyan, Colour::Magenta];

    /// Nominal RGB.
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Colour::Black => [0, 0, 0],
            Colour::White => [255, 255, 255],
            Colour::Red => [255, 0, 0],
            Colour::Green => [0, 255, 0],
            Colour::Blue => [0, 0, 255],
            Colour::Yellow => [255, 255, 0],
            Colour::Cyan => [0, 255, 255],
            Colour::Magenta => [255, 0, 255],
        }
    }

    /// `videotestsrc foreground-color` (ARGB).
    pub fn argb(self) -> u32 {
        let [r, g, b] = self.rgb();
        0xff00_0000 | (r as u32) << 16 | (g as u32) << 8 | b as u32
    }

    pub fn name(self) -> &'static str {
        match self {
            Colour::Black => "black",
            Colour::White => "white",
            Colour::Red => "red",
            Colour::Green => "green",
            Colour::Blue => "blue",
            Colour::Yellow => "yellow",
            Colour::Cyan => "cyan",
            Colour::Magenta => "magenta",
        }
    }
}

impl std::fmt::Display for Colour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A pixel further than this (Euclidean RGB distance) from every palette colour is "unknown":
/// about a third of the way from one primary towards another.
const MAX_DISTANCE: u32 = 110;

/// The palette colour of one pixel, if it is close enough to one.
pub fn classify(rgb: [u8; 3]) -> Option<Colour> {
    let d2 = |c: Colour| {
        let n = c.rgb();
        (0..3).map(|i| (rgb[i] as i32 - n[i] as i32).pow(2) as u32).sum::<u32>()
    };
    Colour::ALL.into_iter().map(|c| (d2(c), c)).min().filter(|(d, _)| *d <= MAX_DISTANCE * MAX_DISTANCE).map(|(_, c)| c)
}

/// A decoded frame in packed RGB (3 bytes per pixel, rows `stride` bytes apart).
pub struct RgbFrame<'a> {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub data: &'a [u8],
}

impl RgbFrame<'_> {
    fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = y as usize * self.stride + x as usize * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// A pane's share of a colour needed to call the pane that colour.
pub const DOMINANT_SHARE: f32 = 0.6;
/// A colour covering at least this share of a pane counts as present in it.
pub const PRESENT_SHARE: f32 = 0.2;

/// What one pane of the received picture shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaneSample {
    pub index: usize,
    #[serde(serialize_with = "kind_name")]
    pub kind: PaneKind,
    /// The region sampled: the pane minus panes drawn over it, inset.
    #[serde(serialize_with = "rect_array")]
    pub region: Rect,
    /// The dominant colour if it covers at least [`DOMINANT_SHARE`], else `None` (mixed/unknown).
    pub colour: Option<Colour>,
    /// Share of the region's pixels per colour (colours under 1% left out).
    pub shares: BTreeMap<Colour, f32>,
    /// Mean RGB of the region.
    pub mean: [u8; 3],
}

impl PaneSample {
    pub fn share(&self, c: Colour) -> f32 {
        self.shares.get(&c).copied().unwrap_or(0.0)
    }
}

fn kind_name<S: serde::Serializer>(k: &PaneKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match k {
        PaneKind::Main => "main",
        PaneKind::Thumbnail => "thumbnail",
    })
}

fn rect_array<S: serde::Serializer>(r: &Rect, s: S) -> Result<S::Ok, S::Error> {
    [r.x, r.y, r.w, r.h].serialize(s)
}

/// The part of each pane that is really visible: a pane with a lower z-order loses the rows
/// covered by panes drawn over it (the 1:7 main under its thumbnail row), then the region is
/// inset by a fifth of its size on each side to stay clear of scaling and coding blur at edges.
pub fn sample_regions(layout: Layout, width: u32, height: u32) -> Vec<(PaneKind, Rect)> {
    let all = panes(layout, width, height);
    all.iter()
        .map(|p| {
            let mut r = p.rect;
            for over in all.iter().filter(|o| o.zorder > p.zorder && o.rect.intersects(&p.rect)) {
                // Keep the part above the overlay (overlays in Convene's layouts sit at the bottom).
                if over.rect.y > r.y {
                    r.h = r.h.min(over.rect.y - r.y);
                } else {
                    r.h = 0;
                }
            }
            let (dx, dy) = (r.w / 5, r.h / 5);
            (p.kind, Rect::new(r.x + dx, r.y + dy, r.w - 2 * dx, r.h - 2 * dy))
        })
        .collect()
}

/// Samples every pane of `layout` in `frame`.
pub fn sample_panes(frame: &RgbFrame, layout: Layout) -> Vec<PaneSample> {
    sample_regions(layout, frame.width, frame.height)
        .into_iter()
        .enumerate()
        .map(|(index, (kind, region))| sample_region(frame, index, kind, region))
        .collect()
}

fn sample_region(frame: &RgbFrame, index: usize, kind: PaneKind, region: Rect) -> PaneSample {
    let mut counts: BTreeMap<Colour, u32> = BTreeMap::new();
    let mut sum = [0u64; 3];
    let mut n = 0u32;
    for y in region.y..region.bottom().min(frame.height) {
        for x in region.x..region.right().min(frame.width) {
            let px = frame.pixel(x, y);
            for i in 0..3 {
                sum[i] += px[i] as u64;
            }
            n += 1;
            if let Some(c) = classify(px) {
                *counts.entry(c).or_default() += 1;
            }
        }
    }
    let shares: BTreeMap<Colour, f32> = counts
        .into_iter()
        .map(|(c, k)| (c, k as f32 / n.max(1) as f32))
        .filter(|(_, s)| *s >= 0.01)
        .map(|(c, s)| (c, (s * 1000.0).round() / 1000.0))
        .collect();
    let colour = shares.iter().filter(|(_, s)| **s >= DOMINANT_SHARE).map(|(c, _)| *c).next();
    let mean = sum.map(|s| (s / n.max(1) as u64) as u8);
    PaneSample { index, kind, region, colour, shares, mean }
}

/// What a client expects to see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectation {
    /// The colour of the (first) main pane.
    pub main: Option<Colour>,
    /// The colours of the first thumbnails, in pane order (thumbnails after these are not
    /// checked: an empty 1:7 thumbnail slot shows the main picture beneath it).
    pub thumbnails: Vec<Colour>,
    /// The colours of the first panes, in pane order (mains first, then thumbnails).
    pub panes: Vec<Colour>,
    /// Colours that must not be present in any pane (a participant's own colour).
    pub absent: Vec<Colour>,
}

/// Checks one sampled picture against the expectation; the error says what is wrong.
pub fn evaluate(panes: &[PaneSample], e: &Expectation) -> Result<(), String> {
    let mut problems = Vec::new();
    if let Some(want) = e.main {
        match panes.iter().find(|p| p.kind == PaneKind::Main) {
            Some(p) if p.colour == Some(want) => {}
            Some(p) => problems.push(format!("main pane is {} not {want}", show(p.colour))),
            None => problems.push("no main pane".to_string()),
        }
    }
    let mut thumbnails = panes.iter().filter(|p| p.kind == PaneKind::Thumbnail);
    for (i, want) in e.thumbnails.iter().enumerate() {
        match thumbnails.next() {
            Some(p) if p.colour == Some(*want) => {}
            Some(p) => problems.push(format!("thumbnail {i} is {} not {want}", show(p.colour))),
            None => problems.push(format!("no thumbnail {i}")),
        }
    }
    for (i, want) in e.panes.iter().enumerate() {
        match panes.get(i) {
            Some(p) if p.colour == Some(*want) => {}
            Some(p) => problems.push(format!("pane {i} is {} not {want}", show(p.colour))),
            None => problems.push(format!("no pane {i}")),
        }
    }
    for c in &e.absent {
        for p in panes.iter().filter(|p| p.share(*c) >= PRESENT_SHARE) {
            problems.push(format!("{c} in pane {} ({:.0}%)", p.index, p.share(*c) * 100.0));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

fn show(c: Option<Colour>) -> &'static str {
    c.map_or("mixed", Colour::name)
}

/// Whether any pane shows `c` (a share of at least [`PRESENT_SHARE`]).
pub fn present(panes: &[PaneSample], c: Colour) -> bool {
    panes.iter().any(|p| p.share(c) >= PRESENT_SHARE)
}

/// RMS level of S16 samples in dBov (0 = full scale; -127 for digital silence or no samples).
pub fn dbov(sum_squares: f64, samples: u64) -> f64 {
    if samples == 0 || sum_squares <= 0.0 {
        return -127.0;
    }
    let rms = (sum_squares / samples as f64).sqrt() / 32768.0;
    (20.0 * rms.log10()).max(-127.0)
}

/// Adds S16LE samples to a running (sum of squares, count).
pub fn accumulate_s16le(bytes: &[u8], acc: &mut (f64, u64)) {
    for s in bytes.chunks_exact(2) {
        let v = i16::from_le_bytes([s[0], s[1]]) as f64;
        acc.0 += v * v;
        acc.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame filled with `bg`, with `rects` painted in order.
    fn frame(w: u32, h: u32, bg: [u8; 3], rects: &[(Rect, [u8; 3])]) -> Vec<u8> {
        let mut d = vec![0u8; (w * h * 3) as usize];
        for y in 0..h {
            for x in 0..w {
                let mut c = bg;
                for (r, rc) in rects {
                    if x >= r.x && x < r.right() && y >= r.y && y < r.bottom() {
                        c = *rc;
                    }
                }
                let i = ((y * w + x) * 3) as usize;
                d[i..i + 3].copy_from_slice(&c);
            }
        }
        d
    }

    fn rgb(f: &[u8], w: u32, h: u32) -> RgbFrame<'_> {
        RgbFrame { width: w, height: h, stride: w as usize * 3, data: f }
    }

    /// A 1:7 composite as green would see it: red main, blue first thumbnail, the other thumbnail
    /// slots empty (the main shows through).
    fn composite(w: u32, h: u32, main: [u8; 3], thumb0: [u8; 3]) -> Vec<u8> {
        let p = panes(Layout::OneMainSevenPips, w, h);
        frame(w, h, [0, 0, 0], &[(p[0].rect, main), (p[1].rect, thumb0)])
    }

    #[test]
    fn classifies_coded_colours_and_refuses_in_between_ones() {
        assert_eq!(classify([250, 8, 3]), Some(Colour::Red));
        assert_eq!(classify([20, 230, 30]), Some(Colour::Green));
        assert_eq!(classify([16, 16, 235]), Some(Colour::Blue));
        assert_eq!(classify([16, 16, 16]), Some(Colour::Black));
        assert_eq!(classify([128, 128, 0]), None);
        assert_eq!(classify([128, 128, 128]), None);
    }

    #[test]
    fn argb_for_videotestsrc() {
        assert_eq!(Colour::Red.argb(), 0xffff0000);
        assert_eq!(Colour::Blue.argb(), 0xff0000ff);
    }

    #[test]
    fn main_region_leaves_out_the_thumbnail_row_of_1_7() {
        let regions = sample_regions(Layout::OneMainSevenPips, 320, 180);
        let p = panes(Layout::OneMainSevenPips, 320, 180);
        assert_eq!(regions.len(), 8);
        let (kind, main) = regions[0];
        assert_eq!(kind, PaneKind::Main);
        assert!(main.bottom() <= p[1].rect.y, "{main:?} overlaps the thumbnails {:?}", p[1].rect);
        for (i, (_, r)) in regions.iter().enumerate() {
            assert!(r.w > 0 && r.h > 0 && p[i].rect.contains(r), "{i}: {r:?}");
        }
        // 1:0 is the whole frame, inset.
        let one = sample_regions(Layout::OneMainZeroPips, 320, 180);
        assert_eq!(one, vec![(PaneKind::Main, Rect::new(64, 36, 192, 108))]);
    }

    #[test]
    fn reads_main_and_thumbnail_colours_of_a_composite() {
        let (w, h) = (320, 180);
        let f = composite(w, h, [240, 10, 10], [10, 10, 240]);
        let s = sample_panes(&rgb(&f, w, h), Layout::OneMainSevenPips);
        assert_eq!(s[0].colour, Some(Colour::Red));
        assert_eq!(s[1].colour, Some(Colour::Blue));
        // Empty thumbnail slots show the main underneath.
        assert!(s[2..].iter().all(|p| p.colour == Some(Colour::Red)));
        let green_view = Expectation { main: Some(Colour::Red), thumbnails: vec![Colour::Blue], absent: vec![Colour::Green], ..Default::default() };
        assert_eq!(evaluate(&s, &green_view), Ok(()));
    }

    #[test]
    fn fails_when_an_expected_colour_is_missing_or_the_own_colour_is_shown() {
        let (w, h) = (320, 180);
        // Blue is absent (the thumbnail is black).
        let f = composite(w, h, [255, 0, 0], [0, 0, 0]);
        let s = sample_panes(&rgb(&f, w, h), Layout::OneMainSevenPips);
        let e = Expectation { main: Some(Colour::Red), thumbnails: vec![Colour::Blue], absent: vec![Colour::Green], ..Default::default() };
        assert_eq!(evaluate(&s, &e), Err("thumbnail 0 is black not blue".to_string()));
        // The wrong speaker in the main pane.
        let f = composite(w, h, [0, 0, 255], [255, 0, 0]);
        let s = sample_panes(&rgb(&f, w, h), Layout::OneMainSevenPips);
        let err = evaluate(&s, &e).unwrap_err();
        assert!(err.contains("main pane is blue not red") && err.contains("thumbnail 0 is red not blue"), "{err}");
        // The viewer's own colour in a thumbnail.
        let f = composite(w, h, [255, 0, 0], [0, 255, 0]);
        let s = sample_panes(&rgb(&f, w, h), Layout::OneMainSevenPips);
        assert!(present(&s, Colour::Green));
        let err = evaluate(&s, &Expectation { absent: vec![Colour::Green], ..Default::default() }).unwrap_err();
        assert!(err.contains("green in pane 1"), "{err}");
    }

    #[test]
    fn grid_panes_are_checked_in_order() {
        let (w, h) = (320, 180);
        let p = panes(Layout::FourMainsZeroPips, w, h);
        let f = frame(w, h, [0, 0, 0], &[(p[0].rect, [255, 0, 0]), (p[1].rect, [0, 0, 255])]);
        let s = sample_panes(&rgb(&f, w, h), Layout::FourMainsZeroPips);
        let colours: Vec<Option<Colour>> = s.iter().map(|p| p.colour).collect();
        assert_eq!(colours, [Some(Colour::Red), Some(Colour::Blue), Some(Colour::Black), Some(Colour::Black)]);
        let e = |panes: Vec<Colour>| Expectation { panes, absent: vec![Colour::Green], ..Default::default() };
        use Colour::*;
        assert_eq!(evaluate(&s, &e(vec![Red, Blue, Black, Black])), Ok(()));
        assert_eq!(evaluate(&s, &e(vec![Blue, Red])), Err("pane 0 is red not blue; pane 1 is blue not red".to_string()));
        assert_eq!(evaluate(&s, &e(vec![Red, Blue, Black, Black, Black])), Err("no pane 4".to_string()));
    }

    #[test]
    fn a_half_and_half_pane_has_no_dominant_colour() {
        let (w, h) = (320, 180);
        let f = frame(w, h, [255, 0, 0], &[(Rect::new(160, 0, 160, 180), [0, 255, 0])]);
        let s = sample_panes(&rgb(&f, w, h), Layout::OneMainZeroPips);
        assert_eq!(s[0].colour, None);
        assert!((s[0].share(Colour::Green) - 0.5).abs() < 0.01);
        assert!(evaluate(&s, &Expectation { main: Some(Colour::Red), ..Default::default() }).is_err());
        assert!(evaluate(&s, &Expectation { absent: vec![Colour::Green], ..Default::default() }).is_err());
    }

    #[test]
    fn stride_padding_is_skipped() {
        let (w, h) = (6, 4);
        let stride = 20; // 18 bytes of pixels + 2 of padding
        let mut d = vec![0xffu8; stride * h as usize];
        for y in 0..h as usize {
            for x in 0..w as usize {
                d[y * stride + x * 3..y * stride + x * 3 + 3].copy_from_slice(&[0, 0, 255]);
            }
        }
        let f = RgbFrame { width: w, height: h, stride, data: &d };
        let s = sample_region(&f, 0, PaneKind::Main, Rect::new(0, 0, w, h));
        assert_eq!(s.colour, Some(Colour::Blue));
        assert_eq!(s.mean, [0, 0, 255]);
    }

    #[test]
    fn audio_levels() {
        assert_eq!(dbov(0.0, 100), -127.0);
        assert_eq!(dbov(1.0, 0), -127.0);
        let mut acc = (0.0, 0);
        // A full-scale square wave is 0 dBov.
        let bytes: Vec<u8> = (0..100).flat_map(|i| if i % 2 == 0 { 32767i16 } else { -32767 }.to_le_bytes()).collect();
        accumulate_s16le(&bytes, &mut acc);
        assert!(dbov(acc.0, acc.1).abs() < 0.01);
        // A tenth of full scale is -20 dBov.
        let mut acc = (0.0, 0);
        accumulate_s16le(&3277i16.to_le_bytes().repeat(50), &mut acc);
        assert!((dbov(acc.0, acc.1) + 20.0).abs() < 0.05);
    }
}
