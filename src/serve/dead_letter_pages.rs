//! The dead-letter admin pages: `GET /dead-letters` (filters by status, reason, system and
//! source), `GET /dead-letters/{id}` (with its payload: shown here, never logged) and the form
//! POSTs `/dead-letters/{id}/retry` and `/discard`, each needing the session's CSRF token like the
//! review pages.

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::html::{error_page, page};
use super::pages::{PageAdmin, check_csrf, render_err};
use super::views::dead_letters as views;
use crate::dead_letters::{DeadLetterError, Done};
use crate::store::DeadLetterFilter;

/// The list's query string.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    status: Option<String>,
    reason: Option<String>,
    system: Option<String>,
    source: Option<String>,
}

fn error(e: DeadLetterError) -> Response {
    match e {
        DeadLetterError::NotFound(_) => error_page(StatusCode::NOT_FOUND, &e.to_string()),
        DeadLetterError::NotOpen { .. } | DeadLetterError::NoRecord(_) => {
            error_page(StatusCode::CONFLICT, &e.to_string())
        }
        DeadLetterError::Store(e) => {
            tracing::error!(error = %e, "state store failed while serving a page");
            error_page(StatusCode::SERVICE_UNAVAILABLE, "the state store is unavailable; see the server log")
        }
    }
}

/// `GET /dead-letters`.
pub async fn list(
    State(state): State<AppState>,
    PageAdmin(session): PageAdmin,
    Query(q): Query<ListParams>,
) -> Response {
    let bad = |m: &str| error_page(StatusCode::BAD_REQUEST, m);
    let status = match q.status.as_deref().unwrap_or("open") {
        "all" => None,
        s => match s.parse() {
            Ok(s) => Some(s),
            Err(_) => return bad("status: use open, retried, discarded or all"),
        },
    };
    let source = match q.source.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse() {
            Ok(s) => Some(s),
            Err(_) => return bad("source: use pull or webhook"),
        },
    };
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let filter = DeadLetterFilter {
        status,
        system: nonempty(q.system),
        source,
        reason: nonempty(q.reason),
        limit: 200,
    };
    let (letters, by_reason) =
        match tokio::try_join!(state.dead_letters.list(&filter), state.dead_letters.counts_by_reason()) {
            Ok(r) => r,
            Err(e) => return error(e),
        };
    let body = views::list(&letters, &filter, &by_reason);
    page("Dead letters", Some((&session.name, &session.csrf)), body).into_response()
}

/// `?done=` after a POST.
#[derive(Debug, Default, Deserialize)]
pub struct DoneParams {
    done: Option<String>,
}

/// `GET /dead-letters/{id}`.
pub async fn item(
    State(state): State<AppState>,
    PageAdmin(session): PageAdmin,
    Path(id): Path<i64>,
    Query(done): Query<DoneParams>,
) -> Response {
    let letter = match state.dead_letters.get(id).await {
        Ok(d) => d,
        Err(e) => return error(e),
    };
    let message = match done.done.as_deref() {
        Some("retried") => Some("Retried: the next run re-reads the record from its system."),
        Some("discarded") => Some("Discarded."),
        Some("unchanged") => Some("Nothing changed: it already had that status."),
        _ => None,
    };
    let body = views::item(&letter, &session.csrf, message);
    page(&format!("Dead letter {id}"), Some((&session.name, &session.csrf)), body).into_response()
}

/// `POST /dead-letters/{id}/retry`.
pub async fn retry(
    State(state): State<AppState>,
    PageAdmin(session): PageAdmin,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(e) = check_csrf(&session, &form) {
        return render_err(e);
    }
    let now = state.clock.now();
    redirect(id, "retried", state.dead_letters.retry(id, &session.name, now).await)
}

/// `POST /dead-letters/{id}/discard`.
pub async fn discard(
    State(state): State<AppState>,
    PageAdmin(session): PageAdmin,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if let Err(e) = check_csrf(&session, &form) {
        return render_err(e);
    }
    let now = state.clock.now();
    redirect(id, "discarded", state.dead_letters.discard(id, &session.name, now).await)
}

fn redirect(id: i64, word: &str, r: Result<Done, DeadLetterError>) -> Response {
    match r {
        Ok(Done::Now) => Redirect::to(&format!("/dead-letters/{id}?done={word}")).into_response(),
        Ok(Done::Already) => Redirect::to(&format!("/dead-letters/{id}?done=unchanged")).into_response(),
        Err(e) => error(e),
    }
}
