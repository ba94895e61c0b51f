//! Hand-off links: an admin sends a link, and the customer's Concur admin connects (or renews)
//! on a page made for them, so no secret travels by e-mail. This is the admins' side: make,
//! list, copy and revoke links. The customer's page is the server's `/connect/<token>`.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::{CopyLink, FieldError, FormAlert, Page};
use crate::connections::belonging::BelongingFields;
use crate::error::AppError;
use console_model::{BelongingView, HandoffList, HandoffView, format_time};

/// Records what an admin did to a link in the audit log.
#[cfg(feature = "ssr")]
async fn audited(
    state: &console_core::state::AppState,
    admin: &console_core::auth::Account,
    kind: &str,
    link: &HandoffView,
) {
    let detail = format!("{} ({})", link.name, link.id);
    crate::ssr::by_admin(
        state,
        admin,
        kind,
        link.connection_id.as_deref(),
        "ok",
        &detail,
    )
    .await;
}

#[server(prefix = "/api", endpoint = "create_handoff")]
pub async fn create_handoff(
    name: String,
    profile: String,
    #[server(default)] custom_scopes: String,
    valid_days: String,
    #[server(default)] note: String,
    #[server(default)] connection_id: Option<String>,
    #[server(flatten)] belonging: console_model::BelongingForm,
) -> Result<String, AppError> {
    let admin = crate::ssr::require(console_model::Role::Editor).await?;
    let state = crate::ssr::state()?;
    let valid_days = match valid_days.trim() {
        "" => None,
        days => Some(days.parse().map_err(|_| {
            AppError::invalid("valid_days", "Give a whole number of days from 1 to 30.")
        })?),
    };
    let request = console_core::handoffs::NewHandoff {
        name,
        profile,
        custom_scopes,
        valid_days,
        note,
        connection_id: connection_id.filter(|c| !c.is_empty()),
        by_key: None,
        belonging,
    };
    let actor = admin.name(&state).await?;
    let (link, _) = console_core::handoffs::create(&state, &request, &actor).await?;
    audited(&state, &admin, "handoff_created", &link).await;
    leptos_axum::redirect(&format!("/handoffs?created={}", link.id));
    Ok(link.id)
}

#[server(prefix = "/api", endpoint = "load_handoffs")]
pub async fn load_handoffs(page: i64) -> Result<HandoffList, AppError> {
    let account = crate::ssr::require(console_model::Role::Viewer).await?;
    let state = crate::ssr::state()?;
    let (mut links, more) = console_core::handoffs::list(&state, page).await?;
    if !account.role.allows(console_model::Role::Editor) {
        // A viewer reads the list; the links themselves are for those who may send them.
        for link in &mut links {
            link.url = None;
        }
    }
    Ok(HandoffList { links, page, more })
}

#[server(prefix = "/api", endpoint = "revoke_handoff")]
pub async fn revoke_handoff(id: String) -> Result<(), AppError> {
    let admin = crate::ssr::require(console_model::Role::Editor).await?;
    let state = crate::ssr::state()?;
    let link = console_core::handoffs::revoke(&state, &id).await?;
    audited(&state, &admin, "handoff_revoked", &link).await;
    leptos_axum::redirect("/handoffs?revoked");
    Ok(())
}

