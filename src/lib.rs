//! `nowplaying`: what the owner is listening to on Spotify, served as JSON to a portfolio page.
//!
//! One flow, two front doors: [`http::router`] is the whole HTTP surface, handed to
//! `lambda_http::run` by `nowplaying-lambda` and to `cli::connections::serve` by `nowplaying serve`. The
//! module map and the algorithms are in docs/architecture.md.

pub mod app;
pub mod art;
pub mod assets;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod collect;
pub mod color;
pub mod config;
pub mod console;
pub mod cooldown;
pub mod demo;
pub mod error;
pub mod history;
pub mod http;
pub mod import;
pub mod keys;
pub mod lambda;
pub mod lastfm;
pub mod lease;
pub mod lists;
pub mod model;
pub mod nowplaying;
pub mod owner;
pub mod report;
pub mod rules;
pub mod seal;
pub mod secret;
pub mod signin;
pub mod source;
pub mod spotify;
pub mod store;
pub mod svg;
pub mod tokens;
pub mod upstream;
