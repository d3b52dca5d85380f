//! The owner's console at `/owner` over HTTP, against the fake Spotify (its `/v1/me` answers a
//! configurable id) and, for the shared-table cases, the AWS emulator: the sign-in (first setup
//! through the form, renewing), every bad-input and abuse case (another account,
//! callbacks without or with a wrong, replayed or expired state, forged, expired or older
//! sessions, POSTs without session, Origin or CSRF token, floods), and that the console and
//! `nowplaying authorize` store the same document.

use crate::support;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nowplaying::app::Stores;
use nowplaying::clock::ManualClock;
use nowplaying::store::file::FileCredentials;
use nowplaying::store::memory::MemoryState;
use serde_json::{json, Value};
use support::fake_spotify::{CLIENT_ID, CLIENT_SECRET, OWNER_ID};
use support::*;
use tokio::io::AsyncBufReadExt;

const KEY: &str = "console-key-for-tests-0123456789abcdef";

/// A browser without JavaScript: follows nothing by itself, keeps cookies by name.
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        let r = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        r
    }

    async fn post(
        &mut self,
        url: &str,
        origin: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .form(form);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.unwrap();
        self.keep(&r);
        r
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

/// The console's service on a loopback port, its `PUBLIC_URL` its own address.
struct Console {
    url: String,
    fake: FakeSpotify,
    clock: ManualClock,
    creds: PathBuf,
    _app: nowplaying::http::SharedApp,
    _dir: Option<tempfile::TempDir>,
}

impl Console {
    /// File credentials holding `doc`, memory state.
    async fn file(doc: Value, extra: &[(&str, &str)]) -> Console {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials.json");
        std::fs::write(&creds, doc.to_string()).unwrap();
        let stores = Stores::local(
            Arc::new(FileCredentials::new(&creds)),
            Arc::new(MemoryState::new()),
            &creds,
        );
        let mut c = Console::on(FakeSpotify::start().await, &stores, &creds, extra).await;
        c._dir = Some(dir);
        c
    }

    async fn on(
        fake: FakeSpotify,
        stores: &Stores,
        creds: &std::path::Path,
        extra: &[(&str, &str)],
    ) -> Console {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut vars = vec![("OWNER_SPOTIFY_ID", OWNER_ID), ("PUBLIC_URL", url.as_str())];
        vars.extend_from_slice(extra);
        let config = support::config(&fake, creds, &vars);
        let clock = ManualClock::at(T0);
        let spotify = nowplaying::spotify::SpotifyClient::new(
            &config.api_base_url,
            &config.accounts_base_url,
        );
        let app = nowplaying::app::build(&config, stores, spotify, Arc::new(clock.clone()));
        let router = nowplaying::http::router(app.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Console {
            url,
            fake,
            clock,
            creds: creds.to_path_buf(),
            _app: app,
            _dir: None,
        }
    }

    /// On the emulator's table and secret (the stores of `env`).
    async fn shared(env: &aws::EmulatorApp) -> Console {
        let dir = tempfile::tempdir().unwrap();
        let vars = [
            ("TOKEN_SECRET_ID", env.secret_id.as_str()),
            ("CACHE_TABLE", env.table.as_str()),
        ];
        let mut c = Console::on(
            env.fake.clone(),
            &env.stores,
            &dir.path().join("unused.json"),
            &vars,
        )
        .await;
        c._dir = Some(dir);
        c
    }

    fn stored(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(&self.creds).unwrap()).unwrap()
    }

    fn path(&self, p: &str) -> String {
        format!("{}{p}", self.url)
    }

    /// Starts a sign-in (the form when `app` is given, else the stored app): the authorize URL.
    async fn start(&self, b: &mut Browser, app: Option<(&str, &str)>) -> String {
        let r = match app {
            Some((id, secret)) => {
                b.post(
                    &self.path("/owner/signin"),
                    Some(&self.url),
                    &[("client_id", id), ("client_secret", secret)],
                )
                .await
            }
            None => b.get(&self.path("/owner/signin")).await,
        };
        assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
        let to = location(&r);
        assert!(
            to.starts_with(&format!("{}/authorize?", self.fake.base)),
            "{to}"
        );
        assert!(b.cookies.contains_key("np_owner_signin"));
        to
    }

    /// Spotify's answer to the authorize URL: the callback URL it redirects to.
    async fn approve(&self, b: &mut Browser, authorize_url: &str) -> String {
        let r = b.get(authorize_url).await;
        assert_eq!(r.status(), 303);
        let cb = location(&r);
        assert!(cb.starts_with(&self.path("/owner/callback?")), "{cb}");
        cb
    }

    /// A whole sign-in; returns the callback's answer.
    async fn sign_in(&self, b: &mut Browser, app: Option<(&str, &str)>) -> reqwest::Response {
        let to = self.start(b, app).await;
        let cb = self.approve(b, &to).await;
        b.get(&cb).await
    }

    /// The CSRF token of the signed-in page (panics when signed out).
    async fn csrf(&self, b: &mut Browser) -> String {
        let page = b.get(&self.path("/owner")).await.text().await.unwrap();
        let at = page
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("not signed in: {page}"));
        let rest = &page[at + 19..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    async fn status_code(&self, b: &mut Browser) -> u16 {
        b.get(&self.path("/owner/status.json"))
            .await
            .status()
            .as_u16()
    }
}

fn only_key() -> Value {
    json!({"console_key": KEY})
}

fn signed_in_doc() -> Value {
    json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": "refresh-token-0",
        "authorized_at": "2026-11-01T10:00:00Z", "console_key": KEY})
}

