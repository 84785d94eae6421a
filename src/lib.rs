//! Odradek: an event-streaming broker that speaks the Apache Kafka wire protocol.

pub mod protocol;
