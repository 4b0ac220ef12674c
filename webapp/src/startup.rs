//! Building and running the web app: make a client per node, bind, serve.
//!
//! [`Application::build`] binds before it returns, so callers (tests included) can ask for
//! port 0 and read the port that was chosen.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use chainpost_edge::cross_site::AllowedHosts;
use chainpost_edge::serve::{self, ServeLimits};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::node_client::NodeClient;
use crate::routes::app;
use crate::routes::live::LiveFeeds;
use crate::routes::state::{AppState, Nodes, WebState};

/// A web app bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    router: axum::Router,
    state: AppState,
    stopping: watch::Sender<bool>,
    serve_limits: ServeLimits,
}

impl Application {
    /// Makes the node clients and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let clients = config
            .nodes
            .iter()
            .map(|url| NodeClient::new(url.clone(), config.node_timeout, config.mine_timeout))
            .collect::<Result<Vec<_>, _>>()
            .context("cannot create the HTTP client for the nodes")?;
        let nodes = Nodes::new(clients).context("at least one --node is needed")?;
        if !config.static_dir.join("app.css").is_file() {
            tracing::warn!(
                dir = %config.static_dir.display(),
                "the static directory has no app.css: pages will have no style or script; \
                 pass --static-dir with the path of the repository's static/ directory"
            );
        }
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
        let address = listener.local_addr()?;
        let (stopping, shutdown) = watch::channel(false);
        let live = LiveFeeds::new(nodes.len());
        let allowed_hosts = if config.allowed_hosts.is_empty() {
            AllowedHosts::default_for(address.ip())
        } else {
            AllowedHosts::from_names(config.allowed_hosts.iter().map(String::as_str))
        };
        tracing::info!(%allowed_hosts, "answering to");
        let reader_nodes = config.reader_nodes_allowed(address.ip());
        tracing::info!(reader_nodes, "readers may add nodes");
        let state = Arc::new(WebState {
            nodes,
            reader_nodes,
            poll_interval: config.poll_interval,
            shutdown,
            live,
            allowed_hosts,
        });
        Ok(Application {
            listener,
            address,
            router: app(state.clone(), &config.static_dir),
            state,
            stopping,
            serve_limits: ServeLimits {
                max_connections: serve::raise_open_files_limit(config.max_connections),
                ..config.serve_limits()
            },
        })
    }

    /// The address the web app listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until `shutdown` completes, then ends the live-update streams, finishes
    /// in-flight requests and returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stopping = self.stopping;
        self.state.spawn_pollers();
        serve::serve(self.listener, self.router, self.serve_limits, async move {
            shutdown.await;
            tracing::info!("shutting down");
            stopping.send_replace(true);
        })
        .await?;
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM (the node's signal handling, shared).
pub use chainpost_edge::shutdown::shutdown_signal;
