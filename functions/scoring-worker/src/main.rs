//! Lambda `scoring-worker`: SQS-triggered; scores submissions, reports batch item failures.

use ravis::app::AwsApp;
use ravis::config::Settings;
use ravis::inbound::lambda::serve_sqs;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    let app = AwsApp::connect(settings).await?;
    // A message that is not a scoring message goes to the scoring DLQ at once.
    let (worker, queue) = app.scoring_worker()?;
    serve_sqs(worker, queue).await
}
