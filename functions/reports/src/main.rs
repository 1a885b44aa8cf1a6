//! Lambda `reports`: the report queue's requests (reports and open-data releases;
//! docs/REPORTS.md; a release is pushed to the CKAN portal with `RAVIS_CKAN_URL`) and, on its
//! monthly schedule, the lake rewrite and the open-data reports.

use ravis::app::AwsApp;
use ravis::config::Settings;
use ravis::inbound::lambda::serve_reports;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    let app = AwsApp::connect(settings).await?;
    let (worker, queue) = app.report_worker()?;
    let (writer, reports) = app.report_schedule()?;
    serve_reports(worker, queue, writer, reports).await
}
