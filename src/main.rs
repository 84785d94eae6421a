use clap::Parser;
use odradek::broker::Broker;
use odradek::cli::{Cli, Command};
use odradek::server::Server;
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ODRADEK_LOG")
                .unwrap_or_else(|_| "info,openraft=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => run_serve(args),
        client => run_client(client),
    }
}

/// The admin and console commands: a small runtime, errors to stderr, exit 1.
fn run_client(command: Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("odradek: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(odradek::cli::run_client(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("odradek: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_serve(args: odradek::cli::ServeArgs) -> ExitCode {
    let config = match args.to_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("odradek: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("odradek: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("odradek: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A node alone starts its quorum this long after it starts serving: the
/// quorum's start (openraft's ~25 ms of CPU among it) would otherwise
/// compete with the first clients on a small machine, and until the quorum
/// is up the node decides alone, as it always did (what it decides is
/// imported at the join).
const ALONE_QUORUM_START_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

async fn serve(mut config: odradek::config::BrokerConfig) -> Result<(), String> {
    // Bound first, so that a port of 0 resolves to the port clients are told.
    let listeners = Server::bind(&mut config).await.map_err(|e| e.to_string())?;
    let inert = config.inert_settings().join(", ");
    if !inert.is_empty() {
        tracing::info!("accepted, with no effect on Odradek: {inert}");
    }
    let broker = Arc::new(Broker::open(config).map_err(|e| e.to_string())?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    // A node alone serves at once, as itself; its quorum (one voter) starts
    // beside it and takes over the image once this broker is registered. A
    // node of a cluster joins the quorum before it serves any client.
    let alone = broker.config.cluster.voters.is_empty();
    let joining = {
        let broker = Arc::clone(&broker);
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            if alone {
                tokio::time::sleep(ALONE_QUORUM_START_DELAY).await;
            }
            join_and_run(broker, stop).await
        })
    };
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<String>();
    let (pending, running) = if alone {
        (Some(joining), None)
    } else {
        let joined = tokio::select! {
            joined = joining => joined,
            _ = &mut signal => return Ok(()),
        };
        match joined {
            Ok(Ok(running)) => (None, Some(running)),
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(format!("joining the cluster: {e}")),
        }
    };
    let watcher = tokio::spawn(async move {
        let running = match pending {
            None => running,
            Some(task) => match task.await {
                Ok(Ok(running)) => Some(running),
                Ok(Err(e)) => {
                    let _ = failed_tx.send(e);
                    None
                }
                Err(e) => {
                    let _ = failed_tx.send(format!("joining the cluster: {e}"));
                    None
                }
            },
        };
        if let Some(running) = running {
            let _ = running.await;
        }
    });
    let failed = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let stop = {
        let failed = Arc::clone(&failed);
        let broker = Arc::clone(&broker);
        async move {
            // A node of a cluster whose disk failed leaves, as a Kafka broker
            // whose last log directory failed does: its leaderships move to
            // replicas whose disks work. Alone, it stays to serve reads.
            let disk_failed = async {
                let reason = broker.log.health().offline().await;
                if alone {
                    std::future::pending::<()>().await;
                }
                reason
            };
            tokio::select! {
                _ = &mut signal => {}
                Ok(e) = failed_rx => {
                    tracing::error!("{e}");
                    *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                }
                reason = disk_failed => {
                    tracing::error!("leaving the cluster: the data directory is offline ({reason})");
                }
            }
        }
    };
    let server = Server::new(listeners, Arc::clone(&broker));
    let addr = server
        .local_addrs()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(name, addr)| {
            if name == "PLAINTEXT" {
                addr.to_string()
            } else {
                format!("{name}://{addr}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let serves_clients = broker.config.cluster.roles.broker;
    let role = if serves_clients {
        format!("listening on {addr}")
    } else {
        "a controller serving no clients".to_string()
    };
    println!(
        "odradek ready: {role}, node {}, cluster {}, data in {}",
        broker.config.node_id,
        broker.cluster_id(),
        broker.config.data_dir.display()
    );
    if serves_clients {
        server.run(stop).await;
    } else {
        stop.await;
    }
    let _ = stop_tx.send(true);
    let _ = watcher.await;
    if let Some(node) = broker.cluster_node() {
        // Alone, no other broker could take its clients: nothing to move.
        if !alone {
            node.controlled_shutdown(std::time::Duration::from_secs(5))
                .await;
        }
        let started = std::time::Instant::now();
        node.shutdown().await;
        tracing::debug!("metadata quorum stopped in {:?}", started.elapsed());
    }
    broker
        .close()
        .map_err(|e| format!("closing the log: {e}"))?;
    let failed = failed.lock().unwrap_or_else(|p| p.into_inner()).take();
    failed.map_or(Ok(()), Err)
}

/// Joins the cluster; once joined, the returned task runs this broker's
/// registration and heartbeats (and the controller's duties) until `stop`.
async fn join_and_run(
    broker: Arc<Broker>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let (node, followed) = odradek::cluster::join::join(&broker, stop.clone()).await?;
    // A controller alone keeps no logs: nothing follows the image.
    let follower = broker.config.cluster.roles.broker.then(|| {
        tokio::spawn(odradek::cluster::fetcher::run(
            Arc::clone(&broker),
            node.images(),
            stop.clone(),
        ));
        tokio::spawn(odradek::cluster::isr::run(
            Arc::clone(&broker),
            Arc::clone(&node),
            stop.clone(),
        ));
        tokio::spawn(odradek::cluster::replicas::follow(
            Arc::clone(&broker),
            node.images(),
            followed,
            stop.clone(),
        ))
    });
    Ok(tokio::spawn(async move {
        node.run(stop).await;
        if let Some(follower) = follower {
            let _ = follower.await;
        }
    }))
}

/// SIGINT or SIGTERM. The handlers are installed when this is called (not
/// when first awaited), so a signal that arrives right after the ready line
/// still shuts down cleanly instead of killing the process.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (term, interrupt) {
                (Ok(mut term), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            tracing::info!("shutting down");
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    }
}
