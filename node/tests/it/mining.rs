//! Mining off the runtime: the API keeps answering, and a search can be stopped.
