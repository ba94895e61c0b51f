//! The `concur-console` binary: the library's commands (`server::entry`) with the site it
//! carries.

use std::process::ExitCode;

use rust_embed::Embed;

/// mimalloc instead of the C library's allocator: page rendering allocates many small strings
/// from several threads, and the C allocator was a tenth of the dashboard's time under load
/// and kept memory in per-thread arenas after it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The site (the wasm, its JavaScript, the stylesheet, `public/`), carried in the binary. It is
/// derived here rather than in the library so that the library and everything under it can be
/// built while the site is (`scripts/build.sh`): only this file waits for it.
#[derive(Embed)]
#[folder = "../target/site"]
#[allow_missing = true]
struct Site;

fn main() -> ExitCode {
    server::entry::main(Site::get)
}
