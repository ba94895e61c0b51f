//! Hydrates the islands of the server-rendered page; all behaviour lives in the `app` crate.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // A server function's redirect goes through the islands router, not a full page load.
    _ = leptos::server_fn::redirect::set_redirect_hook(app::browser::go);
    leptos::mount::hydrate_islands();
}
