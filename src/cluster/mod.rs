//! The cluster: the metadata log's records, the image every broker reads,
//! and the controller's decisions. Everything here is free of I/O, so it is
//! tested by properties; the quorum that replicates the records and the
//! services that act on the image sit around it.

pub mod controller;
pub mod image;
pub mod join;
pub mod node;
pub mod placement;
pub mod quorum;
pub mod records;

#[cfg(test)]
mod tests;
