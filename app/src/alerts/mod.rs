//! Alerts: warn before a refresh token expires, when a connection needs a human, when Concur
//! stays unreachable, and when a connection recovers. The Settings page sets the channels the
//! environment leaves unset, sends a test, and shows the delivery history.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::{FieldError, FormAlert, Page, Replaced};
use crate::error::AppError;
use console_model::{AlertSettingsView, DeliveryView, format_time};

#[server(prefix = "/api", endpoint = "load_alert_settings")]
pub async fn load_alert_settings() -> Result<AlertSettingsView, AppError> {
    crate::ssr::require(console_model::Role::Admin).await?;
    let state = crate::ssr::state()?;
    Ok(console_core::alerts::settings_view(&state).await?)
}

#[server(prefix = "/api", endpoint = "save_alert_settings")]
// A channel the environment sets is shown disabled, and a browser leaves disabled fields out of
// the form: each field may be missing.
pub async fn save_alert_settings(
    #[server(default)] webhook_url: String,
    #[server(default)] webhook_secret: String,
    #[server(default)] webhook_remove: Option<String>,
    #[server(default)] smtp_url: String,
    #[server(default)] email_from: String,
    #[server(default)] email_to: String,
) -> Result<(), AppError> {
    let admin = crate::ssr::require(console_model::Role::Admin).await?;
    let state = crate::ssr::state()?;
    let form = console_core::alerts::ChannelForm {
        webhook_url,
        webhook_secret,
        webhook_remove: webhook_remove.is_some(),
        smtp_url,
        email_from,
        email_to,
    };
    let result = console_core::alerts::save_settings(&state, &form).await;
    let outcome = if result.is_ok() { "ok" } else { "refused" };
    crate::ssr::by_admin(
        &state,
        &admin,
        "settings_changed",
        None,
        outcome,
        "alert channels",
    )
    .await;
    result?;
    leptos_axum::redirect("/settings?saved");
    Ok(())
}

#[server(prefix = "/api", endpoint = "add_alert_route")]
pub async fn add_alert_route(selector: String, channel: String) -> Result<(), AppError> {
    let admin = crate::ssr::require(console_model::Role::Admin).await?;
    let state = crate::ssr::state()?;
    let result = console_core::alerts::add_route(&state, &selector, &channel).await;
    let (outcome, detail) = match &result {
        Ok(words) => ("ok", format!("alert route added: {words}")),
        Err(_) => ("refused", "alert route".to_owned()),
    };
    crate::ssr::by_admin(&state, &admin, "settings_changed", None, outcome, &detail).await;
    result?;
    leptos_axum::redirect("/settings?saved");
    Ok(())
}

#[server(prefix = "/api", endpoint = "remove_alert_route")]
pub async fn remove_alert_route(route: String) -> Result<(), AppError> {
    let admin = crate::ssr::require(console_model::Role::Admin).await?;
    let state = crate::ssr::state()?;
    if console_core::alerts::remove_route(&state, &route).await? {
        let detail = format!("alert route removed: {route}");
        crate::ssr::by_admin(&state, &admin, "settings_changed", None, "ok", &detail).await;
    }
    leptos_axum::redirect("/settings?saved");
    Ok(())
}

#[server(prefix = "/api", endpoint = "send_test_alert")]
pub async fn send_test_alert() -> Result<usize, AppError> {
    crate::ssr::require(console_model::Role::Admin).await?;
    let state = crate::ssr::state()?;
    let config = console_core::alerts::effective(&state).await?;
    let queued = console_core::alerts::send_test(&state, &config).await?;
    leptos_axum::redirect(&format!("/settings?queued={queued}"));
    Ok(queued)
}

