//! Shared helpers for the benchmarks in `bench/` that run metalroute and peer implementations
//! side by side and print ratios.
