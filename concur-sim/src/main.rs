//! `concur-sim`: the Concur simulator as a process, for the demo and manual tries.

use clap::Parser;

/// Runs a Concur authentication simulator on loopback and prints demo credentials.
#[derive(Parser)]
#[command(name = "concur-sim", version)]
struct Args {
    /// Address to listen on; keep it on loopback.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// First port: data centres us2, eu2 and glz listen on this port and the next two.
    #[arg(long, default_value_t = 9100)]
    port: u16,
    /// A data centre whose token endpoint answers only after some milliseconds, e.g.
    /// `--stall eu2=30000` (repeatable; also `POST /_sim/stall {"millis": N}` on its origin).
    #[arg(long, value_parser = parse_stall)]
    stall: Vec<(String, u64)>,
}

fn parse_stall(raw: &str) -> Result<(String, u64), String> {
    let (dc, millis) = raw
        .split_once('=')
        .ok_or_else(|| format!("{raw:?} is not DATA_CENTRE=MILLISECONDS, e.g. eu2=30000"))?;
    if !concur_sim::DATA_CENTERS.contains(&dc) {
        return Err(format!(
            "{dc:?} is not one of {:?}",
            concur_sim::DATA_CENTERS
        ));
    }
    let millis = millis
        .parse()
        .map_err(|_| format!("{millis:?} is not a number of milliseconds"))?;
    Ok((dc.to_owned(), millis))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let sim = concur_sim::Simulator::bind(args.bind, args.port).await?;
    let seed = sim.seed_demo();
    for (dc, millis) in &args.stall {
        sim.stall(dc, *millis);
        println!("  data centre {dc} stalls {millis} ms before answering");
    }
    println!("Concur simulator running.");
    for dc in concur_sim::DATA_CENTERS {
        println!("  data centre {dc:<4} {}", sim.origin(dc));
    }
    println!();
    println!("Demo credentials (company lives in us2):");
    println!("{seed}");
    println!();
    println!("Let the console reach it with:");
    println!("  export CONCUR_ALLOWED_HOSTS={}", sim.allowed_hosts());
    tokio::signal::ctrl_c().await
}
