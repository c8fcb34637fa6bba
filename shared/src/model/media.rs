//! Files people send: what a file is (from its bytes, never its name), the unguessable names files are stored
//! under, and photos made safe to share — re-encoded (which drops EXIF, GPS among it), oriented, bounded in size,
//! with mesibo's 100×100 thumbnail.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use super::clock::Timestamp;
use super::secrets::random_name;
use crate::error::ApiError;

/// mesibo's thumbnail: 100×100, centre-cropped, JPEG (its PHP backend writes quality 50).
pub const THUMBNAIL_SIDE: u32 = 100;
/// A stored profile or group photo is at most this wide and high: a phone shows it full-screen at most.
pub const PHOTO_MAX_SIDE: u32 = 1280;
/// Thumbnails travel inside contact lists and notifications; above this many bytes the quality is lowered.
pub const THUMBNAIL_MAX_BYTES: usize = 4096;
/// Decoding a larger picture is refused before its pixels are allocated: 40 MP decode to 120 MB (a phone's 12 MP
/// photo to 36 MB), which with the re-encoding stays well inside the functions' 1024 MB.
pub const MAX_MEGAPIXELS: u32 = 40;
/// Hex digits of a stored name's random part (128 bits), so a name is not guessable.
const NAME_HEX_DIGITS: usize = 32;

/// What a file is, judged from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileType {
    pub mime: &'static str,
    pub extension: &'static str,
}

impl FileType {
    pub const JPEG: Self = Self { mime: "image/jpeg", extension: "jpg" };
    pub const PNG: Self = Self { mime: "image/png", extension: "png" };
    const TEXT: Self = Self { mime: "text/plain; charset=utf-8", extension: "txt" };

    /// The types accepted as chat attachments: pictures, video, audio, documents. Anything else (executables,
    /// HTML, SVG, which a browser would run) is refused.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if let Some(kind) = infer::get(bytes) {
            return ACCEPTED
                .iter()
                .find(|(mime, _)| *mime == kind.mime_type())
                .map(|(mime, extension)| Self { mime, extension });
        }
        // A file's start may end inside a character: only an invalid sequence before the end makes it no text.
        let utf8 = std::str::from_utf8(bytes).map_or_else(|e| e.error_len().is_none(), |_| true);
        let text = !bytes.is_empty() && !bytes.contains(&0) && utf8;
        // Checked throughout what was read (a direct upload's first 8 KB; its downloads are attachments anyway).
        let markup = bytes.contains(&b'<');
        (text && !markup).then_some(Self::TEXT)
    }

    pub fn is_image(self) -> bool {
        image_format(self.mime).is_some()
    }

    /// Pictures that may carry metadata (EXIF, XMP: GPS among it), so they are stored rewritten, never as sent:
    /// re-encoded, or (GIFs, which may be animated) with their metadata blocks dropped.
    pub fn is_recoded(self) -> bool {
        matches!(self.mime, "image/jpeg" | "image/png" | "image/webp" | "image/gif")
    }

    /// The type of a stored name, from its extension (ours, chosen when the file was sniffed).
    pub fn of_name(name: &str) -> Option<Self> {
        let extension = name.rsplit_once('.')?.1;
        if extension == Self::TEXT.extension {
            return Some(Self::TEXT);
        }
        ACCEPTED.iter().find(|(_, ext)| *ext == extension).map(|(mime, extension)| Self { mime, extension })
    }
}

