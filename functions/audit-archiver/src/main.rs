//! Lambda `audit-archiver`: every minute, copies the audit entries the other functions
//! appended (pending in the table's index) to the write-once archive bucket, off their
//! request path (docs/SECURITY.md, "Audit archive").

use ravis::app::AwsApp;
use ravis::config::Settings;
use ravis::inbound::lambda::serve_audit_archiver;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    let environment = settings.environment.clone();
    let app = AwsApp::connect(settings).await?;
    serve_audit_archiver(app.audit_archiver()?, environment).await
}
