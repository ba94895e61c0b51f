//! `connections import`: a fleet from CSV or JSON lines, each row checked with Concur as the
//! form checks one; passing rows stored, failing rows reported with their diagnosis, nothing
//! duplicated on a second run, no secret echoed, a dry run that asks Concur nothing.

use std::sync::Arc;

use concur::ManualClock;
use concur_sim::{DEMO_SCOPES, Simulator};
use console_core::store;
use stores::Store;

use crate::support::{self, stores};

fn run(store: &Store, sim: &Simulator, args: &[&str]) -> (i32, String, String) {
    let mut args = args.to_vec();
    args.splice(0..0, ["connections", "import"]);
    let mut command = store.console(&args);
    command.env("CONCUR_ALLOWED_HOSTS", sim.allowed_hosts());
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_is_imported_row_by_row_and_never_twice() {
    let sim = Simulator::spawn().await.unwrap();
    let store = Store::chosen().await;
    let settings = support::settings_for(&store, sim.allowed_hosts());
    let (_, state) = support::serve(settings, Arc::new(ManualClock::at(sim.now()))).await;
    let (client_id, secret) = sim.add_app(DEMO_SCOPES);
    let (acme, globex, initech) = (
        sim.add_company("us2"),
        sim.add_company("us2"),
        sim.add_company("us2"),
    );
    let refresh_acme = sim.issue_refresh_token(&acme, &client_id);
    let refresh_globex = sim.issue_refresh_token(&globex, &client_id);
    let request_initech = sim.mint_request_token(&initech, &client_id);
    let us2 = sim.origin("us2");
    let csv = format!(
        "Name,Client ID,Client Secret,Refresh Token,Company UUID,Company Request Token,Authorization URL,Scope profile\n\
         ACME,{client_id},{secret},{refresh_acme},,,{us2},expense-approvals\n\
         \"Globex, Inc.\",{client_id},{secret},{refresh_globex},,,{us2},expense-approvals\n\
         Dead token,{client_id},{secret},0c4a6e2b-dead-4bee-8f00-000000000108,,,{us2},expense-approvals\n\
         Initech,{client_id},{secret},,{initech},{request_initech},{us2},expense-approvals\n\
         No secrets,{client_id},,,,,{us2},expense-approvals\n"
    );
    let dir = std::env::temp_dir().join(format!("cc-fleet-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("fleet.csv");
    std::fs::write(&file, &csv).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = file.to_str().unwrap();

    let (code, out, err) = run(&store, &sim, &[path]);
    assert_eq!(code, 1, "two rows refused: {out}{err}");
    assert!(err.contains("can be read by other users"), "{err}");
    for (row, word) in [
        ("row 2\tACME\tstored", true),
        ("row 3\tGlobex, Inc.\tstored", true),
        ("row 4\tDead token\trefused", true),
        ("row 5\tInitech\tstored", true),
        ("row 6\tNo secrets\trefused\tneeds refresh_token", true),
    ] {
        assert_eq!(out.contains(row), word, "{row} in {out}");
    }
    assert!(
        out.contains("Company Request Token"),
        "the diagnosis says what to do: {out}"
    );
    assert!(out.contains("5 rows: 3 stored, 0 replaced, 0 already present, 0 checked, 2 refused."));
    for secret in [&secret, &refresh_acme, &refresh_globex, &request_initech] {
        assert!(!out.contains(secret.as_str()) && !err.contains(secret.as_str()));
    }
    assert_eq!(store::all_connections(&state.pool).await.unwrap().len(), 3);

    // Again: nothing twice, and the single-use request token is not spent again.
    let (_, again, _) = run(&store, &sim, &[path]);
    assert!(
        again.contains("0 stored, 0 replaced, 3 already present"),
        "{again}"
    );
    assert_eq!(store::all_connections(&state.pool).await.unwrap().len(), 3);

    // A dry run of JSON lines asks Concur nothing and stores nothing.
    let fresh_company = sim.add_company("us2");
    let jsonl = dir.join("more.jsonl");
    let line = serde_json::json!({
        "name": "Umbrella",
        "client_id": client_id,
        "client_secret": secret,
        "company_uuid": fresh_company,
        "request_token": sim.mint_request_token(&fresh_company, &client_id),
        "authorization_url": us2,
        "scope_profile": "expense-approvals",
    });
    let bad_url = serde_json::json!({
        "name": "Elsewhere",
        "client_id": client_id,
        "client_secret": secret,
        "refresh_token": "whatever",
        "authorization_url": "http://169.254.169.254",
        "scope_profile": "expense-approvals",
    });
    std::fs::write(&jsonl, format!("{line}\n{bad_url}\n")).unwrap();
    std::fs::set_permissions(&jsonl, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, dry, err) = run(&store, &sim, &[jsonl.to_str().unwrap(), "--dry-run"]);
    assert_eq!(code, 1);
    assert!(!err.contains("can be read by other users"));
    assert!(dry.contains("row 1\tUmbrella\tchecked"), "{dry}");
    assert!(
        dry.contains("row 2\tElsewhere\trefused\tauthorization_url"),
        "{dry}"
    );
    assert_eq!(store::all_connections(&state.pool).await.unwrap().len(), 3);
    let (code, real, _) = run(&store, &sim, &[jsonl.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        real.contains("row 1\tUmbrella\tstored"),
        "the request token was not spent by the dry run: {real}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
