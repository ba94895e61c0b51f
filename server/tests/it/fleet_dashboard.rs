//! The dashboard follows the fleet: filtered by tags, owner and status (the counts and the
//! timeline too), searched by external id and contact, and the page keeps the filter in every
//! link; on the store the run chose.

use console_core::connections::fleet::{self, Change, Query};
use console_core::connections::metadata::Selector;
use console_model::{Dashboard, Role, Status};

use crate::fleet_keys::{World, world};
use crate::support;

/// ACME (tenant-ACME): env=prod, contact Ann, owned by `csm`; Globex (tenant-Globex):
/// env=dev and region=emea, no owner.
async fn fleet() -> World {
    let w = world().await;
    support::person(&w.state, "csm-id", "csm", Role::Editor).await;
    let acme = Change {
        contact_name: Some("Ann Admin".into()),
        contact_email: Some("ann@acme.example".into()),
        owner: Some("csm".into()),
        ..Change::default()
    };
    fleet::change(&w.state, &w.prod.0, &acme).await.unwrap();
    let globex = Change {
        tags: Some("region=emea".into()),
        ..Change::default()
    };
    fleet::change(&w.state, &w.dev.0, &globex).await.unwrap();
    w
}

async fn board(
    w: &World,
    search: &str,
    tags: &[&str],
    owner: Option<&str>,
    status: Option<&str>,
) -> Dashboard {
    let query = Query {
        selector: Selector::of_pairs(tags.iter().copied()).unwrap(),
        owner: owner.map(str::to_owned),
        status: status.map(str::to_owned),
        ..Query::default()
    };
    console_core::connections::dashboard(&w.state, search, None, 0, &query)
        .await
        .unwrap()
}

fn names(d: &Dashboard) -> Vec<&str> {
    d.rows.iter().map(|r| r.name.as_str()).collect()
}

fn counted(d: &Dashboard, status: Status) -> i64 {
    d.counts
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(0, |(_, n)| *n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_counts_timeline_and_rows_follow_the_filter() {
    let w = fleet().await;
    let all = board(&w, "", &[], None, None).await;
    assert_eq!(all.total, 2);
    assert_eq!(all.timeline.iter().map(|b| b.count).sum::<i64>(), 2);

    let prod = board(&w, "", &["env:prod"], None, None).await;
    assert_eq!(names(&prod), ["ACME"]);
    assert_eq!((prod.total, counted(&prod, Status::Healthy)), (1, 1));
    assert_eq!(prod.timeline.iter().map(|b| b.count).sum::<i64>(), 1);
    assert_eq!(prod.rows[0].tags, [("env".to_owned(), "prod".to_owned())]);
    assert_eq!(prod.rows[0].external_id.as_deref(), Some("tenant-ACME"));

    let both = board(&w, "", &["env:dev", "region=emea"], None, None).await;
    assert_eq!(names(&both), ["Globex"]);
    assert_eq!(
        board(&w, "", &["env:prod", "region:emea"], None, None)
            .await
            .total,
        0
    );

    let owned = board(&w, "", &[], Some("csm"), None).await;
    assert_eq!(names(&owned), ["ACME"]);
    assert_eq!(owned.filter.owner.as_deref(), Some("csm"));
    assert_eq!(board(&w, "", &[], None, Some("healthy")).await.total, 2);
    let failing = board(&w, "", &[], None, Some("failing")).await;
    assert_eq!((failing.total, failing.rows.len()), (0, 0));

    // Search finds external ids and contacts, within the filter too.
    assert_eq!(
        names(&board(&w, "tenant-glob", &[], None, None).await),
        ["Globex"]
    );
    assert_eq!(
        names(&board(&w, "ann@acme", &[], None, None).await),
        ["ACME"]
    );
    assert!(
        board(&w, "ann@acme", &["env:dev"], None, None)
            .await
            .rows
            .is_empty()
    );
    assert_eq!(
        names(&board(&w, "tenant", &["env:dev"], None, Some("healthy")).await),
        ["Globex"]
    );

    // A bad filter is named.
    for (tags, owner, status, renewal, field) in [
        (vec!["Env:prod"], None, None, None, "selector"),
        (vec![], Some("nobody"), None, None, "owner"),
        (vec![], None, Some("asleep"), None, "status"),
        (vec![], None, None, Some("asked"), "renewal"),
    ] {
        let query = Query {
            selector: Selector::default(),
            owner: owner.map(str::to_owned),
            status: status.map(str::to_owned),
            external_id: None,
            renewal: renewal.map(str::to_owned),
        };
        let outcome = match Selector::of_pairs(tags.iter().copied()) {
            Err(e) => Err(e),
            Ok(selector) => console_core::connections::dashboard(
                &w.state,
                "",
                None,
                0,
                &Query { selector, ..query },
            )
            .await
            .map(|_| ()),
        };
        let e = outcome.unwrap_err();
        assert_eq!(e.field(), Some(field), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_keeps_the_filter_in_its_links_and_owner_me_is_the_signed_in_account() {
    let w = fleet().await;
    let http = support::browser();
    assert!(
        support::sign_in(&http, &w.base, "csm")
            .await
            .status()
            .is_success()
    );
    let page = |query: &str| {
        let http = http.clone();
        let url = format!("{}/{query}", w.base);
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };

    let mine = page("?owner=me").await;
    assert!(
        mine.contains("ACME") && !mine.contains(">Globex<"),
        "{mine}"
    );
    assert!(mine.contains("owner me"), "the filter is shown as given");
    let tagged = page("?tag=env%3Adev").await;
    assert!(tagged.contains(">Globex<") && !tagged.contains(">ACME<"));
    // The row's chips add to the filter; the timeline and the counts keep it.
    assert!(
        tagged.contains("href=\"/?tag=env%3Adev&amp;tag=region%3Aemea\""),
        "{tagged}"
    );
    assert!(
        tagged.contains("href=\"/?tag=env%3Adev&amp;status=healthy\""),
        "{tagged}"
    );
    assert!(
        tagged.contains("href=\"/?tag=env%3Adev&amp;week="),
        "{tagged}"
    );
    assert!(
        tagged.contains("<input type=\"hidden\" name=\"tag\" value=\"env:dev\""),
        "{tagged}"
    );
    let none = page("?tag=env:prod&status=failing").await;
    assert!(
        none.contains("No connection matches these filters."),
        "{none}"
    );
    assert!(none.contains("Clear filters"));
    let bad = page("?tag=Env:prod").await;
    assert!(bad.contains("selector") || bad.contains("tag"), "{bad}");
    assert!(bad.contains("Show all connections"));
}
