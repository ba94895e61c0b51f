//! People: invitations make accounts with a role, once; roles and deactivation take effect at
//! once; the last active admin stays; the same from a terminal. Runs on both stores.

use std::sync::Arc;

use concur::ManualClock;
use console_core::auth::Account;
use console_core::state::AppState;
use console_core::store::{self, AccountChange};
use console_model::Role;
use stores::Store;

use crate::support::{self, PASSWORD, stores};

struct World {
    base: String,
    state: AppState,
    clock: Arc<ManualClock>,
    store: Store,
}

async fn world() -> World {
    let store = Store::chosen().await;
    let settings = support::settings_for(&store, String::new());
    // Today, so that links made by a terminal command (on the real clock) are current here.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let clock = Arc::new(ManualClock::at(now));
    let (base, state) = support::serve(settings, clock.clone()).await;
    support::person(&state, "root-id", "root", Role::Admin).await;
    World {
        base,
        state,
        clock,
        store,
    }
}

impl World {
    async fn signed_in(&self, username: &str) -> reqwest::Client {
        let http = support::browser();
        let answer = self
            .post(
                &http,
                "login",
                &[("username", username), ("password", PASSWORD)],
            )
            .await;
        assert!(
            answer.status().is_success(),
            "{username}: {}",
            answer.status()
        );
        http
    }

