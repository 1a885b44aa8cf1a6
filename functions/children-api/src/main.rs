//! Lambda `children-api`: the children routes (register, read, change, search, break-the-glass),
//! the data protection officer's `GET /audit`, `/audit/report`, `/audit/break-the-glass`, and the
//! registry routes (organisations, specialists with certifications, support episodes,
//! legal representatives).

use ravis::app::AwsApp;
use ravis::config::Settings;
use ravis::inbound::lambda::serve_http;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    let app = AwsApp::connect(settings).await?;
    serve_http(app.authenticator()?, app.children_routes()?).await
}
