//! Pane rectangles, in pixels, for each layout at a given output size.
//!
//! **Stage.** Every layout is drawn on a 16:9 *stage*: the largest 16:9 rectangle with even sides
//! that fits the output, centred (even offsets). A 16:9 output is its own stage; a 4:3 output gets
//! black bars above and below, so panes stay 16:9 whatever the endpoint asks for.
//!
//! **Grid units.** Each layout is specified on an `n × n` grid over the stage (`n` per layout).
//! Because the stage is 16:9, a square of grid cells is a 16:9 rectangle. A pane edge at grid line
//! `u` lands on pixel `stage + even_floor(u · side / n)`; panes that share a grid line therefore
//! share a pixel edge exactly (no gaps, no overlaps), every coordinate and size is even (I420), and
//! rounding moves an edge by at most 2 px, so panes are 16:9 to within that.
//!
//! **The layouts.** Pexip documents what each shows (terraform-provider-infinity help text:
//! "large main speaker and up to 7 other participants", "main speaker and up to 21 other
//! participants", "two main speakers and up to 21 other participants", "2x2/3x3/4x4/5x5"), and its
//! layout pictures (docs.pexip.com `changing_layout.htm`) show thumbnails in rows of seven along
//! the bottom. Exact proportions are not published; these are ours:
//!
//! | layout | grid | main(s) | thumbnails |
//! |---|---|---|---|
//! | 1:0 | 1 | whole stage | none |
//! | 1:7 | 7 | whole stage | 1 row of 7 cells (1/7 of the stage each) along the bottom, **overlaid on the main** |
//! | 1:21 | 14 | 8/14 of the stage, top, centred | 3 rows of 7 (2/14 each) below it |
//! | 2:21 | 28 | two halves side by side, 1/28 from the top | 3 rows of 7 (4/28 each) below them |
//! | 2x2 … 5x5 | k | k × k equal cells tiling the stage | none |
//!
//! 1:7 is the one overlay: the main speaker keeps the full frame (as Pexip's "large main
//! speaker") and the thumbnail row covers its bottom seventh (usually shoulders or a table).
//! Thumbnails have a higher [`Pane::zorder`] so the compositor draws them on top. Every other
//! layout has no overlap at all.
//!
//! Outputs smaller than the grid produce zero-sized panes rather than an error; the compositor
//! should skip those.

use super::catalog::Layout;

/// An axis-aligned rectangle in output pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl Rect {
    /// Builds a rectangle.
    pub const fn new(x: u32, y: u32, w: u32, h: u32) -> Rect {
        Rect { x, y, w, h }
    }

    /// One past the right edge.
    pub fn right(&self) -> u32 {
        self.x + self.w
    }

    /// One past the bottom edge.
    pub fn bottom(&self) -> u32 {
        self.y + self.h
    }

    /// Area in pixels.
    pub fn area(&self) -> u64 {
        self.w as u64 * self.h as u64
    }

    /// Whether the two rectangles share at least one pixel.
    pub fn intersects(&self, other: &Rect) -> bool {
        self.x < other.right() && other.x < self.right() && self.y < other.bottom() && other.y < self.bottom()
    }

    /// Whether `other` lies entirely inside this rectangle.
    pub fn contains(&self, other: &Rect) -> bool {
        other.x >= self.x && other.y >= self.y && other.right() <= self.right() && other.bottom() <= self.bottom()
    }
}

/// A main pane or a thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaneKind {
    /// A main (large) pane; every pane of a grid layout is a main.
    Main,
    /// A thumbnail ("pip").
    Thumbnail,
}

/// One pane of a layout at a given output size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pane {
    /// Main or thumbnail.
    pub kind: PaneKind,
    /// Where it is drawn.
    pub rect: Rect,
    /// Drawing order for the compositor: higher is drawn on top (thumbnails over the 1:7 main).
    pub zorder: u32,
}

/// A pane in grid units: `(x, y, w, h)` out of the layout's grid size.
type Cell = (u32, u32, u32, u32);

