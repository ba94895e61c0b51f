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
    /// `--stall eu2=30000` (repeatable; also `POST /_sim/stall {"millis": N}` on its origin;
    /// `GET /_sim/stall` says how many answers have been held back).
    #[arg(long, value_parser = parse_stall)]
    stall: Vec<(String, u64)>,
    /// A data centre whose token endpoint misbehaves until the simulator stops, e.g.
    /// `--fault eu2=html` (server_error, unavailable, maintenance, html, malformed_json,
    /// missing_fields, drop_connection; repeatable). `POST /_sim/faults` on a data centre's
    /// origin injects faults for its next requests.
    #[arg(long, value_parser = parse_fault)]
    fault: Vec<(String, concur_sim::Fault)>,
}

fn parse_fault(raw: &str) -> Result<(String, concur_sim::Fault), String> {
    let (dc, kind) = raw
        .split_once('=')
        .ok_or_else(|| format!("{raw:?} is not DATA_CENTRE=FAULT, e.g. eu2=html"))?;
    if !concur_sim::DATA_CENTERS.contains(&dc) {
        return Err(format!(
            "{dc:?} is not one of {:?}",
            concur_sim::DATA_CENTERS
        ));
    }
    let fault = serde_json::from_value(serde_json::json!({ "kind": kind }))
        .map_err(|_| format!("{kind:?} is not a fault without parameters, such as html"))?;
    Ok((dc.to_owned(), fault))
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
    println!("Concur simulator running.");
    for dc in concur_sim::DATA_CENTERS {
        println!("  data centre {dc:<4} {}", sim.origin(dc));
    }
    for (dc, fault) in &args.fault {
        sim.set_lasting_fault(dc, Some(fault.clone()));
        println!("  data centre {dc} answers with the fault {fault:?}");
    }
    for (dc, millis) in &args.stall {
        sim.stall(dc, *millis);
        println!("  data centre {dc} stalls {millis} ms before answering");
    }
    println!();
    println!("Demo credentials (company lives in us2):");
    println!("{seed}");
    println!();
    println!("Let the console reach it with:");
    println!("  export CONCUR_ALLOWED_HOSTS={}", sim.allowed_hosts());
    tokio::signal::ctrl_c().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_a_data_centre_and_what_it_does() {
        assert_eq!(parse_stall("eu2=3000"), Ok(("eu2".to_owned(), 3000)));
        assert!(parse_stall("mars=1").is_err());
        assert!(parse_stall("eu2").is_err());
        assert_eq!(
            parse_fault("us2=html"),
            Ok(("us2".to_owned(), concur_sim::Fault::Html))
        );
        assert_eq!(
            parse_fault("glz=missing_fields"),
            Ok(("glz".to_owned(), concur_sim::Fault::MissingFields))
        );
        assert!(parse_fault("us2=slow").is_err(), "slow needs its millis");
        assert!(parse_fault("us2=nonsense").is_err());
    }
}
