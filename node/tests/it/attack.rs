//! The attack suite: what a stranger on the internet can try against a node, each case
//! a real node on loopback attacked over real sockets.

mod browsers;
mod connections;
mod names;
mod peers;
mod reads;
mod side_branches;
mod sync;
