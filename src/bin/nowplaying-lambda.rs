//! The AWS Lambda entry point: configuration and clients built once per cold start, the same
//! Router as `nowplaying serve` for HTTP events, and the history's collection for its schedule
//! (`nowplaying::lambda::handle`).

use nowplaying::config::Config;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    nowplaying::app::startup_mark("main");
    nowplaying::app::init_tracing("info");
    let config = match Config::from_env().and_then(|c| c.shared_secret_needs_table().map(|()| c)) {
        Ok(c) => c,
        Err(e) => {
            // One line, naming the variable, the value and what is accepted.
            eprintln!("nowplaying-lambda: {e}");
            std::process::exit(2);
        }
    };
    nowplaying::app::startup_mark("config");
    let app = nowplaying::app::from_config(&config).await;
    let router = nowplaying::http::router(app.clone());
    lambda_http::lambda_runtime::run(lambda_http::service_fn(
        move |event: lambda_http::lambda_runtime::LambdaEvent<serde_json::Value>| {
            nowplaying::lambda::handle(app.clone(), router.clone(), event)
        },
    ))
    .await
}
