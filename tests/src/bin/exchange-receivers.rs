//! The loopback test receivers as a process, for benchmarks and manual runs against
//! `ravis serve --fhir-url`: starts the FHIR test receiver (`ravis_tests::fhir_receiver`)
//! and the VIIS test receiver (`ravis_tests::viis_receiver`) on free loopback ports, prints
//!
//! ```text
//! fhir http://127.0.0.1:<port>/fhir
//! viis http://127.0.0.1:<port>/viis
//! ```
//!
//! and serves until its standard input closes (or it is killed). Signatures are not checked
//! (the receiver is not told the signing key); everything else is, as in the suites.

use ravis_tests::fhir_receiver::FhirReceiver;
use ravis_tests::viis_receiver::ViisReceiver;
use std::io::{Read, Write};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let fhir = FhirReceiver::start().await;
    let viis = ViisReceiver::start().await;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "fhir {}", fhir.base)?;
        writeln!(out, "viis {}", viis.base)?;
        out.flush()?;
    }
    tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new()))
        .await
        .map_err(std::io::Error::other)??;
    let refused = fhir.refusals().len() + viis.refusals().len();
    eprintln!(
        "exchange-receivers: {} Bundles submitted, {} resources stored, {} refused by the checks",
        fhir.submissions(),
        fhir.stored().len(),
        refused
    );
    Ok(())
}
