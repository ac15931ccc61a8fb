//! Shared test helpers (real components started by the tests).

pub mod git;
