//! No code: this crate only names dependencies with the features every build uses (see
//! its Cargo.toml).
