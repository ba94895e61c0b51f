//! `make bench`: figures, never assertions. Everything runs on loopback against the simulator.
//! `bench [client|simulator|dashboard|handoff|sweep|stuck|token|outage]…` runs only the sections named.

mod dashboard;
mod keepalive;
mod outage;
mod token;

#[tokio::main]
async fn main() {
    let chosen: Vec<String> = std::env::args().skip(1).collect();
    let runs = |section: &str| chosen.is_empty() || chosen.iter().any(|c| c == section);
    if runs("client") {
        token::client_overhead().await;
    }
    if runs("simulator") {
        token::simulator_throughput().await;
    }
    if runs("dashboard") {
        dashboard::dashboard().await;
    }
    if runs("handoff") {
        dashboard::handoff_page().await;
    }
    if runs("sweep") {
        keepalive::sweep().await;
    }
    if runs("stuck") {
        keepalive::stuck().await;
    }
    if runs("token") {
        keepalive::token_api().await;
    }
    if runs("outage") {
        outage::outage().await;
    }
}
