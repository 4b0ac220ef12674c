//! Blocks from elsewhere: accepted, stored on a side branch, reorganized, or refused.
