//! The JSON API under `/api/`: list, show, resolve (one or in bulk by filter), reopen, status.
//! Callers authenticate with `Authorization: Bearer <admin token>` (or the session cookie plus
//! the `X-CSRF-Token` header). Errors are `{"error": <code>, "message": <text>}` and never carry
//! secrets or store internals.

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::{CSRF_HEADER, Credential, constant_time_eq};
use crate::review::{ResolveRequest, ReviewError};
use crate::store::{ReviewFilter, ReviewState};

/// An API failure, as the client sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid admin token is required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the state store is unavailable; see the server log")]
    Unavailable,
    /// Too many wrong tokens from this client: retry after this many seconds.
    #[error("too many wrong tokens from this address; retry after {0} s")]
    TooManyAttempts(u64),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::TooManyAttempts(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let mut resp = (status, Json(json!({ "error": code, "message": self.to_string() }))).into_response();
        if let Self::TooManyAttempts(secs) = &self {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, (*secs).into());
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                "Bearer realm=\"crosswalk\"".parse().expect("static"),
            );
        }
        resp
    }
}

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::NotFound(_) => Self::NotFound(e.to_string()),
            ReviewError::Invalid(m) => Self::Invalid(m),
            ReviewError::Conflict(m) => Self::Conflict(m),
            ReviewError::Store(e) => {
                tracing::error!(error = %e, "state store failed while serving the API");
                Self::Unavailable
            }
        }
    }
}

/// An authenticated API caller. State-changing requests made with the cookie must carry the
/// session's CSRF token in `X-CSRF-Token`.
pub struct ApiAdmin(pub Credential);

impl FromRequestParts<AppState> for ApiAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let cred = authenticate(parts, state)?;
        if let Credential::Cookie(session) = &cred
            && parts.method != Method::GET
        {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
            if !constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()) {
                return Err(ApiError::Forbidden("missing or wrong CSRF token".into()));
            }
        }
        Ok(Self(cred))
    }
}

/// The request's credential; a bearer token is checked only while its client is not backing off
/// ([`super::throttle`]), and a wrong one counts against that client.
fn authenticate(parts: &Parts, state: &AppState) -> Result<Credential, ApiError> {
    // Only a `Bearer` value is compared with the token, so only it is a guess worth counting.
    let bearer = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    let client = super::throttle::client_of(&parts.extensions);
    if bearer && let Err(wait) = state.throttle.admit(client) {
        return Err(ApiError::TooManyAttempts(super::throttle::retry_after_secs(wait)));
    }
    match state.auth.authenticate(&parts.headers, state.clock.now()) {
        Some(cred) => {
            if bearer {
                state.throttle.succeeded(client);
            }
            Ok(cred)
        }
        None => {
            if bearer {
                state.throttle.failed(client);
            }
            Err(ApiError::Unauthorized)
        }
    }
}

/// Filter parameters as they come in a query string or a JSON body (all text, so a bad value
/// gets a JSON error naming it).
#[derive(Debug, Default, Deserialize)]
pub struct FilterParams {
    pub state: Option<String>,
    pub pair: Option<String>,
    pub kind: Option<String>,
    pub field: Option<String>,
    pub older_than: Option<String>,
    /// Free-text search (person name, email, record ids, field).
    pub q: Option<String>,
    /// `id` (default), `oldest`, `newest`, `pair` or `kind`.
    pub sort: Option<String>,
    pub limit: Option<String>,
    pub offset: Option<String>,
}