#[tokio::test]
async fn first_setup_through_the_form_signs_in_and_shows_the_status() {
    let c = Console::file(only_key(), &[]).await;
    let mut b = Browser::new();
    let page = b.get(&c.path("/owner")).await.text().await.unwrap();
    assert!(page.contains("data-testid=\"setup-form\""), "{page}");
    assert!(page.contains(&c.path("/owner/callback")));

    // The form's client secret travels sealed: never readable in the cookie or the URL.
    let to = c.start(&mut b, Some((CLIENT_ID, CLIENT_SECRET))).await;
    assert!(!to.contains(CLIENT_SECRET));
    assert!(!b.cookie_header().contains(CLIENT_SECRET));
    assert_eq!(c.stored(), only_key(), "nothing stored before the sign-in");
    let q: HashMap<String, String> = url::Url::parse(&to)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], c.path("/owner/callback"));
    assert_eq!(
        q["scope"],
        "user-read-currently-playing user-read-recently-played user-read-playback-state"
    );

    let cb = c.approve(&mut b, &to).await;
    let r = b.get(&cb).await;
    assert_eq!(r.status(), 200);
    assert!(b.cookies.contains_key("np_owner_session"));
    assert!(
        !b.cookies.contains_key("np_owner_signin"),
        "the sign-in cookie is spent"
    );

    let stored = c.stored();
    assert_eq!(stored["client_id"], CLIENT_ID);
    assert_eq!(stored["client_secret"], CLIENT_SECRET);
    assert_eq!(stored["console_key"], KEY);
    assert_eq!(
        stored["refresh_token"],
        c.fake.stats().valid_refresh_token.unwrap()
    );
    assert_eq!(stored["authorized_at"], nowplaying::owner::rfc3339(T0));

    let page = b.get(&c.path("/owner")).await.text().await.unwrap();
    assert!(page.contains("data-testid=\"days-left\">182<"), "{page}");
    assert!(
        page.find("data-testid=\"deadline\"").unwrap()
            < page.find("data-testid=\"report\"").unwrap()
    );
    assert!(
        page.contains("OK: asked with the service&#39;s access token; nothing is playing"),
        "the live check, without a refresh of its own: {page}"
    );
    // The first access token after a sign-in is one refresh (as the service's next answer needs);
    // the next page views refresh nothing.
    let refreshes = c.fake.stats().token_refreshes;
    assert!(refreshes <= 1);
    b.get(&c.path("/owner")).await;
    b.get(&c.path("/owner/status.json")).await;
    assert_eq!(c.fake.stats().token_refreshes, refreshes);
    for secret in [
        CLIENT_SECRET,
        stored["refresh_token"].as_str().unwrap(),
        KEY,
    ] {
        assert!(!page.contains(secret), "the page shows no secret");
    }
    let status: Value = b
        .get(&c.path("/owner/status.json"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["deadline"]["days_left"], 182);
    assert_eq!(status["hidden"], false);
    assert!(!status.to_string().contains(CLIENT_SECRET));
}

