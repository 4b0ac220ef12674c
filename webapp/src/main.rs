//! The chainpost web app (read, post and mine through a node); built under the web-app issue.

fn main() {}
