//! The fake Spotify of `tests/support` as a process, for multi-process, browser and benchmark
//! runs: `cargo run --example fake_spotify -- [--port N]`. Prints `listening on http://…` and
//! serves until killed; script it through `/_admin/*`.

// The integration tests' fake, whole: this process serves it and leaves the scripting helpers
// (statuses, bodies) to the tests and to `/_admin/*`.
#[allow(dead_code)]
#[path = "../it/support/fake_spotify.rs"]
mod fake_spotify;

#[tokio::main]
async fn main() {
    let mut port = 0u16;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--port" {
            port = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        }
    }
    let fake = fake_spotify::FakeSpotify::start_on(&format!("127.0.0.1:{port}")).await;
    println!("listening on {}", fake.base);
    std::future::pending::<()>().await;
}