/// Sniffed MIME type → the extension stored names get.
const ACCEPTED: &[(&str, &str)] = &[
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("image/gif", "gif"),
    ("image/webp", "webp"),
    ("video/mp4", "mp4"),
    ("video/quicktime", "mov"),
    ("video/3gpp", "3gp"),
    ("video/webm", "webm"),
    ("video/x-matroska", "mkv"),
    ("audio/mpeg", "mp3"),
    ("audio/m4a", "m4a"),
    ("audio/x-m4a", "m4a"),
    ("audio/aac", "aac"),
    ("audio/ogg", "ogg"),
    ("audio/opus", "opus"),
    ("audio/amr", "amr"),
    ("audio/x-wav", "wav"),
    ("audio/x-flac", "flac"),
    ("application/pdf", "pdf"),
    ("application/zip", "zip"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx"),
    ("application/msword", "doc"),
    ("application/vnd.ms-excel", "xls"),
    ("application/vnd.ms-powerpoint", "ppt"),
];

fn image_format(mime: &str) -> Option<ImageFormat> {
    match mime {
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/png" => Some(ImageFormat::Png),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

/// What a stored file is for: it decides the name's first letter, and so the bucket prefix (attachments expire by
/// the bucket's lifecycle rule; photos live as long as a profile or group shows them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilePurpose {
    Photo,
    Attachment,
}

/// The name a stored file is known by (`p1764140000-9f86d081884c7d659a2feaa0c55ad015.jpg`): what clients put after
/// `urls.download`, and (with its purpose's prefix) the object key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    pub fn generate(purpose: FilePurpose, file_type: FileType, now: Timestamp) -> Self {
        let hex = random_name();
        let letter = match purpose {
            FilePurpose::Photo => 'p',
            FilePurpose::Attachment => 'a',
        };
        Self(format!("{letter}{now}-{hex}.{}", file_type.extension))
    }

    /// Only names this backend makes: anything else (paths, other buckets' keys) is no file here.
    pub fn parse(input: &str) -> Option<Self> {
        let (purpose, rest) = input.split_at_checked(1)?;
        let (stem, extension) = rest.rsplit_once('.')?;
        let (time, hex) = stem.split_once('-')?;
        let valid = matches!(purpose, "p" | "a")
            && !time.is_empty()
            && time.len() <= 12
            && time.bytes().all(|b| b.is_ascii_digit())
            && hex.len() == NAME_HEX_DIGITS
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            && FileType::of_name(input).is_some_and(|t| t.extension == extension);
        valid.then(|| Self(input.to_owned()))
    }

    pub fn purpose(&self) -> FilePurpose {
        if self.0.starts_with('p') { FilePurpose::Photo } else { FilePurpose::Attachment }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A profile or group photo, ready to store: a JPEG without metadata, and its thumbnail.
pub struct Photo {
    pub jpeg: Vec<u8>,
    pub thumbnail: Vec<u8>,
}

impl Photo {
    /// Decodes any picture a phone sends (JPEG, PNG, WebP, GIF: judged from the bytes), turns it upright (EXIF
    /// orientation), bounds it to [`PHOTO_MAX_SIDE`] and re-encodes it as JPEG; the thumbnail is mesibo's
    /// 100×100 centre crop.
    pub fn from_upload(bytes: &[u8]) -> Result<Self, ApiError> {
        let file_type = FileType::sniff(bytes).filter(|t| t.is_image()).ok_or(ApiError::BadImage)?;
        let (picture, orientation) = decode(bytes, file_type)?;
        // Shrunk first (area averaging, no full-size intermediate), turned upright after: memory stays at the
        // decoded picture plus the small one.
        let mut picture = if picture.width() > PHOTO_MAX_SIDE || picture.height() > PHOTO_MAX_SIDE {
            picture.thumbnail(PHOTO_MAX_SIDE, PHOTO_MAX_SIDE)
        } else {
            picture
        };
        picture.apply_orientation(orientation);
        Ok(Self { jpeg: jpeg(&picture, 85)?, thumbnail: thumbnail(&picture)? })
    }
}

/// A chat attachment, ready to store: pictures re-encoded (so no GPS or camera data leaves the phone with them),
/// GIFs (which may be animated) without their metadata blocks, everything else as sent.
pub fn clean_attachment(bytes: Vec<u8>) -> Result<(Vec<u8>, FileType), ApiError> {
    let file_type = FileType::sniff(&bytes).ok_or(ApiError::UnsupportedFile)?;
    if !file_type.is_recoded() {
        return Ok((bytes, file_type));
    }
    if file_type.mime == "image/gif" {
        return Ok((gif_without_metadata(&bytes)?, file_type));
    }
    let (mut picture, orientation) = decode(&bytes, file_type)?;
    drop(bytes);
    picture.apply_orientation(orientation);
    if file_type == FileType::PNG {
        let mut out = Cursor::new(vec![]);
        picture.write_to(&mut out, ImageFormat::Png).map_err(|_| ApiError::BadImage)?;
        return Ok((out.into_inner(), FileType::PNG));
    }
    Ok((jpeg(&picture, 90)?, FileType::JPEG))
}

/// A GIF without its metadata: comment and plain-text extensions, and every application extension but the
/// animation loop's (`NETSCAPE2.0`, `ANIMEXTS1.0`), are dropped (XMP, which may hold GPS, is one); frames, palettes
/// and timing are copied as they are. A GIF whose blocks do not parse is refused; one cut short after a whole block
/// is ended there.
fn gif_without_metadata(bytes: &[u8]) -> Result<Vec<u8>, ApiError> {
    const TRAILER: u8 = 0x3B;
    let bad = || ApiError::BadImage;
    let header = bytes.get(..13).ok_or_else(bad)?;
    if !(header.starts_with(b"GIF87a") || header.starts_with(b"GIF89a")) {
        return Err(bad());
    }
    let color_table = |flags: u8| if flags & 0x80 != 0 { 3 << ((flags & 0x07) + 1) } else { 0 };
    let mut at = 13 + color_table(header[10]);
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes.get(..at).ok_or_else(bad)?);
    loop {
        match bytes.get(at) {
            None | Some(&TRAILER) => {
                out.push(TRAILER);
                return Ok(out);
            }
            Some(0x2C) => {
                let descriptor = bytes.get(at..at + 10).ok_or_else(bad)?;
                // The descriptor, its colour table, the LZW code size, then the image data's sub-blocks.
                let end = sub_blocks_end(bytes, at + 10 + color_table(descriptor[9]) + 1)?;
                out.extend_from_slice(&bytes[at..end]);
                at = end;
            }
            Some(0x21) => {
                let label = *bytes.get(at + 1).ok_or_else(bad)?;
                let end = sub_blocks_end(bytes, at + 2)?;
                let block = &bytes[at..end];
                let kept = match label {
                    0xF9 => true,
                    0xFF => block.get(2..14).is_some_and(|id| id == b"\x0bNETSCAPE2.0" || id == b"\x0bANIMEXTS1.0"),
                    _ => false,
                };
                if kept {
                    out.extend_from_slice(block);
                }
                at = end;
            }
            Some(_) => return Err(bad()),
        }
    }
}

/// Where the data sub-blocks that start at `at` end (after their zero-length terminator).
fn sub_blocks_end(bytes: &[u8], mut at: usize) -> Result<usize, ApiError> {
    loop {
        let size = usize::from(*bytes.get(at).ok_or(ApiError::BadImage)?);
        at += 1 + size;
        if size == 0 {
            return if at <= bytes.len() { Ok(at) } else { Err(ApiError::BadImage) };
        }
    }
}

/// The picture and how to turn it upright (EXIF orientation), with its size checked before any pixel is decoded.
fn decode(bytes: &[u8], file_type: FileType) -> Result<(DynamicImage, Orientation), ApiError> {
    let bad = ApiError::BadImage;
    let format = image_format(file_type.mime).ok_or(bad.clone())?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    let max_pixels = u64::from(MAX_MEGAPIXELS) * 1_000_000;
    limits.max_alloc = Some(max_pixels * 4 + (64 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|_| bad.clone())?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(bad);
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let picture = DynamicImage::from_decoder(decoder).map_err(|_| bad)?;
    Ok((picture, orientation))
}

fn jpeg(picture: &DynamicImage, quality: u8) -> Result<Vec<u8>, ApiError> {
    let mut out = vec![];
    let mut encoder = JpegEncoder::new_with_quality(&mut out, quality);
    // JPEG has no alpha: anything but RGB is converted (transparent areas become black, as mesibo's PHP backend
    // makes them); a camera's RGB picture is encoded without a copy.
    let encoded = match picture {
        DynamicImage::ImageRgb8(rgb) => encoder.encode_image(rgb),
        other => encoder.encode_image(&other.to_rgb8()),
    };
    encoded.map_err(|_| ApiError::BadImage)?;
    Ok(out)
}

fn thumbnail(picture: &DynamicImage) -> Result<Vec<u8>, ApiError> {
    let small = picture.resize_to_fill(THUMBNAIL_SIDE, THUMBNAIL_SIDE, FilterType::Triangle);
    let mut quality = 50;
    loop {
        let encoded = jpeg(&small, quality)?;
        if encoded.len() <= THUMBNAIL_MAX_BYTES || quality <= 20 {
            return Ok(encoded);
        }
        quality -= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn photo_jpeg(width: u32, height: u32) -> Vec<u8> {
        let picture = RgbImage::from_fn(width, height, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
        let mut out = vec![];
        JpegEncoder::new_with_quality(&mut out, 90).encode_image(&picture).unwrap();
        out
    }

    /// A JPEG with an EXIF segment holding a GPS marker, as phones write them.
    fn with_exif(jpeg: &[u8]) -> Vec<u8> {
        let exif = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude=48.8584";
        let mut out = jpeg[..2].to_vec();
        out.extend([0xff, 0xe1]);
        out.extend(((exif.len() + 2) as u16).to_be_bytes());
        out.extend(exif);
        out.extend(&jpeg[2..]);
        out
    }

    #[test]
    fn photos_are_re_encoded_bounded_and_thumbnailed() {
        let sent = with_exif(&photo_jpeg(2000, 1000));
        assert!(sent.windows(11).any(|w| w == b"GPSLatitude"));
        let photo = Photo::from_upload(&sent).unwrap();
        assert!(!photo.jpeg.windows(11).any(|w| w == b"GPSLatitude"), "metadata is dropped");
        let stored = image::load_from_memory(&photo.jpeg).unwrap();
        assert_eq!((stored.width(), stored.height()), (PHOTO_MAX_SIDE, PHOTO_MAX_SIDE / 2));
        let thumbnail = image::load_from_memory_with_format(&photo.thumbnail, ImageFormat::Jpeg).unwrap();
        assert_eq!((thumbnail.width(), thumbnail.height()), (THUMBNAIL_SIDE, THUMBNAIL_SIDE));
        assert!(photo.thumbnail.len() <= THUMBNAIL_MAX_BYTES);
    }

    #[test]
    fn types_come_from_the_bytes_not_the_name() {
        assert_eq!(FileType::sniff(&photo_jpeg(8, 8)), Some(FileType::JPEG));
        assert_eq!(FileType::sniff(b"%PDF-1.7\n...").map(|t| t.extension), Some("pdf"));
        assert_eq!(FileType::sniff(b"hello, plain text").map(|t| t.extension), Some("txt"));
        assert_eq!(FileType::sniff(b"<html><script>alert(1)</script>"), None, "markup a browser would run");
        assert_eq!(FileType::sniff(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff"), None, "an executable");
        assert_eq!(FileType::sniff(b""), None);
        assert!(matches!(Photo::from_upload(b"%PDF-1.7\n"), Err(ApiError::BadImage)));
        assert!(matches!(Photo::from_upload(&photo_jpeg(8, 8)[..40]), Err(ApiError::BadImage)), "truncated");
        let cut_in_a_character = "tschüß".as_bytes();
        assert!(FileType::sniff(&cut_in_a_character[..cut_in_a_character.len() - 1]).is_some());
        assert_eq!(clean_attachment(b"MZ\x90\0\x03\0\0\0".to_vec()).unwrap_err(), ApiError::UnsupportedFile);
    }

    /// A small file declaring a huge picture (a decompression bomb) is refused before its pixels are allocated.
    #[test]
    fn pictures_over_the_pixel_limit_are_refused_unread() {
        let mut jpeg = photo_jpeg(8, 8);
        let frame = jpeg.windows(2).position(|w| w == [0xff, 0xc0]).expect("a baseline JPEG frame header");
        // Height and width after the marker, length and precision: 20000×20000, 1.2 GB decoded, from 700 bytes.
        jpeg[frame + 5..frame + 9].copy_from_slice(&[0x4e, 0x20, 0x4e, 0x20]);
        let started = std::time::Instant::now();
        assert!(matches!(Photo::from_upload(&jpeg), Err(ApiError::BadImage)));
        assert!(matches!(clean_attachment(jpeg), Err(ApiError::BadImage)));
        assert!(started.elapsed().as_millis() < 500, "refused from the header, not after decoding");
    }

    #[test]
    fn attachment_pictures_lose_their_metadata_other_files_are_kept() {
        let (stored, file_type) = clean_attachment(with_exif(&photo_jpeg(64, 48))).unwrap();
        assert_eq!(file_type, FileType::JPEG);
        assert!(!stored.windows(11).any(|w| w == b"GPSLatitude"));
        let pdf = b"%PDF-1.7\n%\xe2\xe3\n".to_vec();
        assert_eq!(clean_attachment(pdf.clone()).unwrap(), (pdf, FileType::sniff(b"%PDF-1.7").unwrap()));
    }

    #[test]
    fn names_are_unguessable_and_only_ours_parse() {
        let name = FileName::generate(FilePurpose::Photo, FileType::JPEG, 1_764_140_000);
        assert_eq!(FileName::parse(name.as_str()), Some(name.clone()));
        assert_eq!(name.purpose(), FilePurpose::Photo);
        assert_ne!(name, FileName::generate(FilePurpose::Photo, FileType::JPEG, 1_764_140_000));
        let attachment = FileName::generate(FilePurpose::Attachment, FileType::sniff(b"%PDF-").unwrap(), 1);
        assert_eq!(attachment.purpose(), FilePurpose::Attachment);
        assert!(attachment.as_str().ends_with(".pdf"));
        for bad in [
            "",
            "p",
            "../etc/passwd",
            "p1-abc.jpg",
            "x1764140000-9f86d081884c7d659a2feaa0c55ad015.jpg",
            "p1764140000-9f86d081884c7d659a2feaa0c55ad015.exe",
            "p1764140000-9F86D081884C7D659A2FEAA0C55AD015.jpg",
            "p1764140000-9f86d081884c7d659a2feaa0c55ad015.jpg/../x",
        ] {
            assert_eq!(FileName::parse(bad), None, "{bad}");
        }
    }
}

#[cfg(test)]
mod gif_tests {
    use super::*;

    const PIXEL: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff";
    const FRAME: &[u8] = b"!\xf9\x04\x01\x0a\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00";
    const LOOP: &[u8] = b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00";

    fn xmp_with_gps() -> Vec<u8> {
        let packet = b"<x:xmpmeta><exif:GPSLatitude>48,51.5N</exif:GPSLatitude></x:xmpmeta>";
        let mut block = b"!\xff\x0bXMP DataXMP".to_vec();
        for chunk in packet.chunks(255) {
            block.push(chunk.len() as u8);
            block.extend_from_slice(chunk);
        }
        block.push(0);
        block
    }

    #[test]
    fn a_gif_keeps_its_frames_and_loop_and_loses_xmp_and_comments() {
        let comment = b"!\xfe\x0cshot at home\x00";
        let sent = [PIXEL, LOOP, &xmp_with_gps(), comment, FRAME, FRAME, b";"].concat();
        let (stored, file_type) = clean_attachment(sent).unwrap();
        assert_eq!(file_type.mime, "image/gif");
        assert_eq!(stored, [PIXEL, LOOP, FRAME, FRAME, b";"].concat());
        assert!(image::load_from_memory_with_format(&stored, ImageFormat::Gif).is_ok());
    }

    #[test]
    fn a_gif_cut_short_ends_after_its_last_whole_block_and_broken_blocks_are_refused() {
        assert_eq!(gif_without_metadata(&[PIXEL, FRAME].concat()).unwrap(), [PIXEL, FRAME, b";"].concat());
        let cut = [PIXEL, &FRAME[..FRAME.len() - 3]].concat();
        assert_eq!(gif_without_metadata(&cut), Err(ApiError::BadImage));
        assert_eq!(gif_without_metadata(&[PIXEL, b"\x00"].concat()), Err(ApiError::BadImage));
    }

    #[test]
    fn markup_anywhere_in_a_text_file_makes_it_no_text() {
        let mut text = "a plain note\n".repeat(60).into_bytes();
        assert_eq!(FileType::sniff(&text).map(|t| t.extension), Some("txt"));
        text.extend_from_slice(b"<script>alert(1)</script>");
        assert_eq!(FileType::sniff(&text), None);
    }
}
