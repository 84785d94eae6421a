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
                .unwrap_or_else(|_| "info".into()),
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

async fn serve(mut config: odradek::config::BrokerConfig) -> Result<(), String> {
    // Bound first, so that a port of 0 resolves to the port clients are told.
    let listeners = Server::bind(&mut config).await.map_err(|e| e.to_string())?;
    let inert = config.inert_settings().join(", ");
    if !inert.is_empty() {
        tracing::info!("accepted, with no effect on Odradek: {inert}");
    }
    let broker = Arc::new(Broker::open(config).map_err(|e| e.to_string())?);
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
    let stop = shutdown_signal();
    println!(
        "odradek ready: listening on {addr}, node {}, cluster {}, data in {}",
        broker.config.node_id,
        broker.cluster_id,
        broker.config.data_dir.display()
    );
    server.run(stop).await;
    broker
        .close()
        .map_err(|e| format!("closing the log: {e}"))?;
    Ok(())
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
