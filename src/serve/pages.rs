//! The admin pages' handlers: login / logout, the queue, one item, and the form POSTs (resolve,
//! bulk resolve, reopen). Every POST needs the session's CSRF token in its form; the router's
//! guard has already turned cross-site POSTs away.

use axum::extract::{Form, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::AppState;
use super::api::FilterParams;
use super::auth::{Credential, Session, clean_name, clear_cookie, constant_time_eq, session_cookie};
use super::html::{error_page, login as login_page, page};
use super::throttle::{Client, retry_after_secs};
use super::views;
use crate::review::{ResolveReport, ResolveRequest, ReviewError};
use crate::store::{ResolveAction, ReviewState};

/// A logged-in admin on a page; anyone else is sent to the login form.
pub struct PageAdmin(pub Session);

impl FromRequestParts<AppState> for PageAdmin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match state.auth.authenticate(&parts.headers, state.clock.now()) {
            Some(Credential::Cookie(s)) => Ok(Self(s)),
            _ if parts.method == axum::http::Method::GET => Err(Redirect::to("/login").into_response()),
            _ => Err(error_page(StatusCode::UNAUTHORIZED, "sign in first")),
        }
    }
}

type Fields = Vec<(String, String)>;

fn field<'a>(form: &'a Fields, name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A page failure not yet rendered (small, unlike a `Response`).
type PageErr = (StatusCode, &'static str);

pub(crate) fn render_err((status, message): PageErr) -> Response {
    error_page(status, message)
}

pub(crate) fn check_csrf(session: &Session, form: &Fields) -> Result<(), PageErr> {
    let sent = field(form, "csrf").unwrap_or_default();
    if constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()) {
        Ok(())
    } else {
        Err((StatusCode::FORBIDDEN, "the form has expired; reload the page and try again"))
    }
}

fn review_error(e: ReviewError) -> Response {
    match e {
        ReviewError::NotFound(_) => error_page(StatusCode::NOT_FOUND, &e.to_string()),
        ReviewError::Invalid(m) => error_page(StatusCode::BAD_REQUEST, &m),
        ReviewError::Conflict(m) => error_page(StatusCode::CONFLICT, &m),
        ReviewError::Store(e) => {
            tracing::error!(error = %e, "state store failed while serving a page");
            error_page(StatusCode::SERVICE_UNAVAILABLE, "the state store is unavailable; see the server log")
        }
    }
}

/// `GET /login`.
pub async fn login_form() -> Response {
    login_page(None).into_response()
}

/// `POST /login`: checks the token, sets the session cookie, goes to the queue.
/// A client that sent too many wrong tokens waits ([`super::throttle`]).
pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    Form(form): Form<Fields>,
) -> Response {
    if let Err(wait) = state.throttle.admit(client) {
        let retry = retry_after_secs(wait).to_string();
        let page = login_page(Some("Too many wrong tokens from this address; wait a second and try again."));
        return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, retry)], page).into_response();
    }
    let token = field(&form, "token").unwrap_or_default();
    if !state.auth.token_matches(token) {
        state.throttle.failed(client);
        tracing::warn!("admin login with a wrong token");
        return (StatusCode::UNAUTHORIZED, login_page(Some("That token is not right."))).into_response();
    }
    state.throttle.succeeded(client);
    let name = clean_name(field(&form, "name").unwrap_or_default());
    let name = if name.is_empty() { "admin".to_string() } else { name };
    let (cookie, _) = state.auth.new_session(&name, state.clock.now());
    ([(header::SET_COOKIE, session_cookie(&cookie))], Redirect::to("/review")).into_response()
}

/// `POST /logout`.
pub async fn logout(PageAdmin(session): PageAdmin, Form(form): Form<Fields>) -> Response {
    if let Err(e) = check_csrf(&session, &form) {
        return render_err(e);
    }
    ([(header::SET_COOKIE, clear_cookie())], Redirect::to("/login")).into_response()
}

