//! The `odradek` command line.

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
    /// TOML file of Kafka broker settings (applied before --set).
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
                .apply_toml(&text)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        for setting in &self.settings {
            config.set(setting).map_err(|e| e.to_string())?;
        }
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(id) = self.node_id {
            config.node_id = id;
        }
        if let Some(advertised) = &self.advertised_listener {
            let (host, port) = advertised
                .rsplit_once(':')
                .ok_or_else(|| format!("--advertised-listener '{advertised}' is not HOST:PORT"))?;
            let port = port
                .parse::<u16>()
                .map_err(|e| format!("--advertised-listener port '{port}': {e}"))?;
            config.advertised = Some((host.trim_matches(['[', ']']).to_string(), port));
        }
        Ok(config)
    }
}
