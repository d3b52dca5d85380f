//! The owner's commands.

pub mod serve;