/// A list of alert deliveries: when, what, where, and how it went.
#[component]
pub fn Deliveries(deliveries: Vec<DeliveryView>) -> impl IntoView {
    if deliveries.is_empty() {
        return view! { <p class="empty">"No alerts sent yet."</p> }.into_any();
    }
    let rows = deliveries
        .into_iter()
        .map(|d| {
            let result = match d.state.as_str() {
                "sent" => format!("sent {}", d.sent_at.map(format_time).unwrap_or_default()),
                "failed" => "gave up".to_owned(),
                _ => "waiting to retry".to_owned(),
            };
            view! {
                <tr class=d.state.clone()>
                    <td>{format_time(d.created_at)}</td>
                    <td>{d.event}</td>
                    <td>{d.channel}</td>
                    <td>{result}</td>
                    <td>{d.attempts}</td>
                    <td>{d.last_error}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="deliveries">
            <thead><tr><th>"Raised"</th><th>"Alert"</th><th>"Channel"</th><th>"Result"</th><th>"Attempts"</th><th>"Last error"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}

/// The Settings page, rendered on the server: each form posts and comes back here, with
/// `?saved` or `?queued=N` saying how it went.
#[component]
pub fn SettingsPage() -> impl IntoView {
    let save = ServerAction::<SaveAlertSettings>::new();
    let test = ServerAction::<SendTestAlert>::new();
    let add = ServerAction::<AddAlertRoute>::new();
    let remove = ServerAction::<RemoveAlertRoute>::new();
    let data = Resource::new(|| (), |_| load_alert_settings());
    let errors = Signal::derive(move || {
        [
            save.value().get(),
            test.value().get().map(|r| r.map(|_| ())),
            add.value().get(),
            remove.value().get(),
        ]
        .into_iter()
        .flatten()
        .find_map(Result::err)
    });
    let query = use_query_map().get_untracked();
    let queued = query.get("queued").and_then(|n| n.parse::<usize>().ok());
    let saved = query.get("saved").is_some();
    view! {
        <Page title="Alert settings" signed_in=true>
            <FormAlert error=errors/>
            {queued.map(|n| view! {
                <p class="notice" role="status">{format!("Test alert queued on {n} channel(s); it goes out within 15 seconds. Reload to see the result below.")}</p>
            })}
            {saved.then(|| view! { <p class="notice" role="status">"Saved."</p> })}
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        // Replaced whole when a form comes back here: the routes and the
                        // history change length.
                        Ok(view) => view! {
                            <Replaced>
                                <Channels settings=view.clone() save errors/>
                                <Routes routes=view.routes.clone() add remove errors/>
                                <History deliveries=view.deliveries.clone() test errors/>
                            </Replaced>
                        }.into_any(),
                        Err(e) => view! { <FormAlert error=Signal::derive(move || Some(e.clone()))/> }.into_any(),
                    }
                })}
            </Suspense>
        </Page>
    }
}

#[component]
fn Channels(
    settings: AlertSettingsView,
    save: ServerAction<SaveAlertSettings>,
    errors: Signal<Option<AppError>>,
) -> impl IntoView {
    let days = settings
        .thresholds
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let env_note = |set: bool, vars: &'static str| {
        set.then(|| view! { <p class="hint">{format!("Set by the environment ({vars}), which wins over this page; change it there.")}</p> })
    };
    let secret_hint = if settings.webhook_secret_set {
        "A secret is stored; leave blank to keep it."
    } else {
        "At least 16 characters; the receiver verifies each request's signature with it."
    };
    view! {
        <section class="card">
            <h2>"When alerts fire"</h2>
            <p>{format!("Refresh tokens within {days} days of expiry (CONCUR_ALERT_DAYS), a connection that needs a human, Concur unreachable for a day, and a recovery. Each alert fires once.")}</p>
        </section>
        <ActionForm action=save>
            <section class="card form">
                <h2>"Webhook"</h2>
                {env_note(settings.webhook_from_env, "CONCUR_ALERT_WEBHOOK_URL")}
                <label for="webhook_url">"Webhook URL"</label>
                <input id="webhook_url" name="webhook_url" type="url" autocomplete="off" placeholder="https://hooks.slack.com/services/…" disabled=settings.webhook_from_env/>
                <p class="hint">{settings.webhook_host.clone().map_or_else(|| "Kept sealed like a password: it grants posting rights to whoever holds it.".to_owned(), |h| format!("Stored: {h}/… (leave blank to keep it)."))}</p>
                <FieldError error=errors field="webhook_url"/>
                <label for="webhook_secret">"Signing secret"</label>
                <input id="webhook_secret" name="webhook_secret" type="password" autocomplete="off" disabled=settings.webhook_from_env/>
                <p class="hint">{secret_hint}</p>
                <FieldError error=errors field="webhook_secret"/>
                {(settings.webhook_host.is_some() && !settings.webhook_from_env).then(|| view! {
                    <label class="inline"><input type="checkbox" name="webhook_remove"/>" Remove the webhook"</label>
                })}
            </section>
            <section class="card form">
                <h2>"E-mail"</h2>
                {env_note(settings.email_from_env, "CONCUR_SMTP_URL")}
                <label for="smtp_url">"SMTP server URL"</label>
                <input id="smtp_url" name="smtp_url" type="password" autocomplete="off" placeholder="smtp://user:password@mail.example.com:587?tls=required" disabled=settings.email_from_env/>
                <p class="hint">{settings.smtp_host.clone().map_or_else(|| "smtps://… for TLS, smtp://…?tls=required for STARTTLS.".to_owned(), |h| format!("Stored: {h} (leave blank to keep it)."))}</p>
                <FieldError error=errors field="smtp_url"/>
                <label for="email_from">"From"</label>
                <input id="email_from" name="email_from" type="email" value=settings.email_from.clone() disabled=settings.email_from_env/>
                <FieldError error=errors field="email_from"/>
                <label for="email_to">"To (comma-separated)"</label>
                <input id="email_to" name="email_to" value=settings.email_to.clone() disabled=settings.email_from_env/>
                <FieldError error=errors field="email_to"/>
                <button type="submit" class="primary">"Save"</button>
            </section>
        </ActionForm>
    }
}

