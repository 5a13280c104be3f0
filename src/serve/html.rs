//! The HTML building blocks of the admin pages: the page layout (maud templates, which escape
//! every interpolated value), the stylesheet, the login form and the error page, plus
//! [`url_enc`] for query strings. The review pages are in `views`.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// Percent-encodes a query-string value.
pub fn url_enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A whole page around `body`. `who` (the logged-in admin and the session's CSRF token) adds
/// the header's logout form. Every interpolated value is escaped by maud.
pub fn page(title: &str, who: Option<(&str, &str)>, body: Markup) -> Html<String> {
    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · crosswalk" }
                link rel="stylesheet" href="/assets/style.css";
            }
            body {
                a.skip id="skip" href="#main" { "Skip to the content" }
                header.top {
                    a.brand href="/review" { "crosswalk " span { "review queue" } }
                    @if who.is_some() {
                        nav.top-nav { a href="/review" { "Review queue" } " · " a href="/dead-letters" { "Dead letters" } }
                    }
                    @if let Some((name, csrf)) = who {
                        form.logout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            span { (name) } " "
                            button.link type="submit" { "Log out" }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    };
    Html(doc.into_string())
}

/// The login form, with an optional error line.
pub fn login(error: Option<&str>) -> Html<String> {
    let body = html! {
        section.card.narrow {
            h1 { "Sign in" }
            @if let Some(e) = error { p.flash.error role="alert" { (e) } }
            form.stack method="post" action="/login" {
                label for="token" { "Admin token" }
                input type="password" name="token" id="token" autocomplete="current-password" required;
                label for="name" { "Your name " small { "(recorded with every decision)" } }
                input type="text" name="name" id="name" maxlength="64" autocomplete="name";
                button.primary type="submit" id="login" { "Sign in" }
            }
        }
    };
    page("Sign in", None, body)
}

/// An error page with `status`.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let body = html! {
        section.card.narrow {
            h1 { (status.canonical_reason().unwrap_or("Error")) }
            p role="alert" { (message) }
            p { a href="/review" { "Back to the queue" } }
        }
    };
    (status, page("Error", None, body)).into_response()
}

/// `GET /assets/style.css`.
pub async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "max-age=3600")], CSS)
        .into_response()
}