/// `GET /review`: the queue with search, filters, sort and counts per kind.
pub async fn list(
    State(state): State<AppState>,
    PageAdmin(session): PageAdmin,
    Query(params): Query<FilterParams>,
    Query(flash): Query<Flash>,
) -> Response {
    let now = state.clock.now();
    let filter = match params.to_filter(now) {
        Ok(f) => f,
        Err(m) => return error_page(StatusCode::BAD_REQUEST, &m),
    };
    let (page_data, status) = match tokio::try_join!(state.review.list(&filter), state.review.status(0)) {
        Ok(v) => v,
        Err(e) => return review_error(e),
    };
    let message = flash.message();
    let paused: Vec<_> = match state.review.store().breakers().await {
        Ok(b) => b.into_iter().filter(|b| b.open).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the circuit breakers for the page");
            Vec::new()
        }
    };
    let body = views::list(&views::ListPage {
        page: &page_data,
        filter: &filter,
        status: &status,
        csrf: &session.csrf,
        flash: message.as_deref(),
        now,
        dir: state.review.directory(),
        paused: &paused,
    });
    page("Review queue", Some((&session.name, &session.csrf)), body).into_response()
}

/// What the POST before this page did, carried in the redirect's query as fixed codes and
/// numbers (never free text, so a crafted link cannot put words on the page).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Flash {
    pub done: Option<String>,
    pub resolved: Option<u64>,
    pub unchanged: Option<u64>,
    pub skipped: Option<u64>,
}

impl Flash {
    fn message(&self) -> Option<String> {
        let text = match self.done.as_deref()? {
            "resolved" => "Decision recorded: the next sync run of this pair writes it.",
            "ignored" => "Ignored: both sides stay as they are.",
            "unchanged" => "This decision was already recorded; nothing changed.",
            "reopened" => "Reopened: the item is open again.",
            "none_selected" => "Select at least one item first.",
            "bulk" => {
                return Some(format!(
                    "{} item(s) resolved, {} unchanged, {} skipped (the decision does not fit them).",
                    self.resolved.unwrap_or(0),
                    self.unchanged.unwrap_or(0),
                    self.skipped.unwrap_or(0)
                ));
            }
            _ => return None,
        };
        Some(text.to_string())
    }
}

/// Decision-log entries shown on an item or record page.
const HISTORY_LIMIT: usize = 100;

/// `GET /review/{id}`: the item and the history of its records.
pub async fn item(
    State(state): State<AppState>,
    PageAdmin(session): PageAdmin,
    Path(id): Path<i64>,
    Query(flash): Query<Flash>,
) -> Response {
    let item = match state.review.get(id).await {
        Ok(item) => item,
        Err(e) => return review_error(e),
    };
    let history = match state.review.item_history(&item, HISTORY_LIMIT).await {
        Ok(h) => h,
        Err(e) => return review_error(e),
    };
    let (l, r) = state.review.directory().sides(&item.pair);
    let view = state.review.view(item);
    let message = flash.message();
    let body = views::item(&view, &l, &r, &history, &session.csrf, message.as_deref());
    page(&format!("Item {id}"), Some((&session.name, &session.csrf)), body).into_response()
}

/// `GET /record/{system}/{id}`: who the record is, its history and its review items.
pub async fn record(
    State(state): State<AppState>,
    PageAdmin(session): PageAdmin,
    Path((system, record_id)): Path<(String, String)>,
) -> Response {
    let review = &state.review;
    let filter = crate::store::ReviewFilter {
        search: Some(record_id.clone()),
        limit: Some(crate::review::MAX_PAGE),
        ..crate::store::ReviewFilter::default()
    };
    let found = tokio::try_join!(
        review.record_history(&system, &record_id, HISTORY_LIMIT),
        review.record_person(&system, &record_id),
        review.list(&filter),
    );
    let (history, who, items) = match found {
        Ok(v) => v,
        Err(e) => return review_error(e),
    };
    let dir = review.directory();
    let items: Vec<_> = items
        .items
        .into_iter()
        .filter(|i| {
            let (l, r) = dir.sides(&i.pair);
            (l.system.name == system && i.left_id.as_deref() == Some(record_id.as_str()))
                || (r.system.name == system && i.right_id.as_deref() == Some(record_id.as_str()))
        })
        .collect();
    let name = dir.system(&system);
    let url = dir.record_url(&system, &record_id);
    let body = views::record_page(&name, &record_id, url.as_deref(), who.as_ref(), &history, &items);
    let title = format!("{} record {record_id}", name.label);
    page(&title, Some((&session.name, &session.csrf)), body).into_response()
}

