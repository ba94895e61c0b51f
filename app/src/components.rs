//! Pieces every page uses: the page frame, error messages next to fields, status badges, times.

use leptos::either::EitherOf3;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::error::{AppError, Error};
use crate::session::{SignOut, may, signed_in_role};
use console_model::{DiagnosisView, Role, Status, days_left, format_time};

/// The frame of a page: header (with navigation once signed in), title, content.
#[component]
pub fn Page(#[prop(into)] title: String, signed_in: bool, children: Children) -> impl IntoView {
    view! {
        <Title text=format!("{title} · Concur Console")/>
        <header class="top">
            <a class="brand" href="/">"Concur Console"</a>
            {signed_in.then(|| view! {
                <nav>
                    <a href="/">"Connections"</a>
                    {may(Role::Editor).then(|| view! { <a href="/connections/new">"New connection"</a> })}
                    <a href="/handoffs">"Hand-off links"</a>
                    {may(Role::Admin).then(|| view! {
                        <a href="/settings">"Settings"</a>
                        <a href="/keys">"API keys"</a>
                        <a href="/people">"People"</a>
                    })}
                    <a href="/audit">"Audit"</a>
                    <a href="/account">{signed_in_role().map_or_else(|| "Account".to_owned(), |r| format!("Account ({r})"))}</a>
                    <SignOut/>
                </nav>
            })}
        </header>
        <main>
            <h1>{title}</h1>
            {children()}
        </main>
    }
}

/// A Concur diagnosis: what is wrong, what to do, and what Concur support will ask for.
#[component]
pub fn Diagnosis(diagnosis: DiagnosisView) -> impl IntoView {
    let kind = if diagnosis.transient {
        "diagnosis transient"
    } else {
        "diagnosis"
    };
    view! {
        <div class=kind role="alert" data-code=diagnosis.code.clone()>
            <p class="what">{diagnosis.message.clone()}</p>
            <p class="next">{diagnosis.next_step.clone()}</p>
            <p class="raw">
                {diagnosis.concur_code.map(|c| format!("Concur code {c}. "))}
                {diagnosis.correlation_id.clone().map(|c| format!("Correlation id {c}."))}
            </p>
        </div>
    }
}

fn describe(error: AppError) -> impl IntoView {
    match error.0 {
        Error::Concur(d) => EitherOf3::A(view! { <Diagnosis diagnosis=*d/> }),
        Error::Unauthorized => EitherOf3::B(view! {
            <p class="error" role="alert">"Your session has ended. " <a href="/login">"Sign in again"</a> "."</p>
        }),
        other => EitherOf3::C(view! { <p class="error" role="alert">{other.to_string()}</p> }),
    }
}

/// The error of a form that belongs to no single field.
#[component]
pub fn FormAlert(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    move || error.get().filter(|e| e.field().is_none()).map(describe)
}

/// The error of one field, shown right below it; `field` may name several, `label|selector`
/// (fields just above, outside an island, whose errors only the island hears).
#[component]
pub fn FieldError(
    #[prop(into)] error: Signal<Option<AppError>>,
    field: &'static str,
) -> impl IntoView {
    move || {
        let e = error.get()?;
        let own = field.split('|').find(|name| e.field() == Some(*name))?;
        Some(view! { <div class="field-error" data-field=own>{describe(e)}</div> })
    }
}

/// The refusal of server function `S` that the page's address carries (a form posted without
/// JavaScript, or through the islands router, comes back with it): what an island starts with.
pub fn refusal_in_address<S>() -> Option<AppError>
where
    S: leptos::server_fn::ServerFn<Error = AppError> + Send + Sync + Clone + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    ServerAction::<S>::new()
        .value()
        .get_untracked()
        .and_then(Result::err)
}

/// The error an island's form shows: the one the server rendered the page with (a form posted
/// without JavaScript comes back with it), until the island's own submission answers.
pub fn shown_error<T, S>(value: S, first: Option<AppError>) -> Signal<Option<AppError>>
where
    S: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    Signal::derive(move || match value.get() {
        Some(result) => result.err(),
        None => first.clone(),
    })
}

/// Content that the islands router replaces whole on every navigation, instead of patching it
/// node by node: its patch pairs old and new nodes by position, so a list whose length changed
/// (a filtered table, a row's tags, the filters in force) would be written onto the wrong
/// nodes. A keyed list of one item whose key is new at every render. The router stops patching
/// at the first such list it replaces, so it must be the last content of the page that changes:
/// one per page, with nothing after it that a form's answer updates. Its one item is rendered
/// once, by the server, so the page's data moves into it instead of being copied.
#[component]
pub fn Replaced(children: Children) -> impl IntoView {
    static RENDERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let render = RENDERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Rendered by the server: this process and its count, so two replicas never give the old
    // and the new page the same key.
    #[cfg(feature = "ssr")]
    let version = format!("{}-{render}", std::process::id());
    #[cfg(not(feature = "ssr"))]
    let version = render.to_string();
    let children = std::sync::Arc::new(std::sync::Mutex::new(Some(children)));
    view! {
        <For each=move || [version.clone()] key=|version| version.clone() let:_version>
            {children.lock().ok().and_then(|mut once| once.take()).map(|children| children())}
        </For>
    }
}

/// A link that waits to be sent (a hand-off link, an invitation), shown on demand to copy.
#[component]
pub fn CopyLink(url: String, #[prop(into)] label: String) -> impl IntoView {
    view! {
        <details>
            <summary>"Copy link"</summary>
            <input class="mono" readonly aria-label=label value=url/>
        </details>
    }
}

#[component]
pub fn StatusBadge(status: Status) -> impl IntoView {
    view! { <span class=format!("badge {}", status.key())>{status.label()}</span> }
}

/// "in 42 days", "expired 3 days ago", or "unknown".
pub fn expiry_words(at: Option<i64>, now: i64) -> String {
    match at {
        None => "unknown (Concur did not say)".to_owned(),
        Some(at) if at <= now => match (now - at) / console_model::DAY {
            0 => "expired today".to_owned(),
            n => format!("expired {} ago", plural(n, "day")),
        },
        Some(at) => format!("{} left", plural(days_left(at, now), "day")),
    }
}

pub fn plural(n: i64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

pub fn time_or_never(at: Option<i64>) -> String {
    at.map_or_else(|| "never".to_owned(), format_time)
}