#[tokio::test]
async fn every_answer_is_no_store_and_never_framed() {
    let c = Console::file(signed_in_doc(), &[]).await;
    let mut b = Browser::new();
    for (method, path) in [
        ("GET", "/owner"),
        ("GET", "/owner/signin"),
        ("GET", "/owner/callback?code=x&state=y"),
        ("GET", "/owner/status.json"),
        ("POST", "/owner/hide"),
        ("POST", "/owner/signin"),
    ] {
        let r = if method == "GET" {
            b.get(&c.path(path)).await
        } else {
            b.post(&c.path(path), Some(&c.url), &[]).await
        };
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
            "{path}: {csp}"
        );
        assert!(r.status().as_u16() < 500, "{path}: {}", r.status());
    }
    // Cookies: HttpOnly, Path=/owner, no Secure on plain-http loopback; the sign-in's is Lax.
    let r = b.get(&c.path("/owner/signin")).await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("Path=/owner")
            && cookie.contains("SameSite=Lax")
    );
    assert!(!cookie.contains("Secure"));
    assert!(cookie.contains("Max-Age=600"));
    let cb = c.approve(&mut b, &location(&r)).await;
    let r = b.get(&cb).await;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("np_owner_session="))
        .unwrap();
    assert!(
        cookie.contains("SameSite=Strict")
            && cookie.contains("Max-Age=43200")
            && cookie.contains("HttpOnly")
    );
}

#[tokio::test]
async fn the_console_is_off_without_owner_spotify_id() {
    let app = TestApp::start(&[]).await;
    for path in [
        "/owner",
        "/owner/signin",
        "/owner/callback",
        "/owner/status.json",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("json"));
    }
    let r = app
        .http
        .post(format!("{}/owner/hide", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn another_spotify_account_is_refused_and_nothing_is_written() {
    let c = Console::file(only_key(), &[]).await;
    c.fake.set_me("somebody-else");
    let mut b = Browser::new();
    let r = c.sign_in(&mut b, Some((CLIENT_ID, CLIENT_SECRET))).await;
    assert_eq!(r.status(), 403);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("not this service&#39;s owner") && page.contains("Nothing was stored"),
        "{page}"
    );
    assert_eq!(c.stored(), only_key());
    assert!(!b.cookies.contains_key("np_owner_session"));
    assert_eq!(c.status_code(&mut b).await, 401);
}

#[tokio::test]
async fn callbacks_without_or_with_a_wrong_replayed_or_expired_state_never_reach_spotify() {
    let c = Console::file(signed_in_doc(), &[]).await;
    let before = c.stored();

    // No state cookie: the callback URL alone (as an attacker would send it).
    let mut owner = Browser::new();
    let to = c.start(&mut owner, None).await;
    let cb = c.approve(&mut owner, &to).await;
    let mut stranger = Browser::new();
    let r = stranger.get(&cb).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("cookie is missing"));

    // A wrong state, and a damaged cookie.
    let wrong = cb.replace("state=", "state=x");
    assert_eq!(owner.get(&wrong).await.status(), 400);
    let mut forged = Browser::new();
    forged.cookies.insert(
        "np_owner_signin".into(),
        "v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    );
    assert_eq!(forged.get(&cb).await.status(), 400);

    // Expired: the sign-in lasts 10 minutes.
    let mut late = Browser::new();
    let to = c.start(&mut late, None).await;
    let cb_late = c.approve(&mut late, &to).await;
    c.clock.advance(Duration::from_secs(601));
    let r = late.get(&cb_late).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("expired"));
    let stats = c.fake.stats();
    assert_eq!(
        (stats.token_calls, stats.me),
        (0, 0),
        "Spotify was not asked"
    );
    assert_eq!(c.stored(), before, "nothing written");

    // Replayed: a used sign-in's cookie and callback sent again.
    let mut b = Browser::new();
    let to = c.start(&mut b, None).await;
    let cb = c.approve(&mut b, &to).await;
    let spent = b.cookies["np_owner_signin"].clone();
    c.clock.advance(Duration::from_secs(1));
    assert_eq!(b.get(&cb).await.status(), 200);
    let stored = c.stored();
    let calls = c.fake.stats().token_calls;
    let mut replay = Browser::new();
    replay.cookies.insert("np_owner_signin".into(), spent);
    let r = replay.get(&cb).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("already used"));
    assert_eq!(
        c.fake.stats().token_calls,
        calls,
        "no token request for a replay"
    );
    assert_eq!(c.stored(), stored);
}