fn nonblank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl FilterParams {
    /// The store filter; `state` defaults to `open`, `state=all` lists every state.
    pub fn to_filter(&self, now: chrono::DateTime<chrono::Utc>) -> Result<ReviewFilter, String> {
        let state = match nonblank(&self.state) {
            None => Some(ReviewState::Open),
            Some("all") => None,
            Some(s) => Some(s.parse().map_err(|_| format!("unknown state `{s}`"))?),
        };
        let kind =
            nonblank(&self.kind).map(|k| k.parse().map_err(|_| format!("unknown kind `{k}`"))).transpose()?;
        let older_than = nonblank(&self.older_than)
            .map(|d| {
                humantime::parse_duration(d)
                    .map_err(|_| format!("`{d}` is not a duration like `2d`"))
                    .and_then(|d| chrono::Duration::from_std(d).map_err(|_| format!("`{d:?}` is too long")))
                    .map(|d| now - d)
            })
            .transpose()?;
        let number = |v: &Option<String>, name: &str| {
            nonblank(v)
                .map(|n| n.parse::<usize>().map_err(|_| format!("`{name}` must be a number")))
                .transpose()
        };
        let sort = nonblank(&self.sort)
            .map(|s| {
                s.parse().map_err(|_| format!("unknown sort `{s}`; use id, oldest, newest, pair or kind"))
            })
            .transpose()?
            .unwrap_or_default();
        Ok(ReviewFilter {
            pair: nonblank(&self.pair).map(str::to_string),
            kind,
            field: nonblank(&self.field).map(str::to_string),
            state,
            older_than,
            search: nonblank(&self.q).map(str::to_string),
            sort,
            limit: number(&self.limit, "limit")?,
            offset: number(&self.offset, "offset")?.unwrap_or(0),
        })
    }
}

/// `GET /api/review`.
pub async fn list(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Query(params): Query<FilterParams>,
) -> Result<Response, ApiError> {
    let filter = params.to_filter(state.clock.now()).map_err(ApiError::Invalid)?;
    let page = state.review.list(&filter).await?;
    let items: Vec<_> = page.items.into_iter().map(|i| state.review.view(i)).collect();
    Ok(Json(json!({ "items": items, "total": page.total, "limit": page.limit, "offset": page.offset }))
        .into_response())
}

/// `GET /api/review/{id}`: the item with its diff.
pub async fn item(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let item = state.review.get(id).await?;
    let diff = crate::review::diff::diff(item.left_value.as_deref(), item.right_value.as_deref());
    let mut body =
        serde_json::to_value(state.review.view(item)).map_err(|e| ApiError::Invalid(e.to_string()))?;
    body["diff"] = serde_json::to_value(diff).unwrap_or_default();
    Ok(Json(body).into_response())
}

/// `POST /api/review/{id}/resolve` with `{action, value?, note?}`.
pub async fn resolve(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    Path(id): Path<i64>,
    body: Result<Json<ResolveRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::Invalid(e.body_text()))?;
    let report = state.review.resolve(id, &req, admin.name()).await?;
    let item = state.review.view(state.review.get(id).await?);
    Ok(Json(json!({ "id": id, "result": report, "message": report.message(id), "item": item }))
        .into_response())
}

/// The body of a bulk resolve: a filter (at least one of pair / kind / field) and a decision.
#[derive(Debug, Deserialize)]
pub struct BulkBody {
    #[serde(default)]
    pub filter: FilterParams,
    #[serde(flatten)]
    pub decision: ResolveRequest,
}

/// `POST /api/review/resolve`: one decision for every open item the filter matches.
pub async fn bulk(
    State(state): State<AppState>,
    ApiAdmin(admin): ApiAdmin,
    body: Result<Json<BulkBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::Invalid(e.body_text()))?;
    let filter = body.filter.to_filter(state.clock.now()).map_err(ApiError::Invalid)?;
    if filter.pair.is_none() && filter.kind.is_none() && filter.field.is_none() && filter.search.is_none() {
        return Err(ApiError::Invalid("a bulk resolve needs at least one of pair, kind, field or q".into()));
    }
    let report = state.review.resolve_bulk(&filter, &body.decision, admin.name()).await?;
    Ok(Json(report).into_response())
}

/// `POST /api/review/{id}/reopen`.
pub async fn reopen(
    State(state): State<AppState>,
    _admin: ApiAdmin,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let reopened = state.review.reopen(id).await?;
    let item = state.review.get(id).await?;
    if !reopened {
        return Err(ApiError::Conflict(format!(
            "item {id} is {}; only resolved or ignored items reopen",
            item.state
        )));
    }
    Ok(Json(json!({ "id": id, "reopened": true, "item": item })).into_response())
}

/// `GET /api/status`: the same object as `crosswalk status --json` (the last 10 runs, streams
/// and their lag, the queue, dead letters), without probing the systems (`systems` is `null`).
pub async fn status(State(state): State<AppState>, _admin: ApiAdmin) -> Result<Response, ApiError> {
    let report = crate::status::gather(state.review.store(), &state.clock, 10)
        .await
        .map_err(|e| ApiError::from(ReviewError::Store(e)))?;
    Ok(Json(report).into_response())
}
