//! Selfish mining (`experiment selfish`): a pool that withholds its blocks, played by the
//! runner on an ordinary node linked with nobody, against a mesh of honest nodes.

pub mod analysis;
pub mod config;
mod pool;
pub mod record;
pub mod report;
pub mod run;

pub use config::{Arrival, SelfishConfig, SelfishSettings};
pub use record::SelfishRecord;
