//! Lambda `intake-worker`: SQS-triggered by partner-bucket events; imports the files, writes
//! their reports under `results/`, reports batch item failures.

use ravis::app::AwsApp;
use ravis::config::Settings;
use ravis::inbound::lambda::serve_sqs;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    // One invocation at a time per execution environment, which keeps /tmp: a report spool
    // found now was left by an invocation that timed out (its import resumes on redelivery).
    ravis::intake::report::clear_stale_spools(&std::env::temp_dir());
    let app = AwsApp::connect(settings).await?;
    // A message that is not an S3 notification goes to the intake DLQ at once.
    let (worker, queue) = app.intake_worker()?;
    serve_sqs(worker, queue).await
}