#[tokio::test]
async fn forged_expired_and_older_sessions_are_refused() {
    let c = Console::file(signed_in_doc(), &[]).await;
    let mut b = Browser::new();
    assert_eq!(c.sign_in(&mut b, None).await.status(), 200);
    assert_eq!(c.status_code(&mut b).await, 200);
    let session = b.cookies["np_owner_session"].clone();

    // Forged: a changed payload or tag, or anything else.
    for forged in [
        format!("x{session}"),
        session.replace('.', ".x"),
        "eyJhdCI6IjIwMjYtMTEtMjNUMTA6MDA6MDBaIn0.AAAA".to_string(),
    ] {
        let mut f = Browser::new();
        f.cookies.insert("np_owner_session".into(), forged);
        assert_eq!(c.status_code(&mut f).await, 401);
        let page = f.get(&c.path("/owner")).await.text().await.unwrap();
        assert!(!page.contains("name=\"csrf\""), "signed out");
    }

    // Older than the sign-in stored now: a new sign-in ends every earlier session.
    c.clock.advance(Duration::from_secs(2));
    let mut second = Browser::new();
    assert_eq!(c.sign_in(&mut second, None).await.status(), 200);
    assert_eq!(
        c.status_code(&mut b).await,
        401,
        "the earlier session ended"
    );
    assert_eq!(c.status_code(&mut second).await, 200);

    // Expired: 12 hours at most.
    c.clock.advance(Duration::from_secs(12 * 3600 + 1));
    assert_eq!(c.status_code(&mut second).await, 401);
}

#[tokio::test]
async fn posts_need_a_session_the_console_origin_and_the_csrf_token() {
    let c = Console::file(signed_in_doc(), &[]).await;
    let hidden = nowplaying::owner::hidden_file(&c.creds);
    let mut stranger = Browser::new();
    for action in ["hide", "show", "disconnect", "signout"] {
        let r = stranger
            .post(
                &c.path(&format!("/owner/{action}")),
                Some(&c.url),
                &[("csrf", "x")],
            )
            .await;
        assert_eq!(r.status(), 401, "{action} without a session");
    }
    let mut b = Browser::new();
    assert_eq!(c.sign_in(&mut b, None).await.status(), 200);
    let csrf = c.csrf(&mut b).await;
    let before = c.stored();
    for action in ["hide", "disconnect", "signout"] {
        let path = c.path(&format!("/owner/{action}"));
        let other = b
            .post(&path, Some("http://evil.example"), &[("csrf", &csrf)])
            .await;
        assert_eq!(other.status(), 403, "{action} from another origin");
        let missing = b.post(&path, None, &[("csrf", &csrf)]).await;
        assert_eq!(missing.status(), 403, "{action} without Origin");
        assert_eq!(
            b.post(&path, Some(&c.url), &[]).await.status(),
            403,
            "{action} without CSRF"
        );
        assert_eq!(
            b.post(&path, Some(&c.url), &[("csrf", "wrong")])
                .await
                .status(),
            403
        );
    }
    assert!(!hidden.exists(), "nothing changed");
    assert_eq!(c.stored(), before);
    assert_eq!(c.status_code(&mut b).await, 200, "still signed in");

    // With all three: hide, show, then disconnect ends the session and removes the token.
    let r = b
        .post(&c.path("/owner/hide"), Some(&c.url), &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), 303);
    assert!(hidden.exists());
    let r = reqwest::get(c.path("/api/spotify")).await.unwrap();
    assert_eq!(
        r.text().await.unwrap(),
        "null",
        "hidden: the API answers null at once"
    );
    assert_eq!(
        b.post(&c.path("/owner/show"), Some(&c.url), &[("csrf", &csrf)])
            .await
            .status(),
        303
    );
    assert!(!hidden.exists());
    assert_eq!(
        b.post(
            &c.path("/owner/disconnect"),
            Some(&c.url),
            &[("csrf", &csrf)]
        )
        .await
        .status(),
        303
    );
    let stored = c.stored();
    assert!(stored.get("refresh_token").is_none(), "{stored}");
    assert_eq!(
        stored["client_id"], CLIENT_ID,
        "the app stays for the next sign-in"
    );
    assert_eq!(stored["console_key"], KEY);
    assert_eq!(
        c.status_code(&mut b).await,
        401,
        "disconnect ends the session"
    );
}

