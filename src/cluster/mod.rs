//! The cluster. Free of I/O, and tested by properties: the metadata log's
//! records (`records`), the image every broker reads (`image`), and the
//! controller's decisions (`controller`, `placement`). Around them: the
//! quorum that replicates the records (`quorum`, openraft's only user), and
//! a node's seat in the cluster (`node`, started by `join`), its local logs
//! following the image (`replicas`), copying their leaders (`fetcher`),
//! the ISRs of the partitions it leads (`isr`), and its requests to other
//! brokers for the coordinators (`peers`).

pub mod autobalance;
pub mod balancer;
pub mod controller;
pub mod fetcher;
pub mod hot;
pub mod image;
pub mod isr;
pub mod join;
pub mod load;
pub mod node;
#[cfg(test)]
mod node_tests;
pub mod peers;
pub mod placement;
pub mod quorum;
pub mod reassignment;
pub mod records;
pub mod replicas;
#[cfg(test)]
mod sim;
pub mod throttles;

#[cfg(test)]
mod tests;
