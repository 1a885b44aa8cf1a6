//! Lambda `worklist-sweep`: on a schedule, reconciles the worklists of children a crash left
//! pending, stamps newly overdue items and publishes the overdue count (docs/CARE_PATHWAY.md).

use ravis::app::AwsApp;
use ravis::config::Settings;
use ravis::inbound::lambda::serve_worklist_sweep;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    let environment = settings.environment.clone();
    let app = AwsApp::connect(settings).await?;
    serve_worklist_sweep(app.worklist_sweep(), environment).await
}
