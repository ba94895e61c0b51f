//! `make bench`: figures, never assertions. Everything runs on loopback against the simulator.

mod dashboard;
mod keepalive;
mod token;

#[tokio::main]
async fn main() {
    token::client_overhead().await;
    token::simulator_throughput().await;
    dashboard::dashboard().await;
    keepalive::sweep().await;
    keepalive::token_api().await;
}
