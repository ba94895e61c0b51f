//! People: who may use the console and as what. Admins invite by a one-time link, change roles,
//! deactivate and reactivate accounts; the invitee accepts on `/invite`.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::components::{CopyLink, FieldError, FormAlert, Page, Replaced};
use crate::error::AppError;
use console_model::people::{
    INVITATION_HOURS, InvitationState, InvitationView, PeopleView, PersonView,
};
use console_model::{Role, format_time};

#[cfg(feature = "ssr")]
fn parse_role(raw: &str) -> Result<Role, AppError> {
    Role::parse(raw).ok_or_else(|| AppError::invalid("role", "Choose viewer, editor or admin."))
}

#[server(prefix = "/api", endpoint = "load_people")]
pub async fn load_people() -> Result<PeopleView, AppError> {
    let admin = crate::ssr::require(Role::Admin).await?;
    let state = crate::ssr::state()?;
    Ok(console_core::people::people(&state, &admin).await?)
}

#[server(prefix = "/api", endpoint = "invite")]
pub async fn invite(role: String) -> Result<String, AppError> {
    let admin = crate::ssr::require(Role::Admin).await?;
    let state = crate::ssr::state()?;
    let role = parse_role(&role)?;
    let by = admin.name(&state).await?;
    let (id, _) = console_core::people::invite(&state, role, &by).await?;
    let detail = format!("invitation {id} as {role}");
    crate::ssr::by_admin(&state, &admin, "invitation_created", None, "ok", &detail).await;
    leptos_axum::redirect(&format!("/people?invited={id}"));
    Ok(id)
}

#[server(prefix = "/api", endpoint = "revoke_invitation")]
pub async fn revoke_invitation(id: String) -> Result<(), AppError> {
    let admin = crate::ssr::require(Role::Admin).await?;
    let state = crate::ssr::state()?;
    console_core::people::revoke_invitation(&state, &id).await?;
    let detail = format!("invitation {id}");
    crate::ssr::by_admin(&state, &admin, "invitation_revoked", None, "ok", &detail).await;
    Ok(())
}

#[server(prefix = "/api", endpoint = "set_role")]
pub async fn set_role(id: String, role: String) -> Result<(), AppError> {
    let admin = crate::ssr::require(Role::Admin).await?;
    let state = crate::ssr::state()?;
    let role = parse_role(&role)?;
    let name = console_core::people::set_role(&state, &admin, &id, role).await?;
    let detail = format!("{name} is now {role}");
    crate::ssr::by_admin(&state, &admin, "role_changed", None, "ok", &detail).await;
    Ok(())
}

#[server(prefix = "/api", endpoint = "set_active")]
pub async fn set_active(id: String, active: bool) -> Result<(), AppError> {
    let admin = crate::ssr::require(Role::Admin).await?;
    let state = crate::ssr::state()?;
    let name = console_core::people::set_active(&state, &admin, &id, active).await?;
    let kind = if active {
        "account_reactivated"
    } else {
        "account_deactivated"
    };
    crate::ssr::by_admin(&state, &admin, kind, None, "ok", &name).await;
    Ok(())
}

/// Ends every session of another account (it stays active and may sign in again).
#[server(prefix = "/api", endpoint = "end_sessions_of")]
pub async fn end_sessions_of(id: String) -> Result<(), AppError> {
    let admin = crate::ssr::require(Role::Admin).await?;
    let state = crate::ssr::state()?;
    let (name, ended) = console_core::people::end_sessions_of(&state, &admin, &id).await?;
    let detail = format!("{ended} session(s) of {name} ended");
    crate::ssr::by_admin(&state, &admin, "sessions_ended", None, "ok", &detail).await;
    Ok(())
}

/// What an invitation link offers, for the page that accepts it.
#[server(prefix = "/api", endpoint = "load_invitation")]
pub async fn load_invitation(token: String) -> Result<Role, AppError> {
    let state = crate::ssr::state()?;
    Ok(console_core::people::open_invitation(&state, &token).await?)
}

#[server(prefix = "/api", endpoint = "accept_invitation")]
pub async fn accept_invitation(
    token: String,
    username: String,
    password: String,
    confirm: String,
) -> Result<(), AppError> {
    let state = crate::ssr::state()?;
    let account =
        console_core::people::accept(&state, &token, &username, &password, &confirm).await?;
    let detail = format!("joined as {}", account.role);
    crate::ssr::by_admin(&state, &account, "invitation_accepted", None, "ok", &detail).await;
    crate::auth::enter_with_password(&state, &account.id).await
}

