//! The console's HTML: no script, no third-party resource, one stylesheet of its own
//! (`/owner/console.css`). Every value from outside is escaped.

use crate::report::{Level, Report};

/// The stylesheet.
pub const CSS: &str = r#":root{color-scheme:light dark;--fg:#111827;--muted:#6b7280;--bg:#f8fafc;--card:#fff;--line:#e5e7eb;--ok:#15803d;--warn:#b45309;--bad:#b91c1c;--accent:#1db954}
@media (prefers-color-scheme:dark){:root{--fg:#f3f4f6;--muted:#9ca3af;--bg:#0b0f14;--card:#111827;--line:#1f2937}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif}
main{max-width:44rem;margin:0 auto;padding:1.5rem 1rem 3rem}h1{font-size:1.4rem;margin:.2rem 0 1rem}h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:1rem 1.1rem;margin:.8rem 0}
.deadline{font-size:1.15rem}.deadline strong{font-size:1.6rem}.muted{color:var(--muted)}.small{font-size:.85rem}
.ok{color:var(--ok)}dd.ok{color:inherit}.warning{color:var(--warn)}.problem{color:var(--bad)}
.notice{border-left:4px solid var(--accent)}.refused{border-left:4px solid var(--bad)}
dl{display:grid;grid-template-columns:minmax(8rem,max-content) 1fr;gap:.25rem 1rem;margin:0}dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
.actions{display:flex;flex-wrap:wrap;gap:.5rem}.actions form{margin:0}
button,.button{display:inline-block;font:inherit;padding:.55rem 1rem;border-radius:999px;border:1px solid var(--line);background:var(--card);color:var(--fg);cursor:pointer;text-decoration:none}
.primary{background:var(--accent);border-color:var(--accent);color:#000;font-weight:600}.danger{color:var(--bad)}
label{display:block;margin:.6rem 0 .2rem}input{width:100%;font:inherit;padding:.5rem .6rem;border:1px solid var(--line);border-radius:8px;background:var(--bg);color:var(--fg)}
code{overflow-wrap:anywhere}
"#;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A whole page around `body` (already HTML). `refresh_to`: a same-origin navigation right away
/// (after the callback, so the `SameSite=Strict` session cookie is sent with it).
pub fn document(title: &str, body: &str, refresh_to: Option<&str>) -> String {
    let refresh = refresh_to
        .map(|u| format!("<meta http-equiv=\"refresh\" content=\"0;url={}\">", esc(u)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta name=\"referrer\" content=\"same-origin\">{refresh}\
<title>{} · nowplaying</title><link rel=\"stylesheet\" href=\"/owner/console.css\"></head>\
<body><main>{body}</main></body></html>",
        esc(title)
    )
}

/// A refusal or error: what happened and what to do, with a way back.
pub fn refusal(title: &str, reason: &str) -> String {
    document(
        title,
        &format!(
            "<h1>{}</h1><div class=\"card refused\" data-testid=\"refusal\"><p>{}</p></div>\
<p><a class=\"button\" href=\"/owner\">Back to the console</a></p>",
            esc(title),
            esc(reason)
        ),
        None,
    )
}

/// What the signed-out page offers.
pub struct SignedOut<'a> {
    pub owner_id: &'a str,
    pub callback_url: &'a str,
    /// App credentials are stored: a sign-in needs no form.
    pub has_app: bool,
    pub notice: Option<&'a str>,
}

pub fn signed_out(p: &SignedOut) -> String {
    let notice = notice_card(p.notice);
    let setup_form = |intro: &str, button: &str| {
        format!(
            "<form method=\"post\" action=\"/owner/signin\" data-testid=\"setup-form\">{intro}\
<label for=\"client_id\">Client ID</label><input id=\"client_id\" name=\"client_id\" autocomplete=\"off\" spellcheck=\"false\" required maxlength=\"128\">\
<label for=\"client_secret\">Client secret</label><input id=\"client_secret\" name=\"client_secret\" type=\"password\" autocomplete=\"off\" required maxlength=\"256\">\
<p class=\"small muted\">They travel encrypted in a cookie that lasts 10 minutes and are stored only after you sign in with the Spotify account <code>{}</code>.</p>\
<p><button class=\"primary\" type=\"submit\" data-testid=\"setup-submit\">{button}</button></p></form>",
            esc(p.owner_id)
        )
    };
    let body = if p.has_app {
        format!(
            "<div class=\"card\"><p>Only the Spotify account <code>{}</code> can open this console.</p>\
<p><a class=\"button primary\" href=\"/owner/signin\" data-testid=\"signin\">Sign in with Spotify</a></p></div>\
<details class=\"card\"><summary>Use another Spotify app</summary>{}</details>",
            esc(p.owner_id),
            setup_form("", "Sign in with Spotify using this app")
        )
    } else {
        format!(
            "<div class=\"card\"><h2>First setup</h2><p>Create an app in the \
<a href=\"https://developer.spotify.com/dashboard\" rel=\"noreferrer\">Spotify developer dashboard</a> with this redirect URI:</p>\
<p><code data-testid=\"callback-url\">{}</code></p>{}</div>",
            esc(p.callback_url),
            setup_form(
                "<p>Then enter the app's credentials:</p>",
                "Save and sign in with Spotify"
            )
        )
    };
    document(
        "Owner's console",
        &format!(
            "<h1>nowplaying: owner's console</h1>{notice}{body}\
<p class=\"small muted\">Redirect URI to register: <code>{}</code></p>",
            esc(p.callback_url)
        ),
        None,
    )
}

fn notice_card(notice: Option<&str>) -> String {
    notice
        .map(|n| {
            format!(
                "<div class=\"card notice\" data-testid=\"notice\"><p>{}</p></div>",
                esc(n)
            )
        })
        .unwrap_or_default()
}

fn level_class(l: Level) -> &'static str {
    match l {
        Level::Ok => "ok",
        Level::Warning => "warning",
        Level::Problem => "problem",
    }
}

/// The signed-in page: the deadline first, the switch, the buttons, then the report.
pub fn signed_in(report: &Report, csrf: &str, owner_id: &str, notice: Option<&str>) -> String {
    let deadline = match &report.deadline {
        Some(d) if d.days_left >= 0 => format!(
            "<div class=\"card deadline\" data-testid=\"deadline\"><span class=\"{}\"><strong data-testid=\"days-left\">{}</strong> days left</span> \
until Spotify's six-month limit of this sign-in ({}). Renewing signs you in again and starts a new six months.</div>",
            level_class(d.level),
            d.days_left,
            esc(&d.limit)
        ),
        Some(d) => format!(
            "<div class=\"card deadline\" data-testid=\"deadline\"><span class=\"problem\"><strong>Expired</strong></span>: Spotify's six-month limit passed on {}. Renew the sign-in.</div>",
            esc(&d.limit)
        ),
        None => "<div class=\"card deadline\" data-testid=\"deadline\">The sign-in's six-month limit is unknown.</div>".into(),
    };
    let button = |action: &str, label: &str, class: &str| {
        format!(
            "<form method=\"post\" action=\"/owner/{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
<button type=\"submit\" class=\"{class}\" data-testid=\"{action}\">{label}</button></form>",
            esc(csrf)
        )
    };
    let switch = if report.hidden {
        format!(
            "<p data-testid=\"switch\"><strong class=\"warning\">Hidden</strong>: /api/spotify answers <code>null</code> and Spotify is not asked.</p><div class=\"actions\">{}</div>",
            button("show", "Show what I play", "primary")
        )
    } else {
        format!(
            "<p data-testid=\"switch\"><strong class=\"ok\">Shown</strong>: your page shows what you play.</p><div class=\"actions\">{}</div>",
            button("hide", "Hide", "")
        )
    };
    let verdict_class = if !report.problems.is_empty() {
        "problem"
    } else if report.warnings > 0 {
        "warning"
    } else {
        "ok"
    };
    let mut sections = String::new();
    for s in &report.sections {
        if let Some(t) = &s.title {
            sections.push_str(&format!("<h2>{}</h2>", esc(t)));
        }
        sections.push_str("<div class=\"card\"><dl>");
        for l in &s.lines {
            sections.push_str(&format!(
                "<dt>{}</dt><dd class=\"{}\">{}</dd>",
                esc(&l.label),
                level_class(l.level),
                esc(&l.value)
            ));
        }
        sections.push_str("</dl></div>");
    }
    let verdict = if report.problems.is_empty() {
        report.verdict()
    } else {
        format!("Action needed: {}", report.problems.join("; "))
    };
    document(
        "Owner's console",
        &format!(
            "<h1>nowplaying: owner's console</h1>{}<p class=\"small muted\">Signed in as <code>{}</code>.</p>{deadline}\
<div class=\"card\">{switch}</div>\
<div class=\"card\"><p class=\"{verdict_class}\" data-testid=\"verdict\">{}</p><div class=\"actions\">\
<a class=\"button\" href=\"/owner/signin\" data-testid=\"renew\">Renew sign-in</a>{}{}</div></div>\
<section data-testid=\"report\">{sections}</section>\
<p class=\"small muted\">For scripts: <a href=\"/owner/status.json\">/owner/status.json</a> (with this session).</p>",
            notice_card(notice),
            esc(owner_id),
            esc(&verdict),
            button("disconnect", "Disconnect", "danger"),
            button("signout", "Sign out", ""),
        ),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_from_outside() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let page = refusal("No", "<script>alert(1)</script>");
        assert!(!page.contains("<script>"));
    }
}
