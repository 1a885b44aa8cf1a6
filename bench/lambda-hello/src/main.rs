//! The cold-start baseline (`docs/BENCHMARKS.md`, "Cold start"): a `lambda_runtime`
//! function that does nothing but echo its event, built like the real functions.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
