//! Raster images (PNG) in and out through the `image` crate: figures, screenshots and
//! training snapshots are written atomically (temporary name, then rename).

use std::path::Path;

use image::ImageEncoder;

use crate::error::{Error, Result};

/// Encodes 8-bit RGB `pixels` (row-major, `width * height * 3`) as PNG bytes.
pub fn encode_png_rgb(width: u32, height: u32, pixels: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(pixels, width, height, image::ExtendedColorType::Rgb8)
        .map_err(std::io::Error::other)?;
    Ok(bytes)
}

/// Writes 8-bit RGB `pixels` as a PNG file, atomically.
pub fn write_rgb_png(path: &Path, width: u32, height: u32, pixels: &[u8]) -> Result<()> {
    let expected = width as usize * height as usize * 3;
    if pixels.len() != expected {
        return Err(Error::file(
            path,
            format!(
                "{} bytes for a {width}x{height} RGB image (expected {expected})",
                pixels.len()
            ),
        ));
    }
    let bytes = encode_png_rgb(width, height, pixels).map_err(|e| Error::io(path, e))?;
    super::atomic_write(path, |w| w.write_all(&bytes))
}

/// Reads a PNG (or any format the `image` crate decodes) as 8-bit RGB: (width, height,
/// pixels).
pub fn read_rgb(path: &Path) -> Result<(u32, u32, Vec<u8>)> {
    let img = image::open(path)
        .map_err(|e| Error::file(path, format!("not a readable image ({e})")))?
        .to_rgb8();
    let (w, h) = img.dimensions();
    Ok((w, h, img.into_raw()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip_and_size_check() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("x.png");
        let pixels: Vec<u8> = (0..4 * 3 * 3).map(|v| (v * 7) as u8).collect();
        write_rgb_png(&path, 4, 3, &pixels).expect("write");
        assert_eq!(read_rgb(&path).expect("read"), (4, 3, pixels.clone()));
        let err = write_rgb_png(&path, 5, 3, &pixels).expect_err("wrong size");
        assert!(err.to_string().contains("x.png"), "{err}");
        let bad = dir.path().join("bad.png");
        std::fs::write(&bad, b"nope").expect("write");
        assert!(
            read_rgb(&bad)
                .expect_err("garbage")
                .to_string()
                .contains("bad.png")
        );
    }
}