fn first_error(results: Vec<Option<Result<(), AppError>>>) -> Option<AppError> {
    results.into_iter().flatten().find_map(Result::err)
}

/// The *People* page (admins): accounts with their roles, invitations, and the invite form.
#[component]
pub fn PeoplePage() -> impl IntoView {
    let invite = ServerAction::<Invite>::new();
    let revoke = ServerAction::<RevokeInvitation>::new();
    let set_role = ServerAction::<SetRole>::new();
    let set_active = ServerAction::<SetActive>::new();
    let end_sessions = ServerAction::<EndSessionsOf>::new();
    let invited = move || use_query_map().read().get("invited");
    let data = Resource::new(
        move || {
            (
                invite.version().get(),
                revoke.version().get(),
                set_role.version().get(),
                set_active.version().get(),
                end_sessions.version().get(),
            )
        },
        |_| load_people(),
    );
    let invite_error = Signal::derive(move || invite.value().get().and_then(Result::err));
    let errors = Signal::derive(move || {
        first_error(vec![
            revoke.value().get(),
            set_role.value().get(),
            set_active.value().get(),
            end_sessions.value().get(),
        ])
    });
    view! {
        <Page title="People" signed_in=true>
            <p class="lead">"Viewers read; editors also add, check and re-credential connections and make their keys and links; admins also delete connections and manage alerts, settings and people."</p>
            <FormAlert error=errors/>
            <FieldError error=errors field="account"/>
            <Suspense fallback=|| view! { <p>"Loading people…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(view) => {
                            let fresh = invited().and_then(|id| {
                                view.invitations.iter().find(|i| i.id == id).cloned()
                            });
                            view! {
                                {fresh.and_then(|i| i.url.clone().map(|url| view! {
                                    <div class="card new-key" role="status">
                                        <p>{format!("Send this link to the person you invite as {}. It works once, until {}.", i.role, format_time(i.expires_at))}</p>
                                        <input class="mono" readonly aria-label="New invitation link" value=url/>
                                    </div>
                                }))}
                                // Replaced whole when a form comes back (the lists change length);
                                // the islands router diffs nothing after it, so it comes last.
                                <Replaced>
                                    <People people=view.people.clone() set_role set_active end_sessions/>
                                    <Invitations invitations=view.invitations.clone() revoke/>
                                    <InviteForm open=view.invitations_open invite error=invite_error/>
                                </Replaced>
                            }
                            .into_any()
                        }
                        Err(e) => view! { <FormAlert error=Signal::derive(move || Some(e.clone()))/> }.into_any(),
                    }
                })}
            </Suspense>
        </Page>
    }
}

/// The invite form, or, while password sign-in is off, why there is none.
#[component]
fn InviteForm(
    open: bool,
    invite: ServerAction<Invite>,
    error: Signal<Option<AppError>>,
) -> impl IntoView {
    if !open {
        return view! {
            <section class="card">
                <h2>"Invite someone"</h2>
                <p>"Invitations are off: password sign-in is turned off here (CONCUR_LOCAL_LOGIN=off). People join by signing in through single sign-on, where the identity provider's groups give their role."</p>
            </section>
        }
        .into_any();
    }
    view! {
        <ActionForm action=invite>
            <section class="card form">
                <h2>"Invite someone"</h2>
                <FormAlert error=error/>
                <label for="invite-role">"Role"</label>
                <RoleSelect id="invite-role" selected=Role::Viewer/>
                <FieldError error=error field="role"/>
                <p class="hint">{format!("The link works once, for {INVITATION_HOURS} hours; the person chooses their user name and password.")}</p>
                <button type="submit" class="primary">"Create invitation link"</button>
            </section>
        </ActionForm>
    }
    .into_any()
}

#[component]
fn RoleSelect(id: &'static str, selected: Role) -> impl IntoView {
    let options = Role::ALL
        .into_iter()
        .map(|role| view! { <option value=role.key() selected=role == selected>{role.key()}</option> })
        .collect_view();
    view! { <select id=id name="role">{options}</select> }
}

