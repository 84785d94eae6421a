//! The `odradek` command line: `serve` runs the broker; the other
//! subcommands are admin and console tools that talk to any Kafka-compatible
//! broker over the wire.

pub mod client;
pub mod cluster;
pub mod consume;
pub mod errors;
pub mod group_api;
pub mod groups;
pub mod meta;
pub mod output;
pub mod produce;
pub mod time;
pub mod topics;

use crate::config::BrokerConfig;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "odradek",
    version,
    about = "An event-streaming broker that speaks the Apache Kafka protocol"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the broker (defaults: 127.0.0.1:9092, ./odradek-data, node 0).
    Serve(ServeArgs),
    /// Create, list, describe, delete topics and alter their configs.
    Topics {
        #[command(flatten)]
        conn: ConnArgs,
        #[command(subcommand)]
        action: topics::TopicsAction,
    },
    /// List, describe and delete consumer groups; reset their offsets.
    Groups {
        #[command(flatten)]
        conn: ConnArgs,
        #[command(subcommand)]
        action: groups::GroupsAction,
    },
    /// Brokers and their load; the balancer's plan; draining a broker.
    Cluster {
        #[command(flatten)]
        conn: ConnArgs,
        #[command(subcommand)]
        action: cluster::ClusterAction,
    },
    /// Console producer: one record per stdin line.
    Produce {
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        args: produce::ProduceArgs,
    },
    /// Console consumer: prints records to stdout.
    Consume {
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        args: consume::ConsumeArgs,
    },
}

/// How the client commands reach the broker and print results.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnArgs {
    /// Brokers to bootstrap from, comma-separated; the first that answers is used.
    #[arg(
        long,
        global = true,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap_server: String,
    /// Per-request timeout.
    #[arg(long, global = true, value_name = "MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// Runs a client subcommand (everything but `serve`) to completion.
pub async fn run_client(command: Command) -> Result<(), errors::CliError> {
    let conn = match &command {
        Command::Serve(_) => return Err(errors::CliError::new("`serve` is not a client command")),
        Command::Topics { conn, .. }
        | Command::Groups { conn, .. }
        | Command::Cluster { conn, .. } => conn.clone(),
        Command::Produce { conn, .. } | Command::Consume { conn, .. } => conn.clone(),
    };
    let timeout = std::time::Duration::from_millis(conn.request_timeout_ms.max(1));
    let mut cluster = client::Cluster::connect(&conn.bootstrap_server, timeout).await?;
    match command {
        Command::Serve(_) => Ok(()),
        Command::Topics { action, .. } => topics::run(&mut cluster, action, conn.json).await,
        Command::Groups { action, .. } => groups::run(&mut cluster, action, conn.json).await,
        Command::Cluster { action, .. } => cluster::run(&mut cluster, action, conn.json).await,
        Command::Produce { args, .. } => produce::run(&mut cluster, args, conn.json).await,
        Command::Consume { args, .. } => consume::run(&mut cluster, args, conn.json).await,
    }
}

#[derive(clap::Args, Debug, Default)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Address given to clients in Metadata (defaults to --listen).
    #[arg(long, value_name = "HOST:PORT")]
    pub advertised_listener: Option<String>,
    /// Data directory.
    #[arg(long, value_name = "PATH")]
    pub data_dir: Option<PathBuf>,
    /// Node id.
    #[arg(long, value_name = "N")]
    pub node_id: Option<i32>,
    /// File of Kafka broker settings, TOML or a Kafka `server.properties`
    /// (applied before --set).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Kafka broker setting by its Kafka name, e.g. --set num.partitions=3 (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub settings: Vec<String>,
}

impl ServeArgs {
    pub fn to_config(&self) -> Result<BrokerConfig, String> {
        let mut config = BrokerConfig::default();
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            config
                .apply_file(path, &text)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        for setting in &self.settings {
            config.set(setting).map_err(|e| e.to_string())?;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(id) = self.node_id {
            config.node_id = id;
        }
        if let Some(listen) = self.listen {
            let listener = config
                .client_listener_mut()
                .ok_or("--listen: this node has no client listener")?;
            listener.host = listen.ip().to_string();
            listener.port = listen.port();
        }
        if let Some(advertised) = &self.advertised_listener {
            let (host, port) = advertised
                .rsplit_once(':')
                .ok_or_else(|| format!("--advertised-listener '{advertised}' is not HOST:PORT"))?;
            let port = port
                .parse::<u16>()
                .map_err(|e| format!("--advertised-listener port '{port}': {e}"))?;
            let name = config
                .client_listener_mut()
                .ok_or("--advertised-listener: this node has no client listener")?
                .name
                .clone();
            config
                .cluster
                .advertised
                .insert(name, (host.trim_matches(['[', ']']).to_string(), port));
        }
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}