/// The layout's grid size and its panes in assignment order: mains first, then thumbnails left to
/// right, top to bottom.
fn cells(layout: Layout) -> (u32, Vec<(PaneKind, Cell)>) {
    use PaneKind::*;
    let thumbs = |origin_row: u32, size: u32, rows: u32| {
        (0..rows).flat_map(move |r| (0..7).map(move |c| (Thumbnail, (c * size, origin_row + r * size, size, size))))
    };
    match layout {
        Layout::OneMainZeroPips => (1, vec![(Main, (0, 0, 1, 1))]),
        Layout::OneMainSevenPips => (7, std::iter::once((Main, (0, 0, 7, 7))).chain(thumbs(6, 1, 1)).collect()),
        Layout::OneMainTwentyOnePips => (14, std::iter::once((Main, (3, 0, 8, 8))).chain(thumbs(8, 2, 3)).collect()),
        Layout::TwoMainsTwentyOnePips => {
            (28, [(Main, (0, 1, 14, 14)), (Main, (14, 1, 14, 14))].into_iter().chain(thumbs(16, 4, 3)).collect())
        }
        Layout::FourMainsZeroPips => grid(2),
        Layout::NineMainsZeroPips => grid(3),
        Layout::SixteenMainsZeroPips => grid(4),
        Layout::TwentyFiveMainsZeroPips => grid(5),
    }
}

fn grid(k: u32) -> (u32, Vec<(PaneKind, Cell)>) {
    (k, (0..k).flat_map(|r| (0..k).map(move |c| (PaneKind::Main, (c, r, 1, 1)))).collect())
}

fn even_floor(v: u64) -> u32 {
    (v & !1) as u32
}

/// The 16:9 stage for an output: the largest 16:9 rectangle with even sides that fits, centred
/// on even offsets.
pub fn stage(width: u32, height: u32) -> Rect {
    let (we, he) = (width & !1, height & !1);
    let (w, h) = if we as u64 * 9 >= he as u64 * 16 {
        (even_floor(he as u64 * 16 / 9), he)
    } else {
        (we, even_floor(we as u64 * 9 / 16))
    };
    Rect::new(even_floor(((width - w) / 2) as u64), even_floor(((height - h) / 2) as u64), w, h)
}

/// The panes of `layout` on a `width × height` output, in assignment order: main pane(s) first,
/// then thumbnails left to right, top to bottom. There are always [`Layout::capacity`] of them.
pub fn panes(layout: Layout, width: u32, height: u32) -> Vec<Pane> {
    let stage = stage(width, height);
    let (n, cells) = cells(layout);
    let edge = |u: u32, side: u32| even_floor(u as u64 * side as u64 / n as u64);
    cells
        .into_iter()
        .map(|(kind, (cx, cy, cw, ch))| {
            let (x0, x1) = (edge(cx, stage.w), edge(cx + cw, stage.w));
            let (y0, y1) = (edge(cy, stage.h), edge(cy + ch, stage.h));
            Pane {
                kind,
                rect: Rect::new(stage.x + x0, stage.y + y0, x1 - x0, y1 - y0),
                zorder: match kind {
                    PaneKind::Main => 0,
                    PaneKind::Thumbnail => 1,
                },
            }
        })
        .collect()
}

