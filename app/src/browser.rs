//! In the browser, pages change through Leptos' islands router: it fetches the next page and
//! patches the current one in place (islands keep their state), so nothing reloads the document.

use leptos::prelude::*;
use leptos::wasm_bindgen::JsCast;
use leptos::web_sys::HtmlElement;

/// Opens `url` as a click on a link to it would: through the islands router.
pub fn go(url: &str) {
    let document = document();
    let Some(body) = document.body() else {
        return;
    };
    let Ok(link) = document.create_element("a") else {
        return;
    };
    if link.set_attribute("href", url).is_err() {
        return;
    }
    if let Ok(link) = link.dyn_into::<HtmlElement>() {
        _ = body.append_child(&link);
        link.click();
        link.remove();
    }
}

/// Shows the current page again as the server now renders it.
pub fn refresh() {
    if let Ok(href) = window().location().href() {
        go(&href);
    }
}
