//! The site a browser loads — the wasm, its JavaScript, the stylesheet and `public/`'s files —
//! carried in the binary, so `concur-console serve` works from any directory and an image copies
//! one file. `scripts/build.sh` writes the site, with a gzip and a brotli copy of each file,
//! before it builds the binary that embeds it. The binary derives the files (`main.rs`), not
//! this library: the library and everything under it are built while the site is, and only the
//! binary waits for the site. `LEPTOS_SITE_ROOT` serves a folder instead (development with
//! `cargo leptos watch`).

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::EmbeddedFile;

/// The files a binary carries, by their path in the site (its `rust_embed::Embed::get`).
pub type Files = fn(&str) -> Option<EmbeddedFile>;

/// Whether `files` hold a site (a binary built before its site holds none).
pub fn is_embedded(files: Files) -> bool {
    files("pkg/concur-console.js").is_some()
}

/// The file of `files` at `path` for a GET or HEAD, in the best encoding `headers` accept;
/// `None` when there is no such file (the pages' router answers).
pub fn file(files: Files, method: &Method, path: &str, headers: &HeaderMap) -> Option<Response> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let name = path.strip_prefix('/')?;
    if name.is_empty() || name.ends_with('/') || name.ends_with(".gz") || name.ends_with(".br") {
        return None;
    }
    let plain = files(name)?;
    let accepted = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (file, encoding) = [("br", ".br"), ("gzip", ".gz")]
        .into_iter()
        .filter(|(encoding, _)| accepts(accepted, encoding))
        .find_map(|(encoding, suffix)| {
            files(&format!("{name}{suffix}")).map(|f| (f, Some(encoding)))
        })
        .unwrap_or((plain, None));
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        StatusCode::OK.into_response()
    } else {
        file.data.into_owned().into_response()
    };
    let set = response.headers_mut();
    set.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    // The names carry no hash: a browser asks again each time, and the ETag spares the bytes.
    set.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    set.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        set.insert(header::ETAG, etag);
    }
    if let Some(encoding) = encoding {
        set.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    Some(response)
}

/// Whether an `Accept-Encoding` value takes `encoding`: listed, with a weight above zero.
fn accepts(accepted: &str, encoding: &str) -> bool {
    accepted.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let named = parts
            .next()
            .is_some_and(|name| name.eq_ignore_ascii_case(encoding));
        let weight = parts
            .find_map(|p| p.strip_prefix("q="))
            .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
        named && weight > 0.0
    })
}

/// The media type of a site file, by its extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("txt") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_encoding_is_taken_when_listed_without_a_zero_weight() {
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(accepts("gzip;q=0.8, br;q=1.0", "br"));
        assert!(accepts("GZIP", "gzip"));
        assert!(!accepts("gzip", "br"));
        assert!(!accepts("br;q=0, gzip", "br"));
        assert!(!accepts("br; q=0.000", "br"));
        assert!(accepts("br;q=0.5", "br"));
        assert!(!accepts("", "gzip"));
        assert!(!accepts("brotli", "br"));
    }

    #[test]
    fn site_files_get_their_media_types() {
        assert_eq!(content_type("pkg/concur-console.wasm"), "application/wasm");
        assert_eq!(
            content_type("pkg/concur-console.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("pkg/concur-console.css"),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("robots.txt"), "text/plain; charset=utf-8");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }

    /// The files of `public/`, which the site copies.
    #[derive(rust_embed::Embed)]
    #[folder = "../public"]
    struct Public;

    #[test]
    fn only_a_get_or_head_of_a_file_is_answered() {
        let none = HeaderMap::new();
        let files: Files = Public::get;
        assert!(!is_embedded(files), "public/ alone is not a site");
        let robots = file(files, &Method::GET, "/robots.txt", &none).expect("a file");
        assert_eq!(robots.status(), StatusCode::OK);
        assert!(file(files, &Method::HEAD, "/robots.txt", &none).is_some());
        assert!(file(files, &Method::POST, "/robots.txt", &none).is_none());
        assert!(file(files, &Method::GET, "/", &none).is_none());
        assert!(file(files, &Method::GET, "/pkg/", &none).is_none());
        assert!(file(files, &Method::GET, "/no-such-file.js", &none).is_none());
    }
}