impl Layout {
    /// The panes of this layout on a `width × height` output; see [`panes`].
    pub fn panes(self, width: u32, height: u32) -> Vec<Pane> {
        panes(self, width, height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_even(r: &Rect) -> bool {
        [r.x, r.y, r.w, r.h].iter().all(|v| v.is_multiple_of(2))
    }

    /// Overlap is allowed only between a 1:7 thumbnail and the main beneath it.
    fn overlap_allowed(layout: Layout, a: &Pane, b: &Pane) -> bool {
        layout == Layout::OneMainSevenPips && a.kind != b.kind
    }

    /// Every invariant the compositor relies on, for one layout at one size.
    fn check(layout: Layout, width: u32, height: u32) {
        let frame = Rect::new(0, 0, width, height);
        let stage = stage(width, height);
        let panes = panes(layout, width, height);
        let ctx = format!("{layout} at {width}x{height}");
        assert_eq!(panes.len(), layout.capacity(), "{ctx}");
        assert_eq!(panes.iter().filter(|p| p.kind == PaneKind::Main).count(), layout.mains(), "{ctx}");
        assert!(panes[..layout.mains()].iter().all(|p| p.kind == PaneKind::Main), "mains come first: {ctx}");
        for p in &panes {
            assert!(frame.contains(&p.rect), "{ctx}: {p:?} outside the frame");
            assert!(stage.contains(&p.rect), "{ctx}: {p:?} outside the stage");
            assert!(is_even(&p.rect), "{ctx}: {p:?} not even");
            assert!(p.rect.w > 0 && p.rect.h > 0, "{ctx}: {p:?} empty");
            // 16:9 to within the 2 px each edge may move.
            let (w, h) = (p.rect.w as i64, p.rect.h as i64);
            assert!((w * 9 - h * 16).abs() <= 2 * 16 + 2 * 9, "{ctx}: {p:?} not 16:9");
        }
        for (i, a) in panes.iter().enumerate() {
            for b in &panes[i + 1..] {
                if a.rect.intersects(&b.rect) {
                    assert!(overlap_allowed(layout, a, b), "{ctx}: {a:?} overlaps {b:?}");
                    let (main, thumb) = if a.kind == PaneKind::Main { (a, b) } else { (b, a) };
                    assert!(thumb.zorder > main.zorder, "{ctx}: thumbnails are drawn over the main");
                }
            }
        }
        let thumb_max = panes.iter().filter(|p| p.kind == PaneKind::Thumbnail).map(|p| p.rect.area()).max();
        let main_min = panes.iter().filter(|p| p.kind == PaneKind::Main).map(|p| p.rect.area()).min().unwrap();
        if let Some(thumb_max) = thumb_max {
            assert!(main_min > 4 * thumb_max, "{ctx}: main {main_min} not much bigger than thumbnails {thumb_max}");
        }
    }

    #[test]
    fn every_layout_holds_its_invariants_at_common_sizes() {
        for (w, h) in [(1920, 1080), (1280, 720), (960, 540), (640, 360), (320, 180)] {
            for layout in Layout::ALL {
                check(layout, w, h);
            }
        }
    }

    #[test]
    fn every_layout_holds_its_invariants_at_odd_and_non_16_9_sizes() {
        for (w, h) in [
            (1279, 719),
            (1281, 721),
            (641, 361),
            (639, 359),
            (321, 181),
            (177, 99),
            (640, 480),
            (352, 288),
            (1024, 768),
            (720, 1280),
            (1366, 768),
            (3840, 1080),
        ] {
            for layout in Layout::ALL {
                check(layout, w, h);
            }
        }
    }

    #[test]
    fn the_stage_is_the_largest_centred_even_16_9_rectangle() {
        assert_eq!(stage(1280, 720), Rect::new(0, 0, 1280, 720));
        assert_eq!(stage(640, 360), Rect::new(0, 0, 640, 360));
        assert_eq!(stage(640, 480), Rect::new(0, 60, 640, 360));
        assert_eq!(stage(1279, 719), Rect::new(0, 0, 1276, 718));
        assert_eq!(stage(2000, 720), Rect::new(360, 0, 1280, 720));
        assert_eq!(stage(0, 0), Rect::new(0, 0, 0, 0));
        assert_eq!(stage(1, 1), Rect::new(0, 0, 0, 0));
    }

    #[test]
    fn tiny_outputs_do_not_panic() {
        for (w, h) in [(0, 0), (1, 1), (2, 2), (15, 9), (16, 9), (31, 17), (u32::MAX, u32::MAX)] {
            for layout in Layout::ALL {
                let panes = panes(layout, w, h);
                assert_eq!(panes.len(), layout.capacity());
                let frame = Rect::new(0, 0, w, h);
                assert!(panes.iter().all(|p| frame.contains(&p.rect) && is_even(&p.rect)));
            }
        }
    }

    #[test]
    fn one_plus_zero_is_the_whole_frame() {
        let p = panes(Layout::OneMainZeroPips, 1280, 720);
        assert_eq!(p, vec![Pane { kind: PaneKind::Main, rect: Rect::new(0, 0, 1280, 720), zorder: 0 }]);
    }

    #[test]
    fn one_plus_seven_at_720p() {
        let p = panes(Layout::OneMainSevenPips, 1280, 720);
        assert_eq!(p[0].rect, Rect::new(0, 0, 1280, 720));
        let thumbs: Vec<Rect> = p[1..].iter().map(|p| p.rect).collect();
        // Edges at even_floor(k * 1280 / 7) and even_floor(6 * 720 / 7) = 616.
        let xs = [0, 182, 364, 548, 730, 914, 1096, 1280];
        for (i, r) in thumbs.iter().enumerate() {
            assert_eq!(*r, Rect::new(xs[i], 616, xs[i + 1] - xs[i], 104), "thumbnail {i}");
        }
        // A row along the bottom, edge to edge, left to right.
        assert_eq!(thumbs.last().unwrap().right(), 1280);
        assert!(thumbs.iter().all(|r| r.bottom() == 720));
    }

    #[test]
    fn one_plus_twentyone_at_720p() {
        let p = panes(Layout::OneMainTwentyOnePips, 1280, 720);
        // Main: grid lines 3..11 of 14 horizontally, 0..8 vertically.
        assert_eq!(p[0].rect, Rect::new(274, 0, 730, 410));
        // Three rows of seven below it, in reading order.
        let rows: Vec<u32> = p[1..].iter().map(|p| p.rect.y).collect();
        assert_eq!(&rows[..7], &[410; 7]);
        assert_eq!(&rows[7..14], &[514; 7]);
        assert_eq!(&rows[14..], &[616; 7]);
        assert!(p[1..].iter().all(|t| t.rect.y >= p[0].rect.bottom()));
        assert_eq!(p[21].rect.bottom(), 720);
        assert_eq!(p[21].rect.right(), 1280);
    }

    #[test]
    fn two_plus_twentyone_at_720p() {
        let p = panes(Layout::TwoMainsTwentyOnePips, 1280, 720);
        assert_eq!(p[0].rect, Rect::new(0, 24, 640, 360));
        assert_eq!(p[1].rect, Rect::new(640, 24, 640, 360));
        assert!(p[2..].iter().all(|t| t.rect.y >= 384 && t.rect.bottom() <= 720));
        assert_eq!(p[2].rect.y, 410);
    }

    #[test]
    fn grids_tile_the_stage_exactly() {
        for layout in [
            Layout::FourMainsZeroPips,
            Layout::NineMainsZeroPips,
            Layout::SixteenMainsZeroPips,
            Layout::TwentyFiveMainsZeroPips,
        ] {
            for (w, h) in [(1280, 720), (640, 360), (1279, 719), (640, 480)] {
                let s = stage(w, h);
                let total: u64 = panes(layout, w, h).iter().map(|p| p.rect.area()).sum();
                assert_eq!(total, s.area(), "{layout} at {w}x{h}");
            }
        }
        let p = panes(Layout::FourMainsZeroPips, 1280, 720);
        let rects: Vec<Rect> = p.iter().map(|p| p.rect).collect();
        assert_eq!(
            rects,
            [
                Rect::new(0, 0, 640, 360),
                Rect::new(640, 0, 640, 360),
                Rect::new(0, 360, 640, 360),
                Rect::new(640, 360, 640, 360)
            ]
        );
    }

    #[test]
    fn a_4_3_output_is_letterboxed() {
        let p = panes(Layout::FourMainsZeroPips, 640, 480);
        assert_eq!(p[0].rect, Rect::new(0, 60, 320, 180));
        assert_eq!(p[3].rect, Rect::new(320, 240, 320, 180));
    }

    #[test]
    fn thumbnails_are_all_about_the_same_size() {
        for layout in [Layout::OneMainSevenPips, Layout::OneMainTwentyOnePips, Layout::TwoMainsTwentyOnePips] {
            let p = panes(layout, 1280, 720);
            let ws: Vec<u32> = p.iter().filter(|p| p.kind == PaneKind::Thumbnail).map(|p| p.rect.w).collect();
            let (min, max) = (ws.iter().min().unwrap(), ws.iter().max().unwrap());
            assert!(max - min <= 2, "{layout}: {ws:?}");
        }
    }

    #[test]
    fn rect_helpers() {
        let a = Rect::new(0, 0, 10, 10);
        assert!(a.intersects(&Rect::new(9, 9, 2, 2)));
        assert!(!a.intersects(&Rect::new(10, 0, 2, 2)), "touching edges do not overlap");
        assert!(!a.intersects(&Rect::new(0, 0, 0, 0)));
        assert!(a.contains(&Rect::new(2, 2, 8, 8)));
        assert!(!a.contains(&Rect::new(2, 2, 9, 8)));
        assert_eq!(a.area(), 100);
    }
}
