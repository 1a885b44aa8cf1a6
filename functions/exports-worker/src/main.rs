//! Lambda `exports-worker`: the export queue's jobs (health Bundles signed with the KMS key,
//! VIIS batches; docs/EXPORTS.md) and, on its one-minute schedule, the exports sweep.

use ravis::app::AwsApp;
use ravis::config::Settings;
use ravis::inbound::lambda::serve_exports;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    let environment = settings.environment.clone();
    let app = AwsApp::connect(settings).await?;
    let (worker, queue) = app.exports_worker().await?;
    let (records, _) = app.exports_sweep()?;
    serve_exports(worker, records, queue, environment).await
}
