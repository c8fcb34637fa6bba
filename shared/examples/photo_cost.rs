//! What a photo upload costs the function: time and peak memory to make a 12-megapixel camera JPEG safe to share
//! (decode, orient, bound to 1280 px, re-encode, 100×100 thumbnail: [`shared::model::media::Photo::from_upload`]).
//!
//! `cargo run --release -p shared --example photo_cost` writes a 4000×3000 JPEG with camera-like detail, then
//! measures in a fresh process of its own (so the generator's pixels are not in the peak): the median of 5 runs,
//! and the process's peak resident memory (VmHWM) before and after.

use std::time::Instant;

use image::codecs::jpeg::JpegEncoder;
use shared::model::media::Photo;

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or("VmHWM: 0 kB");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn camera_like(width: u32, height: u32) -> Vec<u8> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let noise = (seed % 24) as u8;
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let base = |f: f32| ((f * std::f32::consts::TAU).sin() * 90.0 + 120.0) as u8;
        image::Rgb([base(fx) + noise, base(fy + fx) + noise / 2, base(fy * 2.0) + noise])
    });
    let mut jpeg = vec![];
    JpegEncoder::new_with_quality(&mut jpeg, 92).encode_image(&picture).unwrap();
    jpeg
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        let path = std::env::temp_dir().join("photo_cost_12mp.jpg");
        std::fs::write(&path, camera_like(4000, 3000)).unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap()).arg(&path).status().unwrap();
        std::process::exit(status.code().unwrap_or(1));
    };
    let jpeg = std::fs::read(&path).unwrap();
    let before = peak_rss_kib();
    let mut times = vec![];
    let mut photo = None;
    for _ in 0..5 {
        let start = Instant::now();
        photo = Some(Photo::from_upload(&jpeg).expect("a valid JPEG"));
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let after = peak_rss_kib();
    let photo = photo.unwrap();
    println!("input: 4000x3000 JPEG, {:.1} MB", jpeg.len() as f64 / 1e6);
    println!("Photo::from_upload: median {:.0} ms (min {:.0}, max {:.0}) over 5 runs", times[2], times[0], times[4]);
    println!(
        "peak resident memory: {:.0} MiB before, {:.0} MiB after (+{:.0} MiB)",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after - before) as f64 / 1024.0
    );
    println!("stored photo: {:.0} KB JPEG; thumbnail: {} bytes", photo.jpeg.len() as f64 / 1e3, photo.thumbnail.len());
}
