//! The `webapp` binary: parse the configuration, start logging, serve until told to stop.

use std::process::ExitCode;

use clap::Parser;

use chainpost_webapp::config::Config;
use chainpost_webapp::startup::{Application, shutdown_signal};

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    chainpost_edge::logging::init(config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let nodes: Vec<String> = config.nodes.iter().map(ToString::to_string).collect();
    let app = Application::build(config).await?;
    tracing::info!(nodes = ?nodes, "listening on http://{}", app.address());
    app.run_until(shutdown_signal()).await
}