#[component]
fn People(
    people: Vec<PersonView>,
    set_role: ServerAction<SetRole>,
    set_active: ServerAction<SetActive>,
    end_sessions: ServerAction<EndSessionsOf>,
) -> impl IntoView {
    let rows = people
        .into_iter()
        .map(|p| {
            let state = if p.active { "active" } else { "deactivated" };
            let actions = if p.me {
                view! { <strong>"You"</strong> }.into_any()
            } else {
                let (role_id, active_id, sessions_id) = (p.id.clone(), p.id.clone(), p.id.clone());
                let toggle = if p.active { "Deactivate" } else { "Reactivate" };
                view! {
                    <ActionForm action=set_role>
                        <input type="hidden" name="id" value=role_id/>
                        <label class="inline" for=format!("role-{}", p.id)>"Role"</label>
                        <select id=format!("role-{}", p.id) name="role">
                            {Role::ALL.into_iter().map(|role| view! {
                                <option value=role.key() selected=role == p.role>{role.key()}</option>
                            }).collect_view()}
                        </select>
                        <button type="submit">"Change role"</button>
                    </ActionForm>
                    <ActionForm action=set_active>
                        <input type="hidden" name="id" value=active_id/>
                        <input type="hidden" name="active" value=(!p.active).to_string()/>
                        <button type="submit" class=if p.active { "danger" } else { "" }>{toggle}</button>
                    </ActionForm>
                    {p.last_seen_at.is_some().then(|| view! {
                        <ActionForm action=end_sessions>
                            <input type="hidden" name="id" value=sessions_id/>
                            <button type="submit">"Sign out everywhere"</button>
                        </ActionForm>
                    })}
                }
                .into_any()
            };
            view! {
                <tr class=format!("person {state}")>
                    <td>{if p.sso { format!("{} (single sign-on)", p.username) } else { p.username.clone() }}</td>
                    <td>{p.role.key()}</td>
                    <td>{state}</td>
                    <td>{format_time(p.created_at)}</td>
                    <td>{crate::components::time_or_never(p.last_seen_at)}</td>
                    <td>{actions}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card">
            <h2>"Accounts"</h2>
            <table class="people">
                <thead><tr><th>"User name"</th><th>"Role"</th><th>"State"</th><th>"Created"</th><th>"Last seen"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <p class="hint">"A deactivated account's sessions end at once and it cannot sign in; its history stays. The last active admin can be neither demoted nor deactivated. A single sign-on account gets its role from the identity provider's groups at each sign-in."</p>
        </section>
    }
}

#[component]
fn Invitations(
    invitations: Vec<InvitationView>,
    revoke: ServerAction<RevokeInvitation>,
) -> impl IntoView {
    if invitations.is_empty() {
        return ().into_any();
    }
    let rows = invitations
        .into_iter()
        .map(|i| {
            let state = match &i.state {
                InvitationState::Waiting => "waiting".to_owned(),
                InvitationState::Used(by) => format!("accepted by {by}"),
                InvitationState::Revoked => "revoked".to_owned(),
                InvitationState::Expired => "expired".to_owned(),
            };
            view! {
                <tr class="invitation">
                    <td>{i.role.key()}</td>
                    <td>{i.created_by.clone()}</td>
                    <td>{format_time(i.created_at)}<br/>{format!("until {}", format_time(i.expires_at))}</td>
                    <td>{state}</td>
                    <td>
                        {i.url.clone().map(|url| view! {
                            <CopyLink url label="Invitation link"/>
                            <ActionForm action=revoke>
                                <input type="hidden" name="id" value=i.id.clone()/>
                                <button type="submit" class="danger">"Revoke"</button>
                            </ActionForm>
                        })}
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card">
            <h2>"Invitations"</h2>
            <table class="invitations">
                <thead><tr><th>"Role"</th><th>"Invited by"</th><th>"Created / expires"</th><th>"State"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
    .into_any()
}

/// `/invite?token=…`: the invitee chooses a user name and password.
#[component]
pub fn InvitePage() -> impl IntoView {
    let accept = ServerAction::<AcceptInvitation>::new();
    let token = use_query_map()
        .read_untracked()
        .get("token")
        .unwrap_or_default();
    let offer = Resource::new(
        {
            let token = token.clone();
            move || token.clone()
        },
        load_invitation,
    );
    let error = Signal::derive(move || accept.value().get().and_then(Result::err));
    view! {
        <Page title="Join Concur Console" signed_in=false>
            <Suspense fallback=|| view! { <p>"Checking the invitation…"</p> }>
                {move || {
                    let token = token.clone();
                    Suspend::new(async move {
                        match offer.await {
                            Ok(role) => view! {
                                <p class="lead">{format!("You are invited as {role}. Choose your user name and password.")}</p>
                                <ActionForm action=accept>
                                    <div class="card form">
                                        <FormAlert error=error/>
                                        <crate::auth::NewAccountFields token error/>
                                        <button type="submit" class="primary">"Create account"</button>
                                    </div>
                                </ActionForm>
                            }
                            .into_any(),
                            Err(e) => view! { <FormAlert error=Signal::derive(move || Some(e.clone()))/> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </Page>
    }
}