#[tokio::test]
async fn floods_of_signin_and_callback_write_nothing_to_aws_and_ask_no_token() {
    let env = aws::EmulatorApp::start(&[], None, Some(&signed_in_doc().to_string())).await;
    let c = Console::shared(&env).await;
    let mut b = Browser::new();
    // The console's key is read once (a read, never a write).
    assert_eq!(b.get(&c.path("/owner")).await.status(), 200);
    env.ddb_proxy.take_ops();
    env.sm_proxy.take_ops();

    let mut owner = Browser::new();
    let to = c.start(&mut owner, None).await;
    let cb = c.approve(&mut owner, &to).await;
    let wrong_state = cb.replace("state=", "state=x");
    for i in 0..48 {
        let mut v = Browser::new();
        let r = match i % 6 {
            5 => {
                // The signed-out view, which anyone can load.
                let r = v.get(&c.path("/owner")).await;
                assert_eq!(r.status(), 200);
                continue;
            }
            0 => v.get(&c.path("/owner/signin")).await,
            1 => {
                v.post(
                    &c.path("/owner/signin"),
                    Some(&c.url),
                    &[("client_id", "abc"), ("client_secret", "def")],
                )
                .await
            }
            2 => v.get(&cb).await,
            3 => owner.get(&wrong_state).await,
            _ => {
                v.get(&c.path(&format!("/owner/callback?code=c{i}&state=s{i}")))
                    .await
            }
        };
        assert!(
            r.status().is_redirection() || r.status().is_client_error(),
            "{}",
            r.status()
        );
    }
    let ops: Vec<String> = env
        .ddb_proxy
        .take_ops()
        .into_iter()
        .chain(env.sm_proxy.take_ops())
        .collect();
    let writes: Vec<&String> = ops.iter().filter(|op| !op.contains("Get")).collect();
    assert!(writes.is_empty(), "AWS writes during the flood: {writes:?}");
    // Each read of the secret is billed: visitors without a session share this process's
    // read of the stored app, made before the flood.
    let reads: Vec<&String> = ops
        .iter()
        .filter(|op| op.contains("GetSecretValue"))
        .collect();
    assert!(reads.is_empty(), "secret reads during the flood: {reads:?}");
    let stats = env.fake.stats();
    assert_eq!(
        (stats.token_calls, stats.me),
        (0, 0),
        "no token request, no /v1/me"
    );
}

