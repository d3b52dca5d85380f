//! The integration tests: one binary, one module per behaviour, sharing `support` (the fakes, the
//! in-process app and the AWS emulator). One binary links once and starts the emulator once.
//!
//! Run a behaviour alone with its module name as the filter, e.g. `cargo test --test it fault_matrix::`.

mod support;

mod cache;
mod card;
mod card_params;
mod cli_help;
mod demo;
mod emulator_service;
mod emulator_stores;
mod fault_matrix;
mod fuzz_props;
mod history_api;
mod history_collect;
mod history_commands;
mod history_import;
mod history_store;
mod hot_path;
mod http_surface;
mod lambda_events;
mod lastfm;
mod lastfm_commands;
mod lastfm_import;
mod logs;
mod mapping;
mod mixed_versions;
mod open_link;
mod owner_commands;
mod owner_console;
mod parallel_processes;
mod playlists;
mod premium;
mod privacy_rules;
mod profile;
mod serve_limits;
mod table_faults;
mod token_edges;
mod tokens;