const CSS: &str = r#"
:root { --ink:#1f2933; --muted:#616e7c; --line:#d9e2ec; --bg:#f5f7fa; --card:#fff; --accent:#2f6fde;
  --left:#fde8e8; --left-ink:#9b1c1c; --right:#def7ec; --right-ink:#03543f; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--ink); background:var(--bg); }
header.top { display:flex; justify-content:space-between; align-items:center; padding:.7rem 1.5rem; background:#102a43; color:#fff; }
header.top a.brand { color:#fff; text-decoration:none; font-weight:700; letter-spacing:.02em; }
header.top a.brand span { font-weight:400; opacity:.7; margin-left:.4rem; }
header.top .logout { display:flex; gap:.5rem; align-items:center; font-size:.9rem; }
header.top .logout button.link { color:#bcccdc; }
main { max-width:1100px; margin:1.5rem auto; padding:0 1.5rem; }
h1 { font-size:1.4rem; margin:.2rem 0 1rem; } h2 { font-size:1.05rem; margin:1.2rem 0 .6rem; }
a { color:var(--accent); }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:1rem 1.2rem; margin-bottom:1rem; box-shadow:0 1px 2px rgba(16,42,67,.05); }
.card.narrow { max-width:420px; margin:3rem auto; }
.stack { display:flex; flex-direction:column; gap:.8rem; }
label { display:flex; flex-direction:column; gap:.25rem; font-weight:600; font-size:.9rem; }
label small { font-weight:400; color:var(--muted); }
input[type=text], input[type=password], input[type=search], select, textarea { max-width:100%; font:inherit; padding:.45rem .6rem; border:1px solid #bcccdc; border-radius:6px; background:#fff; }
button { font:inherit; padding:.45rem .9rem; border-radius:6px; border:1px solid #bcccdc; background:#fff; cursor:pointer; }
button:hover { border-color:var(--accent); }
button.primary { background:var(--accent); border-color:var(--accent); color:#fff; }
button.take-left { background:var(--left); border-color:#f8b4b4; color:var(--left-ink); }
button.take-right { background:var(--right); border-color:#84e1bc; color:var(--right-ink); }
button.link { border:none; background:none; padding:0; text-decoration:underline; }
.flash { padding:.6rem .9rem; border-radius:6px; background:#e3f8ff; border:1px solid #b3ecff; }
.flash.error { background:#fde8e8; border-color:#f8b4b4; color:var(--left-ink); }
.chips { display:flex; flex-wrap:wrap; gap:.5rem; margin-bottom:1rem; }
.chip { display:inline-block; padding:.25rem .7rem; border-radius:999px; background:#fff; border:1px solid var(--line); color:var(--ink); text-decoration:none; font-size:.9rem; }
.chip b { margin-left:.3rem; } .chip.on { border-color:var(--accent); background:#e6f0ff; }
.filters { display:flex; flex-wrap:wrap; gap:.6rem; align-items:flex-end; }
table { width:100%; border-collapse:collapse; background:#fff; }
th, td { text-align:left; padding:.5rem .6rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:.8rem; text-transform:uppercase; letter-spacing:.04em; color:var(--muted); }
td.val { max-width:320px; overflow-wrap:anywhere; font-family:ui-monospace,Menlo,monospace; font-size:.88rem; }
.badge { display:inline-block; padding:.05rem .5rem; border-radius:999px; font-size:.8rem; background:#e4e7eb; }
.badge.open { background:#fff3c4; } .badge.resolved { background:#e6f0ff; } .badge.applied { background:var(--right); }
.badge.ignored, .badge.superseded { background:#e4e7eb; color:var(--muted); }
.bulk { display:flex; gap:.5rem; align-items:center; margin:.8rem 0; flex-wrap:wrap; }
.pager { display:flex; gap:1rem; margin-top:.8rem; color:var(--muted); }
dl.meta { display:grid; grid-template-columns:max-content 1fr; gap:.3rem 1rem; margin:0; }
dl.meta dt { color:var(--muted); } dl.meta dd { margin:0; }
.sides { display:grid; grid-template-columns:repeat(3, 1fr); gap:1rem; margin-bottom:1rem; }
.side { border-radius:10px; padding:.8rem 1rem; border:1px solid var(--line); background:#fff; }
.side.left { border-top:4px solid #f05252; } .side.right { border-top:4px solid #0e9f6e; } .side.base { border-top:4px solid #9aa5b1; }
.side h3 { margin:0 0 .4rem; font-size:.95rem; }
.side .value { font-family:ui-monospace,Menlo,monospace; font-size:1rem; padding:.5rem; background:var(--bg); border-radius:6px; white-space:pre-wrap; word-break:break-word; min-height:2.2rem; }
.side .blank { color:var(--muted); font-style:italic; }
.side .src { color:var(--muted); font-size:.82rem; margin-top:.4rem; }
.diff { font-family:ui-monospace,Menlo,monospace; white-space:pre-wrap; word-break:break-word; padding:.7rem; background:var(--bg); border-radius:6px; }
.diff del, h2 small del { background:var(--left); color:var(--left-ink); text-decoration:line-through; }
.diff ins, h2 small ins { background:var(--right); color:var(--right-ink); text-decoration:none; }
.actions { display:flex; flex-wrap:wrap; gap:.6rem; align-items:center; }
.actions .grow { flex:1; min-width:200px; }
a.skip { position:absolute; left:-999px; top:0; background:#fff; padding:.5rem 1rem; z-index:10; }
a.skip:focus { left:1rem; }
:focus-visible { outline:3px solid #f0b429; outline-offset:2px; }
.sr { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0); white-space:nowrap; }
.muted, .email { color:var(--muted); } .email { font-size:.85rem; }
.person-name { font-weight:600; }
.says { color:var(--muted); font-family:system-ui,sans-serif; font-size:.8rem; }
fieldset.bulk { border:1px solid var(--line); border-radius:8px; background:#fff; padding:.6rem .9rem; }
fieldset.bulk legend { font-weight:600; font-size:.9rem; padding:0 .3rem; }
fieldset.bulk legend small { font-weight:400; color:var(--muted); }
.filters > div { display:flex; flex-direction:column; gap:.25rem; min-width:0; max-width:100%; }
.filters > div.grow { flex:1; min-width:220px; }
.filters label { font-size:.8rem; }
.table-wrap { overflow-x:auto; }
caption { text-align:left; color:var(--muted); padding:.4rem 0; font-size:.9rem; }
form.typed { margin-top:1rem; padding-top:1rem; border-top:1px solid var(--line); }
td.val { white-space:normal; }
@media (max-width:800px) {
  .sides { grid-template-columns:1fr; }
  main { padding:0 .8rem; margin:1rem auto; }
  header.top { padding:.6rem .8rem; }
  table.queue thead, table.history thead { position:absolute; left:-9999px; }
  table.queue tr, table.history tr { display:block; border:1px solid var(--line); border-radius:8px; margin-bottom:.7rem; padding:.3rem .2rem; }
  table.queue td, table.history td { display:grid; grid-template-columns:7.5rem 1fr; gap:.5rem; border:none; padding:.25rem .6rem; max-width:none; }
  table.queue td::before, table.history td::before { content:attr(data-label); color:var(--muted); font-size:.8rem; text-transform:uppercase; }
  dl.meta { grid-template-columns:1fr; } dl.meta dd { margin-bottom:.4rem; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_escape_markup_and_query_values_are_encoded() {
        let page = page("<t>", Some(("<b>Eve</b>", "\"x")), html! { p { "<script>alert('1')</script>&" } });
        let text = page.0;
        assert!(text.contains("&lt;script&gt;alert('1')&lt;/script&gt;&amp;"), "{text}");
        assert!(text.contains("&lt;b&gt;Eve&lt;/b&gt;") && text.contains("value=\"&quot;x\""), "{text}");
        assert!(!text.contains("<script>") && !text.contains("<b>Eve"));
        assert_eq!(url_enc("a b&c=d"), "a%20b%26c%3Dd");
    }
}