    async fn post(
        &self,
        http: &reqwest::Client,
        endpoint: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        http.post(format!("{}/api/{endpoint}", self.base))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn page(&self, http: &reqwest::Client, path: &str) -> (u16, String) {
        let answer = http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    }

    /// The links of the waiting invitations, newest first.
    async fn waiting_links(&self) -> Vec<(String, String)> {
        let admin = Account {
            id: "root-id".into(),
            role: Role::Admin,
            method: console_model::SignInMethod::Password,
        };
        console_core::people::people(&self.state, &admin)
            .await
            .unwrap()
            .invitations
            .into_iter()
            .filter_map(|i| Some((i.id, i.url?)))
            .collect()
    }

    async fn accept(&self, http: &reqwest::Client, url: &str, username: &str) -> u16 {
        let token = url.split("token=").nth(1).unwrap();
        self.post(
            http,
            "accept_invitation",
            &[
                ("token", token),
                ("username", username),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await
        .status()
        .as_u16()
    }

    fn command(&self, args: &[&str]) -> std::process::Output {
        self.store.console(args).output().unwrap()
    }

    async fn id_of(&self, username: &str) -> String {
        store::account_id(&self.state.pool, username)
            .await
            .unwrap()
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_makes_one_account_with_its_role() {
    let w = world().await;
    let admin = w.signed_in("root").await;
    assert_eq!(
        w.post(&admin, "invite", &[("role", "editor")])
            .await
            .status(),
        200
    );
    let (_, url) = w.waiting_links().await.remove(0);
    assert!(url.starts_with("http://127.0.0.1") && url.contains("/invite?token="));
    let token = url.split("token=").nth(1).unwrap();
    assert_eq!(token.len(), 43, "256 bits, base64url");

    let invitee = support::browser();
    let (status, page) = w.page(&invitee, &format!("/invite?token={token}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("You are invited as editor"), "{page}");
    let mismatch = w
        .post(
            &invitee,
            "accept_invitation",
            &[
                ("token", token),
                ("username", "erin"),
                ("password", PASSWORD),
                ("confirm", "something else entirely"),
            ],
        )
        .await;
    assert_eq!(mismatch.status(), 422);
    assert_eq!(w.waiting_links().await.len(), 1, "a refusal spends nothing");
    assert_eq!(w.accept(&invitee, &url, "root").await, 422, "name taken");
    assert_eq!(w.accept(&invitee, &url, "erin").await, 200);
    assert!(w.waiting_links().await.is_empty());

    // Signed in at once, as an editor.
    let (status, page) = w.page(&invitee, "/settings").await;
    assert_eq!(status, 403);
    assert!(page.contains("needs the admin role"), "{page}");
    assert_eq!(w.page(&invitee, "/connections/new").await.0, 200);
    let (_, dashboard) = w.page(&invitee, "/").await;
    assert!(dashboard.contains("New connection") && !dashboard.contains("href=\"/people\""));
    assert_eq!(
        w.post(&invitee, "load_people", &[]).await.status(),
        403,
        "refused on the server, not only hidden"
    );

    let again = support::browser();
    assert_eq!(w.accept(&again, &url, "mallory").await, 410, "used once");

    // Revoked and expired links open nothing.
    w.post(&admin, "invite", &[("role", "admin")]).await;
    let (id, revoked) = w.waiting_links().await.remove(0);
    assert_eq!(
        w.post(&admin, "revoke_invitation", &[("id", &id)])
            .await
            .status(),
        200
    );
    assert_eq!(w.accept(&again, &revoked, "mallory").await, 410);
    w.post(&admin, "invite", &[("role", "viewer")]).await;
    let (_, late) = w.waiting_links().await.remove(0);
    w.clock.advance(72 * 3600);
    assert!(w.waiting_links().await.is_empty());
    let (_, page) = w
        .page(
            &again,
            &format!("/invite?{}", late.split('?').nth(1).unwrap()),
        )
        .await;
    assert!(page.contains("does not work any more"), "{page}");
    assert_eq!(w.accept(&again, &late, "mallory").await, 410);
    assert!(
        store::account_id(&w.state.pool, "mallory")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_change_or_deactivation_takes_effect_at_once() {
    let w = world().await;
    let admin = w.signed_in("root").await;
    w.post(&admin, "invite", &[("role", "editor")]).await;
    let (_, url) = w.waiting_links().await.remove(0);
    let dana = support::browser();
    assert_eq!(w.accept(&dana, &url, "dana").await, 200);
    let id = w.id_of("dana").await;
    assert_eq!(w.page(&dana, "/connections/new").await.0, 200);

    let demoted = w
        .post(&admin, "set_role", &[("id", &id), ("role", "viewer")])
        .await;
    assert_eq!(demoted.status(), 200);
    assert_eq!(w.page(&dana, "/connections/new").await.0, 403);
    let (status, page) = w.page(&dana, "/").await;
    assert_eq!(status, 200);
    assert!(
        !page.contains("New connection"),
        "a viewer is not offered it"
    );

    let off = w
        .post(&admin, "set_active", &[("id", &id), ("active", "false")])
        .await;
    assert_eq!(off.status(), 200);
    assert_eq!(w.page(&dana, "/").await.0, 303, "the session ended");
    let refused = w
        .post(
            &support::browser(),
            "login",
            &[("username", "dana"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(refused.status(), 401);
    w.post(&admin, "set_active", &[("id", &id), ("active", "true")])
        .await;
    let back = w.signed_in("dana").await;
    assert_eq!(
        w.page(&back, "/connections/new").await.0,
        403,
        "still a viewer"
    );
    let ended = w.post(&admin, "end_sessions_of", &[("id", &id)]).await;
    assert_eq!(ended.status(), 200);
    assert_eq!(w.page(&back, "/").await.0, 303, "signed out everywhere");
    let again = w.signed_in("dana").await;
    assert_eq!(w.page(&again, "/").await.0, 200, "and may sign in again");

    let (_, people) = w.page(&admin, "/people").await;
    assert!(people.contains("dana") && people.contains("viewer"));
    let (events, _) = store::audit_page(&w.state.pool, &Default::default(), 0, 100)
        .await
        .unwrap();
    for kind in [
        "invitation_created",
        "invitation_accepted",
        "role_changed",
        "account_deactivated",
        "account_reactivated",
        "sessions_ended",
    ] {
        let event = events.iter().find(|e| e.kind == kind).unwrap();
        let who = if kind == "invitation_accepted" {
            ("dana", "editor")
        } else {
            ("root", "admin")
        };
        assert_eq!(
            (event.actor.as_str(), event.actor_role.as_deref()),
            (who.0, Some(who.1)),
            "{kind}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_active_admin_stays() {
    let w = world().await;
    let admin = w.signed_in("root").await;
    let myself = w
        .post(&admin, "set_role", &[("id", "root-id"), ("role", "viewer")])
        .await;
    assert_eq!(myself.status(), 422, "not from the page");
    assert_eq!(
        store::set_role(&w.state.pool, "root-id", Role::Editor, 0)
            .await
            .unwrap(),
        AccountChange::LastAdmin
    );
    assert_eq!(
        store::set_active(&w.state.pool, "root-id", false, 0)
            .await
            .unwrap(),
        AccountChange::LastAdmin
    );
    let refused = w.command(&["deactivate", "root"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("last active admin"));

    // Two admins demoting each other at the same moment leave one.
    support::person(&w.state, "second-id", "second", Role::Admin).await;
    let (a, b) = tokio::join!(
        store::set_role(&w.state.pool, "root-id", Role::Viewer, 0),
        store::set_role(&w.state.pool, "second-id", Role::Viewer, 0),
    );
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| *o == AccountChange::Done);
    assert_eq!(outcomes, [AccountChange::LastAdmin, AccountChange::Done]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_managed_from_a_terminal() {
    let w = world().await;
    let invited = w.command(&["invite", "--role", "viewer"]);
    assert!(invited.status.success(), "{invited:?}");
    let url = String::from_utf8(invited.stdout).unwrap();
    assert!(
        url.trim().contains("/invite?token="),
        "only the link: {url}"
    );
    let vic = support::browser();
    assert_eq!(w.accept(&vic, url.trim(), "vic").await, 200);
    assert_eq!(w.page(&vic, "/connections/new").await.0, 403);

    let promoted = w.command(&["set-role", "vic", "editor"]);
    assert!(promoted.status.success(), "{promoted:?}");
    assert_eq!(w.page(&vic, "/connections/new").await.0, 200);
    let bad = w.command(&["set-role", "vic", "owner"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("viewer, editor or admin"));

    assert!(w.command(&["deactivate", "vic"]).status.success());
    assert_eq!(w.page(&vic, "/").await.0, 303);
    assert!(w.command(&["reactivate", "vic"]).status.success());
    assert_eq!(w.command(&["deactivate", "nobody"]).status.code(), Some(1));
    let (events, _) = store::audit_page(&w.state.pool, &Default::default(), 0, 100)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.kind == "role_changed"
        && e.actor == "terminal"
        && e.detail == "vic is now editor"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_password_sign_in_off_no_password_account_is_made_by_any_path() {
    let w = world().await;
    let (_, url) = console_core::people::invite(&w.state, Role::Editor, "root")
        .await
        .unwrap();
    let token = url.split("token=").nth(1).unwrap().to_owned();
    let mut off = w.state.clone();
    off.local_login = false;
    let root = Account {
        id: "root-id".into(),
        role: Role::Admin,
        method: console_model::SignInMethod::Password,
    };
    for (state, open) in [(&w.state, true), (&off, false)] {
        let view = console_core::people::people(state, &root).await.unwrap();
        assert_eq!(
            view.invitations_open, open,
            "the People page offers an invite form only while password sign-in is on"
        );
    }
    let refused = console_core::people::accept(&off, &token, "newcomer", PASSWORD, PASSWORD).await;
    assert_eq!(
        refused.unwrap_err(),
        console_core::Error::PasswordAccountsOff
    );
    assert_eq!(
        console_core::people::open_invitation(&off, &token).await,
        Err(console_core::Error::PasswordAccountsOff),
        "the invitation page says why instead of offering a password form"
    );
    assert_eq!(
        console_core::people::invite(&off, Role::Viewer, "root").await,
        Err(console_core::Error::PasswordAccountsOff)
    );
    assert!(
        store::account_id(&w.state.pool, "newcomer")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        console_core::auth::setup_link(&off)
            .await
            .unwrap()
            .is_none(),
        "no setup link either"
    );
    for args in [
        &["create-admin", "--username", "breakglass"][..],
        &["reset-password", "--username", "root"][..],
    ] {
        let output = w
            .store
            .console(args)
            .env("CONCUR_LOCAL_LOGIN", "off")
            .env("CONCUR_OIDC_ISSUER", "http://127.0.0.1:9")
            .env("CONCUR_OIDC_CLIENT_ID", "console")
            .env("CONCUR_OIDC_CLIENT_SECRET", "secret")
            .env("CONCUR_OIDC_ADMIN_GROUPS", "ops")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(said.contains("CONCUR_LOCAL_LOGIN=off"), "{args:?}: {said}");
    }
    assert!(
        store::account_id(&w.state.pool, "breakglass")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_end_with_their_makers_right_to_invite() {
    let w = world().await;
    for (id, name) in [
        ("maker-1", "maker1"),
        ("maker-2", "maker2"),
        ("maker-3", "maker3"),
    ] {
        support::account(&w.state, id, name, "", Role::Admin).await;
    }
    let mut links = Vec::new();
    for maker in ["maker1", "maker2", "maker3", "root"] {
        let (_, url) = console_core::people::invite(&w.state, Role::Viewer, maker)
            .await
            .unwrap();
        links.push((maker, url.split("token=").nth(1).unwrap().to_owned()));
    }
    let now = w.state.now();
    assert_eq!(
        store::set_active(&w.state.pool, "maker-1", false, now)
            .await
            .unwrap(),
        AccountChange::Done
    );
    assert_eq!(
        store::delete_admin(&w.state.pool, "maker-2", now)
            .await
            .unwrap(),
        AccountChange::Done
    );
    assert_eq!(
        store::set_role(&w.state.pool, "maker-3", Role::Editor, now)
            .await
            .unwrap(),
        AccountChange::Done
    );
    for (maker, token) in &links {
        let opened = console_core::people::open_invitation(&w.state, token).await;
        if *maker == "root" {
            assert_eq!(opened, Ok(Role::Viewer), "root is still an admin");
        } else {
            assert_eq!(
                opened,
                Err(console_core::Error::InvitationClosed),
                "{maker}'s invitation"
            );
        }
    }
    let revoked: Vec<String> =
        store::audit_page(&w.state.pool, &store::AuditFilter::default(), 0, 100)
            .await
            .unwrap()
            .0
            .into_iter()
            .filter(|r| r.kind == "invitation_revoked")
            .map(|r| r.detail)
            .collect();
    assert_eq!(revoked.len(), 3, "{revoked:?}");
    for maker in [
        "maker1 was deactivated",
        "maker2 was deleted",
        "maker3 is no longer an admin (editor)",
    ] {
        assert!(
            revoked.iter().any(|d| d.ends_with(maker)),
            "{maker}: {revoked:?}"
        );
    }
}
