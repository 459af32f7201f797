//! # Testing pipelines: scripted streams and their panes
//!
//! TUTORIAL
//!
//! The pieces: [`TestStream`] (the script, a [`crate::pipeline::Source`]), [`run`] and
//! [`Harness`] (run a pipeline on it at one or more worker counts), [`TestResult`] with
//! its [`Panes`] and [`DeadLetters`] selections (what came out, and assertions that print
//! the whole run when they fail).

mod gate;
mod harness;
mod result;
mod stream;

pub use harness::{run, Harness, TestError};
pub use result::{DeadLetters, Panes, TestResult};
pub use stream::{Action, TestStream};

#[cfg(test)]
mod tests;
