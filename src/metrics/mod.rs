//! What the broker measures of itself: per-partition traffic as the
//! leader sees it (`traffic`), which the balancer and the hot-partition
//! report read.

pub mod traffic;
