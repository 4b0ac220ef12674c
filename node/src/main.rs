//! The `node` binary: parse the configuration, start logging, run until told to stop.

use std::process::ExitCode;

use clap::Parser;

use chainpost_node::config::Config;
use chainpost_node::startup::{Application, shutdown_signal};

// Many small, short-lived allocations per request from every runtime thread: mimalloc's
// per-thread heaps serve them with less locking and fragmentation than glibc's arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    chainpost_node::logging::init(config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    tracing::info!("listening on http://{}", app.address());
    app.run_until(shutdown_signal()).await
}
