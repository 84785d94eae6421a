//! The Kafka wire protocol: primitives, generated messages, framing and record batches.

pub mod error_code;
pub mod frame;
pub mod records;
pub mod wire;

#[rustfmt::skip]
pub mod messages;

#[cfg(test)]
pub mod testing;

#[cfg(test)]
mod codec_tests;
