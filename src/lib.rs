//! `nowplaying`: what the owner is listening to on Spotify, served as JSON to a portfolio page.
pub mod art;
pub mod model;
pub mod svg;
