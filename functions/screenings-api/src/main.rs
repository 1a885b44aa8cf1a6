//! Lambda `screenings-api`: screenings, risk profiles and the catalogue.

use ravis::app::AwsApp;
use ravis::config::Settings;
use ravis::inbound::lambda::serve_http;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let settings = Settings::from_env()?;
    ravis::telemetry::init(&settings.log, ravis::telemetry::LogFormat::Json);
    let app = AwsApp::connect(settings).await?;
    serve_http(app.authenticator()?, app.screenings_routes()?).await
}
