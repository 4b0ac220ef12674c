//! Building and running a node: open the store, restore the state, bind, serve.
//!
//! [`Application::build`] binds before it returns, so callers (tests included) can ask for
//! port 0 and read the port that was chosen.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::api;
use crate::chain::mempool::MempoolLimits;
use crate::chain::{ChainParams, ChainState};
use crate::config::Config;
use crate::node::Node;
use crate::store::Store;

/// A node bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    node: Arc<Node>,
}

impl Application {
    /// Opens the store, restores the chain state from it and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let params = ChainParams::new(config.difficulty, config.require_signatures)?;
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
        let address = listener.local_addr()?;

        let genesis = params.genesis().hash();
        let (store, loaded) = if config.in_memory {
            Store::in_memory(genesis)?
        } else {
            let dir = config
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(format!("./data/node-{}", address.port())));
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create data directory {}", dir.display()))?;
            let path = dir.join("chain.redb");
            tracing::info!(path = %path.display(), "opening the chain database");
            // redb fsyncs on open; keep that off the runtime's threads.
            tokio::task::spawn_blocking(move || Store::open(&path, genesis)).await??
        };
        let recorded_tip = loaded.best_tip;
        let (blocks, pending) = (loaded.blocks.len(), loaded.mempool.len());
        let chain = tokio::task::spawn_blocking(move || {
            ChainState::restore(
                params,
                MempoolLimits::default(),
                loaded.blocks,
                loaded.mempool,
            )
        })
        .await??;
        let tip = chain.tree().tip().hash();
        if recorded_tip.is_some_and(|recorded| recorded != tip) {
            tracing::warn!(?recorded_tip, %tip, "recorded best tip differs from the rebuilt one; using the rebuilt one");
        }
        tracing::info!(
            blocks,
            pending,
            height = chain.tree().tip().height(),
            %tip,
            "chain restored"
        );

        let threads = config
            .mining_threads
            .map(usize::from)
            .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
            .unwrap_or(1);
        Ok(Application {
            listener,
            address,
            node: Arc::new(Node::new(chain, store, threads)),
        })
    }

    /// The address the node listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The port the node listens on (the chosen one, when 0 was asked for).
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The node behind the API.
    pub fn node(&self) -> Arc<Node> {
        self.node.clone()
    }

    /// Serves until `shutdown` completes, then stops mining, finishes in-flight requests
    /// and returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let node = self.node.clone();
        let router = api::router(self.node);
        axum::serve(self.listener, router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down");
                node.begin_shutdown();
            })
            .await?;
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
