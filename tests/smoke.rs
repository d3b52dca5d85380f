mod support;
use support::*;

#[tokio::test]
async fn playing_track_is_served() {
    let app = TestApp::start(&[]).await;
    app.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Song"),
        true,
        1000,
    )));
    let v = app.now().await;
    assert_eq!(v["name"], "Song");
    assert_eq!(v["status"], "playing");
}
