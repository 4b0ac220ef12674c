//! The edge of a chainpost process, where the outside world comes in: sockets, browsers,
//! signals, the clock and log output. Both binaries share it, so the node and the web app
//! face strangers with the same limits.

pub mod clock;
pub mod cross_site;
pub mod logging;
pub mod serve;
pub mod shutdown;
