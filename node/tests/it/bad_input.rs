//! Bad input of every kind: a 4xx with a JSON message, and nothing changes.
