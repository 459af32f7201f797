//! The integration tests of highwater, in one test binary. Shared support — the
//! conformance corpus, one random generator, one bid generator, one batch reference — is
//! the `highwater_tests` library (`tests/src/`).

mod conformance;
mod csv_ranges;
mod files;
mod joins;
mod keyed_process;
mod layout;
mod links;
mod nexmark;
mod pipeline;
mod random_scenarios;
mod retractions;
mod run_cli;
mod tcp;