/// The *Hand-off links* page: make a link, and every link with its state, Copy link and Revoke.
#[component]
pub fn HandoffsPage() -> impl IntoView {
    let create = ServerAction::<CreateHandoff>::new();
    let revoke = ServerAction::<RevokeHandoff>::new();
    let query = use_query_map();
    let page = move || {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0i64)
    };
    let created = move || query.read().get("created");
    let links = Resource::new(
        move || (page(), create.version().get(), revoke.version().get()),
        |(page, _, _)| load_handoffs(page),
    );
    let create_error = Signal::derive(move || create.value().get().and_then(Result::err));
    let belonging_refused = move || {
        create_error.get().is_some_and(|e| {
            e.0.field().is_some_and(|f| {
                [
                    "external_id",
                    "tags",
                    "contact_name",
                    "contact_email",
                    "owner",
                ]
                .contains(&f)
            })
        })
    };
    let revoke_error = Signal::derive(move || revoke.value().get().and_then(Result::err));
    view! {
        <Page title="Hand-off links" signed_in=true>
            <p class="lead">
                "Send a link to the customer's Concur admin: they create the Concur app, paste its values on a page made for them, and the console checks them with Concur at once. No secret travels by e-mail."
            </p>
            <Suspense fallback=|| view! { <p>"Loading links…"</p> }>
                {move || Suspend::new(async move {
                    let list = links.await;
                    let fresh = created().and_then(|id| {
                        list.as_ref().ok()?.links.iter().find(|l| l.id == id).cloned()
                    });
                    view! {
                        {fresh.map(|link| view! { <NewLink link/> })}
                        {match list {
                            Ok(list) => view! { <LinkTable list revoke/> }.into_any(),
                            Err(e) => view! { <FormAlert error=Signal::derive(move || Some(e.clone()))/> }.into_any(),
                        }}
                    }
                })}
            </Suspense>
            <FormAlert error=revoke_error/>
            {crate::session::may(console_model::Role::Editor).then(|| view! {
            <ActionForm action=create>
                <section class="card form">
                    <h2>"New hand-off link"</h2>
                    <FormAlert error=create_error/>
                    <label for="handoff-name">"Name"</label>
                    <input id="handoff-name" name="name" maxlength="100" required placeholder="e.g. ACME Corp – expense approvals"/>
                    <FieldError error=create_error field="name"/>
                    <label for="handoff-profile">"Scope profile"</label>
                    <select id="handoff-profile" name="profile">
                        <option value="expense-approvals">"Expense approvals"</option>
                        <option value="mileage-to-expense">"Mileage to expense"</option>
                        <option value="custom">"Custom list"</option>
                    </select>
                    <label for="handoff-scopes" class="inline">"Custom scope list (only for Custom list)"</label>
                    <textarea id="handoff-scopes" name="custom_scopes" rows="2" placeholder="expense.report.read identity.user.core.read"></textarea>
                    <FieldError error=create_error field="profile"/>
                    <label for="handoff-days">"Valid for (days)"</label>
                    <input id="handoff-days" name="valid_days" type="number" min="1" max="30" value="7"/>
                    <FieldError error=create_error field="valid_days"/>
                    <label for="handoff-note">"Note for the customer (optional)"</label>
                    <input id="handoff-note" name="note" maxlength="500" placeholder="e.g. For the approvals assistant pilot"/>
                    <FieldError error=create_error field="note"/>
                    <details class="belonging-fields" open=belonging_refused>
                        <summary>"Who the connection will belong to (optional)"</summary>
                        <p class="hint">"Carried onto the connection the customer makes."</p>
                        <BelongingFields view=BelongingView::default() error=create_error/>
                    </details>
                    <button type="submit" class="primary">"Create hand-off link"</button>
                </section>
            </ActionForm>
            })}
        </Page>
    }
}

/// The link just made, ready to copy.
#[component]
fn NewLink(link: HandoffView) -> impl IntoView {
    view! {
        <div class="card new-key" role="status">
            <p>{format!("Send this link to the customer's Concur admin for “{}”. It works until {} and only once.", link.name, format_time(link.expires_at))}</p>
            <input class="mono" readonly aria-label="New hand-off link" value=link.url/>
        </div>
    }
}

/// What a link carries onto its connection, in a few words: `tenant-42 · env=prod · csm`.
fn carried_words(b: &BelongingView) -> String {
    let tags = b
        .tags
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    [
        b.external_id.clone().unwrap_or_default(),
        tags,
        b.contact_email.clone().unwrap_or_default(),
        b.owner
            .clone()
            .map(|o| format!("owner {o}"))
            .unwrap_or_default(),
    ]
    .into_iter()
    .filter(|w| !w.is_empty())
    .collect::<Vec<_>>()
    .join(" · ")
}

#[component]
fn LinkTable(list: HandoffList, revoke: ServerAction<RevokeHandoff>) -> impl IntoView {
    if list.links.is_empty() {
        return view! { <p class="empty">"No hand-off links yet."</p> }.into_any();
    }
    let rows = list
        .links
        .into_iter()
        .map(|link| {
            let state = link.state;
            let what = if link.renewal { "Renewal · " } else { "" };
            let connection = link.connection_id.clone().filter(|_| {
                state == console_model::LinkState::Completed || link.renewal
            });
            let carried = carried_words(&link.belonging);
            view! {
                <tr class=format!("handoff {}", state.key())>
                    <td>
                        {link.name.clone()}<br/><span class="hint">{link.note.clone()}</span>
                        {(!carried.is_empty()).then(|| view! { <br/><span class="hint" data-field="carried">{carried}</span> })}
                    </td>
                    <td>{format!("{what}{}", link.profile)}</td>
                    <td>{link.created_by.clone()}</td>
                    <td>{format_time(link.created_at)}<br/>{format!("until {}", format_time(link.expires_at))}</td>
                    <td>
                        <span class=format!("badge link-{}", state.key())>{state.key()}</span>
                        {connection.map(|id| view! { " " <a href=format!("/connections/{id}")>"connection"</a> })}
                    </td>
                    <td>
                        {link.url.clone().map(|url| view! {
                            <CopyLink url label=format!("Link for {}", link.name)/>
                            <ActionForm action=revoke>
                                <input type="hidden" name="id" value=link.id.clone()/>
                                <button type="submit" class="danger">"Revoke"</button>
                            </ActionForm>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    let page = list.page;
    view! {
        <table class="handoffs">
            <thead><tr><th>"Name"</th><th>"Profile"</th><th>"Created by"</th><th>"Created / expires"</th><th>"State"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <p class="pager">
            {(page > 0).then(|| view! { <a href=format!("/handoffs?page={}", page - 1)>"Newer"</a> })}
            " "
            {list.more.then(|| view! { <a href=format!("/handoffs?page={}", page + 1)>"Older"</a> })}
        </p>
    }
    .into_any()
}
