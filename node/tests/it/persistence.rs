//! Durability: what was acknowledged survives kill -9.
