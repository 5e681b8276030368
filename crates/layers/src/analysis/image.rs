//! Tensors as pictures: a batch of 2-d maps (filters, feature maps, saliency
//! maps, inputs) laid out as a grid of tiles and saved as PNG.

use lamina_core::{Element, Tensor};
use std::io;
use std::path::Path;

/// How values become colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colormap {
    /// Lowest value black, highest white.
    Grey,
    /// Zero white, negative blue, positive red, symmetric in `|v|`: for
    /// weights and other signed values.
    Diverging,
}

/// Options of [`image_grid`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GridOptions {
    /// Tiles per row; `None`: about the square root of the tile count (default).
    pub columns: Option<usize>,
    /// Each value becomes a `scale × scale` block of pixels (4).
    pub scale: usize,
    /// Pixels between tiles and around the grid (2).
    pub padding: usize,
    /// Scale each tile's colours to its own range (`true`, default) or to the
    /// range of the whole tensor.
    pub per_tile: bool,
    /// The colour map ([`Colormap::Grey`]).
    pub colormap: Colormap,
}

impl Default for GridOptions {
    fn default() -> Self {
        GridOptions { columns: None, scale: 4, padding: 2, per_tile: true, colormap: Colormap::Grey }
    }
}

/// An 8-bit RGB image, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` RGB triples, row by row.
    pub pixels: Vec<u8>,
}

impl RgbImage {
    /// The colour of pixel `(x, y)`.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = 3 * (y * self.width + x);
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }
}

const BACKGROUND: [u8; 3] = [96, 96, 96];

/// The maps of `t` (its last two dimensions are a map's height and width; all
/// others are flattened into the list of tiles, so conv filters
/// `[out, in, kh, kw]` give `out × in` tiles) as one grid image.
///
/// ```
/// use lamina_core::Tensor;
/// use lamina_layers::analysis::{image_grid, GridOptions};
/// let maps = Tensor::<f32>::randn(&[6, 8, 8]);
/// let img = image_grid(&maps, &GridOptions { columns: Some(3), scale: 2, padding: 1, ..Default::default() });
/// assert_eq!((img.width, img.height), (3 * 16 + 4, 2 * 16 + 3));
/// ```
#[track_caller]
pub fn image_grid<E: Element>(t: &Tensor<E>, opts: &GridOptions) -> RgbImage {
    let at = std::panic::Location::caller();
    assert!(
        t.ndim() >= 2 && t.numel() > 0 && opts.scale > 0,
        "image_grid: need maps of at least 2 dims and a scale of at least 1 (shape {:?}, scale {}) at {}:{}",
        t.shape(),
        opts.scale,
        at.file(),
        at.line()
    );
    let (h, w) = (t.shape()[t.ndim() - 2], t.shape()[t.ndim() - 1]);
    let v = t.to_f64_vec();
    let tiles = v.len() / (h * w);
    let cols = opts.columns.unwrap_or_else(|| (tiles as f64).sqrt().ceil() as usize).clamp(1, tiles);
    let rows = tiles.div_ceil(cols);
    let (th, tw, pad) = (h * opts.scale, w * opts.scale, opts.padding);
    let width = cols * tw + (cols + 1) * pad;
    let height = rows * th + (rows + 1) * pad;
    let mut pixels = BACKGROUND.repeat(width * height);
    let global = range(&v);
    for (k, tile) in v.chunks(h * w).enumerate() {
        let (lo, hi) = if opts.per_tile { range(tile) } else { global };
        let (x0, y0) = (pad + (k % cols) * (tw + pad), pad + (k / cols) * (th + pad));
        for (i, &val) in tile.iter().enumerate() {
            let rgb = colour(val, lo, hi, opts.colormap);
            for dy in 0..opts.scale {
                for dx in 0..opts.scale {
                    let (x, y) = (x0 + (i % w) * opts.scale + dx, y0 + (i / w) * opts.scale + dy);
                    pixels[3 * (y * width + x)..][..3].copy_from_slice(&rgb);
                }
            }
        }
    }
    RgbImage { width, height, pixels }
}

/// The smallest and largest finite values.
fn range(v: &[f64]) -> (f64, f64) {
    v.iter().filter(|x| x.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

/// The colour of `v` on a map spanning `lo..hi`.
fn colour(v: f64, lo: f64, hi: f64, map: Colormap) -> [u8; 3] {
    let byte = |f: f64| (f.clamp(0.0, 1.0) * 255.0).round() as u8;
    match map {
        Colormap::Grey => {
            let f = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
            [byte(f); 3]
        }
        Colormap::Diverging => {
            let m = lo.abs().max(hi.abs());
            let f = if m > 0.0 { v / m } else { 0.0 };
            let fade = byte(1.0 - f.abs());
            if f >= 0.0 {
                [255, fade, fade]
            } else {
                [fade, fade, 255]
            }
        }
    }
}

/// The image as PNG bytes (8-bit RGB).
pub fn encode_png(img: &RgbImage) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, img.width as u32, img.height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(io::Error::other)?;
    writer.write_image_data(&img.pixels).map_err(io::Error::other)?;
    writer.finish().map_err(io::Error::other)?;
    Ok(out)
}

/// Writes the image to `path` as PNG.
pub fn write_png(path: impl AsRef<Path>, img: &RgbImage) -> io::Result<()> {
    std::fs::write(path, encode_png(img)?)
}