#[tokio::test]
async fn a_console_sign_in_through_the_shared_table_replaces_the_sign_in_as_authorize_does() {
    let env = aws::EmulatorApp::start(&[], None, Some(&only_key().to_string())).await;
    let c = Console::shared(&env).await;
    let gen_before = env.item("auth-generation").await;
    let mut b = Browser::new();
    assert_eq!(
        c.sign_in(&mut b, Some((CLIENT_ID, CLIENT_SECRET)))
            .await
            .status(),
        200
    );
    let doc = aws::secret_json(&env.sm, &env.secret_id).await;
    assert_eq!(
        doc["refresh_token"],
        env.fake.stats().valid_refresh_token.unwrap()
    );
    assert_eq!(doc["console_key"], KEY);
    assert_ne!(
        env.item("auth-generation").await,
        gen_before,
        "a new generation"
    );
    assert!(
        env.item("lease:token").await.is_none(),
        "the lease is given back"
    );
    // The service answers with the new sign-in.
    env.fake.set_current(Scripted::json(bodies::playing(
        bodies::track("t1", "Song"),
        true,
        1000,
    )));
    let url = env.sibling(&[], None).await;
    let now: Value = reqwest::get(format!("{url}/api/spotify"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["name"], "Song");

    // Disconnect: the secret holds no refresh token and the service answers null.
    let csrf = c.csrf(&mut b).await;
    assert_eq!(
        b.post(
            &c.path("/owner/disconnect"),
            Some(&c.url),
            &[("csrf", &csrf)]
        )
        .await
        .status(),
        303
    );
    let doc = aws::secret_json(&env.sm, &env.secret_id).await;
    assert!(doc.get("refresh_token").is_none(), "{doc}");
    let url = env.sibling(&[], None).await;
    let now: Value = reqwest::get(format!("{url}/api/spotify"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now, Value::Null);
}

/// The stack's credentials secret holds `{}` and the console's key has a secret of its own
/// (`CONSOLE_KEY_SECRET_ID`), so that a stack update never regenerates the credentials: the
/// console signs in with the key from its secret, and never writes the key into the
/// credentials.
#[tokio::test]
async fn the_console_key_in_a_secret_of_its_own_signs_in_and_stays_out_of_the_credentials() {
    let env = aws::EmulatorApp::start(&[], None, Some("{}")).await;
    let key_secret = aws::create_secret_raw(&env.sm, &only_key().to_string()).await;
    let dir = tempfile::tempdir().unwrap();
    let unused = dir.path().join("unused.json");
    let vars = [
        ("TOKEN_SECRET_ID", env.secret_id.as_str()),
        ("CACHE_TABLE", env.table.as_str()),
        ("CONSOLE_KEY_SECRET_ID", key_secret.as_str()),
    ];
    // The stores as the service builds them from its environment.
    let stores = nowplaying::app::stores(&support::config(&env.fake, &unused, &vars)).await;
    assert!(stores.console_key.is_some());
    let c = Console::on(env.fake.clone(), &stores, &unused, &vars).await;
    let mut b = Browser::new();
    assert_eq!(
        c.sign_in(&mut b, Some((CLIENT_ID, CLIENT_SECRET)))
            .await
            .status(),
        200
    );
    let doc = aws::secret_json(&env.sm, &env.secret_id).await;
    assert_eq!(
        doc["refresh_token"],
        env.fake.stats().valid_refresh_token.unwrap()
    );
    assert!(doc.get("console_key").is_none(), "{doc}");
    assert_eq!(aws::secret_json(&env.sm, &key_secret).await, only_key());
    // The session signed with that key works.
    let page = b.get(&c.path("/owner")).await.text().await.unwrap();
    assert!(page.contains("days left"), "{page}");

    // Without a key in either place, the console says where it looked.
    let empty = aws::create_secret_raw(&env.sm, "{}").await;
    let vars = [
        ("TOKEN_SECRET_ID", env.secret_id.as_str()),
        ("CACHE_TABLE", env.table.as_str()),
        ("CONSOLE_KEY_SECRET_ID", empty.as_str()),
    ];
    let stores = nowplaying::app::stores(&support::config(&env.fake, &unused, &vars)).await;
    let c = Console::on(env.fake.clone(), &stores, &unused, &vars).await;
    let r = Browser::new().get(&c.path("/owner")).await;
    assert_eq!(r.status(), 503);
    let text = r.text().await.unwrap();
    assert!(
        text.contains(&empty) && text.contains("console_key"),
        "{text}"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `nowplaying authorize` (the real binary) against the same fake: the document it stores.
async fn authorize_document(fake: &FakeSpotify, doc: &Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("credentials.json");
    std::fs::write(&creds, doc.to_string()).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_nowplaying"));
    for v in [
        "TOKEN_SECRET_ID",
        "CACHE_TABLE",
        "PROFILE_ENDPOINTS",
        "SOURCE",
        "OWNER_SPOTIFY_ID",
    ] {
        cmd.env_remove(v);
    }
    let mut child = cmd
        .env("NOWPLAYING_CREDENTIALS", &creds)
        .env("SPOTIFY_API_BASE_URL", &fake.base)
        .env("SPOTIFY_ACCOUNTS_BASE_URL", &fake.base)
        .env("SPOTIFY_CLIENT_ID", CLIENT_ID)
        .env("SPOTIFY_CLIENT_SECRET", CLIENT_SECRET)
        .args([
            "authorize",
            "--no-browser",
            "--port",
            &free_port().to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let prefix = format!("{}/authorize?", fake.base);
    let url = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("authorize printed its URL");
        if line.starts_with(&prefix) {
            break line;
        }
    };
    let mut b = Browser::new();
    let r = b.get(&url).await;
    let r = b.get(&location(&r)).await;
    assert_eq!(r.status(), 200);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    serde_json::from_str(&std::fs::read_to_string(&creds).unwrap()).unwrap()
}

#[tokio::test]
async fn the_console_and_authorize_store_the_same_document() {
    let start = json!({"console_key": KEY, "lastfm_api_key": "kept-as-it-is", "note": "kept"});
    let c = Console::file(start.clone(), &[]).await;
    let mut b = Browser::new();
    assert_eq!(
        c.sign_in(&mut b, Some((CLIENT_ID, CLIENT_SECRET)))
            .await
            .status(),
        200
    );
    let by_console = c.stored();
    let by_authorize = authorize_document(&c.fake, &start).await;
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&by_console), keys(&by_authorize));
    for field in [
        "client_id",
        "client_secret",
        "scope",
        "console_key",
        "lastfm_api_key",
        "note",
    ] {
        assert_eq!(by_console[field], by_authorize[field], "{field}");
    }
    for doc in [&by_console, &by_authorize] {
        assert!(doc["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("refresh-token-"));
        let at = doc["authorized_at"].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok()
        );
        assert!(at.ends_with('Z') && !at.contains('.'), "{at}");
    }
}