/// The Settings page's delivery history, under a button that sends a test on every channel.
#[component]
fn History(
    deliveries: Vec<DeliveryView>,
    test: ServerAction<SendTestAlert>,
    errors: Signal<Option<AppError>>,
) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Delivery history"</h2>
            <ActionForm action=test>
                <button type="submit">"Send test"</button>
            </ActionForm>
            <FieldError error=errors field="channel"/>
            <Deliveries deliveries/>
        </section>
    }
}

/// The routes: the alerts of the connections a selector matches go to channels of their own
/// instead of the default ones.
#[component]
fn Routes(
    routes: Vec<console_model::RouteView>,
    add: ServerAction<AddAlertRoute>,
    remove: ServerAction<RemoveAlertRoute>,
    errors: Signal<Option<AppError>>,
) -> impl IntoView {
    let list = if routes.is_empty() {
        view! { <p class="empty">"No routes: every alert goes to the channels above."</p> }
            .into_any()
    } else {
        let rows = routes
            .into_iter()
            .map(|r| {
                let words = format!("{} => {}", r.selector, r.channel);
                let action = if r.from_env {
                    view! { <span class="hint">"CONCUR_ALERT_ROUTES"</span> }.into_any()
                } else {
                    view! {
                        <ActionForm action=remove>
                            <input type="hidden" name="route" value=words/>
                            <button type="submit">"Remove"</button>
                        </ActionForm>
                    }
                    .into_any()
                };
                view! {
                    <tr>
                        <td class="mono">{r.selector}</td>
                        <td class="mono">{r.channel}</td>
                        <td>{action}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table class="routes">
                <thead><tr><th>"Connections tagged"</th><th>"Alerts go to"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <section class="card form">
            <h2>"Routes"</h2>
            <p class="hint">"An alert goes to the channel of every route whose selector matches its connection's tags, and to the channels above only when none does. A route's webhook is signed with the webhook's signing secret; a route's address is mailed through the SMTP server above."</p>
            {list}
            <ActionForm action=add>
                <label for="route_selector">"Selector"</label>
                <input id="route_selector" name="selector" placeholder="env=prod,region=emea" autocomplete="off" maxlength="2048"/>
                <FieldError error=errors field="route_selector"/>
                <label for="route_channel">"Channel"</label>
                <input id="route_channel" name="channel" placeholder="email:emea-csm@vendor.example or webhook:https://hooks.example/prod" autocomplete="off" maxlength="2048"/>
                <FieldError error=errors field="route_channel"/>
                <button type="submit" class="primary">"Add route"</button>
            </ActionForm>
        </section>
    }
}
