//! The `node` binary: parse the configuration, start logging, run until told to stop.

use std::process::ExitCode;

use clap::Parser;

use chainpost_chain::state::RestoreError;
use chainpost_edge::shutdown::shutdown_signal;
use chainpost_node::config::Config;
use chainpost_node::startup::Application;
use chainpost_node::store::StoreError;

// Many small, short-lived allocations per request from every runtime thread: mimalloc's
// per-thread heaps serve them with less locking and fragmentation than glibc's arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code when the data directory's store is empty, truncated or corrupt (and was left
/// as it is), so that a supervisor can tell "needs a person" from a failure worth retrying.
/// Any other failure exits with 1; clap exits with 2 on bad flags.
const EXIT_UNUSABLE_STORE: u8 = 3;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    chainpost_edge::logging::init(config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            exit_code(&error)
        }
    }
}

fn exit_code(error: &anyhow::Error) -> ExitCode {
    let unusable_store = error.chain().any(|cause| {
        matches!(cause.downcast_ref(), Some(StoreError::Corrupt(_)))
            || cause.downcast_ref::<RestoreError>().is_some()
    });
    if unusable_store {
        ExitCode::from(EXIT_UNUSABLE_STORE)
    } else {
        ExitCode::FAILURE
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let app = Application::build(config).await?;
    tracing::info!("listening on http://{}", app.address());
    app.run_until(shutdown_signal()).await
}
