// Cargo applies a crate's [build-dependencies] only if it has a build script: this one
// unifies the features of the build scripts' and proc macros' dependencies.
fn main() {}
