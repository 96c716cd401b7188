//! Behaviour the client specification does not cover.