fn decision_from(form: &Fields) -> Result<ResolveRequest, PageErr> {
    let action: ResolveAction = field(form, "action")
        .unwrap_or_default()
        .parse()
        .map_err(|_| (StatusCode::BAD_REQUEST, "choose a decision"))?;
    // The value input is in the same form as every button: only the `value` action uses it.
    let value = match action {
        ResolveAction::Value => Some(field(form, "value").unwrap_or_default().to_string()),
        _ => None,
    };
    let note = field(form, "note").map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
    Ok(ResolveRequest { action, value, note })
}

/// `POST /review/{id}/resolve`.
pub async fn resolve(
    State(state): State<AppState>,
    PageAdmin(session): PageAdmin,
    Path(id): Path<i64>,
    Form(form): Form<Fields>,
) -> Response {
    if let Err(e) = check_csrf(&session, &form) {
        return render_err(e);
    }
    let req = match decision_from(&form) {
        Ok(r) => r,
        Err(e) => return render_err(e),
    };
    match state.review.resolve(id, &req, &session.name).await {
        Ok(ResolveReport::Resolved { state: ReviewState::Ignored }) => {
            Redirect::to(&format!("/review/{id}?done=ignored")).into_response()
        }
        Ok(ResolveReport::Resolved { .. }) => {
            Redirect::to(&format!("/review/{id}?done=resolved")).into_response()
        }
        Ok(ResolveReport::Unchanged { .. }) => {
            Redirect::to(&format!("/review/{id}?done=unchanged")).into_response()
        }
        Ok(report @ ResolveReport::NotOpen { .. }) => error_page(StatusCode::CONFLICT, &report.message(id)),
        Err(e) => review_error(e),
    }
}

/// `POST /review/bulk`: one decision for the checked items. Without `confirm=yes` it shows the
/// preview (how many, which, the decision); a decision that does not fit every selected item
/// is refused, naming them.
pub async fn bulk(
    State(state): State<AppState>,
    PageAdmin(session): PageAdmin,
    Form(form): Form<Fields>,
) -> Response {
    if let Err(e) = check_csrf(&session, &form) {
        return render_err(e);
    }
    let req = match decision_from(&form) {
        Ok(r) => r,
        Err(e) => return render_err(e),
    };
    let ids: Vec<i64> = form.iter().filter(|(k, _)| k == "id").filter_map(|(_, v)| v.parse().ok()).collect();
    if ids.is_empty() {
        return Redirect::to("/review?done=none_selected").into_response();
    }
    let mut items = Vec::with_capacity(ids.len());
    for id in &ids {
        match state.review.get(*id).await {
            Ok(i) => items.push(i),
            Err(e) => return review_error(e),
        }
    }
    let dir = state.review.directory();
    let refs: Vec<&crate::store::ReviewItem> = items.iter().collect();
    let choices = crate::review::bulk_choices(&refs, dir);
    let Some((_, label)) = choices.iter().find(|(a, _)| *a == req.action) else {
        let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
        let message = format!(
            "“{}” does not fit every selected item ({}); select items of one kind and one pair of systems, or ignore them",
            req.action,
            ids.join(", ")
        );
        return error_page(StatusCode::BAD_REQUEST, &message);
    };
    if field(&form, "confirm") != Some("yes") {
        let body = views::bulk_preview(&items, req.action, label, dir, &session.csrf);
        return page("Preview", Some((&session.name, &session.csrf)), body).into_response();
    }
    match state.review.resolve_ids(&ids, &req, &session.name).await {
        Ok(r) => Redirect::to(&format!(
            "/review?done=bulk&resolved={}&unchanged={}&skipped={}",
            r.resolved,
            r.unchanged,
            r.skipped.len()
        ))
        .into_response(),
        Err(e) => review_error(e),
    }
}

/// `POST /review/{id}/reopen`.
pub async fn reopen(
    State(state): State<AppState>,
    PageAdmin(session): PageAdmin,
    Path(id): Path<i64>,
    Form(form): Form<Fields>,
) -> Response {
    if let Err(e) = check_csrf(&session, &form) {
        return render_err(e);
    }
    match state.review.reopen(id).await {
        Ok(true) => Redirect::to(&format!("/review/{id}?done=reopened")).into_response(),
        Ok(false) => error_page(StatusCode::CONFLICT, "only resolved or ignored items can be reopened"),
        Err(e) => review_error(e),
    }
}
