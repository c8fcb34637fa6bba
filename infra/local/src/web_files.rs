//! The web client (`web/`), served by `make dev` beside the API as any static host would serve it: one flat folder,
//! `/` is `index.html`, nothing outside the folder is reachable.

use std::path::Path;

/// The file a `GET` of `path` names in `root`, with its content type; `None` for anything else.
pub fn find(root: &Path, path: &str) -> Option<(&'static str, Vec<u8>)> {
    let name = match path.strip_prefix('/')? {
        "" => "index.html",
        name => name,
    };
    // One plain file name: no folders, no dot files, so `..` and encoded tricks cannot leave the folder.
    if name.starts_with('.') || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
        return None;
    }
    let content_type = match name.rsplit_once('.')?.1 {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webmanifest" => "application/manifest+json",
        _ => return None,
    };
    Some((content_type, std::fs::read(root.join(name)).ok()?))
}
