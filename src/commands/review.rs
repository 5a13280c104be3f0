//! `crosswalk review …`: the review queue from the command line — list with filters, show one
//! item with its diff, resolve one item or every item a filter matches (after confirmation),
//! reopen, and apply the recorded decisions now with a sync run of the pairs concerned.

use std::collections::BTreeSet;
use std::io::BufRead;

use clap::{Args, Subcommand, ValueEnum};
use connector_api::SystemClock;

use crate::review::{ResolveReport, ResolveRequest, ReviewError, ReviewService, render};
use crate::settings::Settings;
use crate::store::{ResolveAction, ReviewFilter, ReviewKind, ReviewSort, ReviewState, RunKind};

use super::Outcome;

/// The `review` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// List review items (open ones unless `--state` says otherwise).
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Which state to list: open, resolved, applied, superseded, ignored or all.
        #[arg(long, default_value = "open")]
        state: String,
        /// Order: id (as found), oldest, newest, pair or kind.
        #[arg(long, default_value = "id", value_parser = parse_sort)]
        sort: ReviewSort,
        /// Rows per page.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Which page (from 1).
        #[arg(long, default_value_t = 1)]
        page: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one item: base / left / right side by side, the rule, why, the diff, candidates.
    Show {
        id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Decide an item (or, with --all, every open item the filter matches).
    Resolve(ResolveArgs),
    /// Put a resolved or ignored item back in the queue.
    Reopen { id: i64 },
    /// Apply the recorded decisions now: one sync run of each pair that has some waiting.
    Apply {
        /// Only this pair (repeatable).
        #[arg(long = "pair", value_name = "PAIR")]
        pairs: Vec<String>,
    },
}

/// Filters shared by `list` and bulk `resolve`.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only this pair.
    #[arg(long)]
    pub pair: Option<String>,
    /// Only this kind of item.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Only this canonical field.
    #[arg(long)]
    pub field: Option<String>,
    /// Only items detected longer ago than this (e.g. `2d`, `6h`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub older_than: Option<std::time::Duration>,
    /// Only items whose person (name or email), record ids or field contain this text
    /// (case-insensitive), e.g. `grace@example.com`.
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
}

fn parse_sort(s: &str) -> Result<ReviewSort, String> {
    s.parse().map_err(|_| format!("`{s}` is not a sort; use id, oldest, newest, pair or kind"))
}

/// A review kind on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum KindArg {
    FieldConflict,
    AmbiguousIdentity,
    WriteRejected,
    HeldBack,
    Deleted,
}

impl From<KindArg> for ReviewKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::FieldConflict => Self::FieldConflict,
            KindArg::AmbiguousIdentity => Self::AmbiguousIdentity,
            KindArg::WriteRejected => Self::WriteRejected,
            KindArg::HeldBack => Self::HeldBack,
            KindArg::Deleted => Self::Deleted,
        }
    }
}

/// Which side's value to take.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Take {
    Left,
    Right,
    Base,
}

/// `review resolve`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["id", "all"])))]
#[command(group(clap::ArgGroup::new("decision").required(true).args(["take", "value", "ignore"])))]
pub struct ResolveArgs {
    /// The item.
    pub id: Option<i64>,
    /// Every open item matching --pair / --kind / --field / --older-than / --search (at least
    /// one of them, unless --everything).
    #[arg(long)]
    pub all: bool,
    /// With --all and no filter: really decide every open item in the queue.
    #[arg(long, requires = "all")]
    pub everything: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Take this side's value.
    #[arg(long, value_enum)]
    pub take: Option<Take>,
    /// Write this value to both sides (for an ambiguous identity: the chosen candidate id).
    #[arg(long)]
    pub value: Option<String>,
    /// Leave both sides as they are.
    #[arg(long)]
    pub ignore: bool,
    /// Why, kept with the decision.
    #[arg(long)]
    pub note: Option<String>,
    /// Who decides (for the audit trail).
    #[arg(long, env = "USER", default_value = "admin")]
    pub by: String,
    /// Do not ask for confirmation of a bulk resolve.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

impl FilterArgs {
    fn to_filter(&self, now: chrono::DateTime<chrono::Utc>) -> Result<ReviewFilter, String> {
        let older_than = self
            .older_than
            .map(|d| chrono::Duration::from_std(d).map(|d| now - d).map_err(|_| "--older-than is too long"))
            .transpose()?;
        Ok(ReviewFilter {
            pair: self.pair.clone(),
            kind: self.kind.map(Into::into),
            field: self.field.clone(),
            older_than,
            search: self.search.clone().filter(|s| !s.trim().is_empty()),
            ..ReviewFilter::default()
        })
    }

    fn is_empty(&self) -> bool {
        self.pair.is_none()
            && self.kind.is_none()
            && self.field.is_none()
            && self.older_than.is_none()
            && self.search.as_deref().is_none_or(|s| s.trim().is_empty())
    }
}

impl ResolveArgs {
    fn request(&self) -> ResolveRequest {
        let action = match (self.take, &self.value, self.ignore) {
            (Some(Take::Left), ..) => ResolveAction::TakeLeft,
            (Some(Take::Right), ..) => ResolveAction::TakeRight,
            (Some(Take::Base), ..) => ResolveAction::TakeBase,
            (None, Some(_), _) => ResolveAction::Value,
            _ => ResolveAction::Ignore,
        };
        ResolveRequest { action, value: self.value.clone(), note: self.note.clone() }
    }
}

/// Runs one `review` subcommand; confirmation answers are read from stdin.
pub async fn run(settings: &Settings, command: &ReviewCommand) -> Outcome {
    let store = match super::open_store(settings).await {
        Ok(s) => s,
        Err(outcome) => return outcome,
    };
    let directory = crate::review::names::Directory::from_settings(settings);
    let service = ReviewService::new(store, SystemClock::shared()).with_directory(directory);
    let stdin = std::io::stdin();
    match execute(&service, command, &mut stdin.lock()).await {
        Ok(Some(text)) => {
            print!("{text}");
            Outcome::Ok
        }
        Ok(None) => apply(settings, &service, command).await,
        Err(Failure::User(m)) => {
            eprintln!("{m}");
            Outcome::ActionNeeded
        }
        Err(Failure::Review(e)) => fail(&e.to_string()),
    }
}

fn fail(reason: &str) -> Outcome {
    eprintln!("error: {reason}");
    Outcome::ActionNeeded
}

/// Why a subcommand did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// The request was wrong or refused; the text says why.
    User(String),
    /// The service failed.
    Review(ReviewError),
}

impl From<ReviewError> for Failure {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::Invalid(m) | ReviewError::Conflict(m) => Self::User(format!("error: {m}")),
            ReviewError::NotFound(_) => Self::User(format!("error: {e}")),
            e => Self::Review(e),
        }
    }
}

/// Everything but `apply`: returns the text to print (`None` for `apply`, which needs the
/// connectors). Answers to the bulk confirmation are read from `input`.
pub async fn execute(
    service: &ReviewService,
    command: &ReviewCommand,
    input: &mut dyn BufRead,
) -> Result<Option<String>, Failure> {
    let now = SystemClock::shared().now();
    let text = match command {
        ReviewCommand::List { filter, state, sort, limit, page, json } => {
            let mut f = filter.to_filter(now).map_err(Failure::User)?;
            f.state = match state.as_str() {
                "all" => None,
                s => Some(
                    s.parse::<ReviewState>()
                        .map_err(|_| Failure::User(format!("error: unknown state `{s}`")))?,
                ),
            };
            f.limit = Some(*limit);
            f.offset = page.saturating_sub(1) * limit;
            f.sort = *sort;
            let page = service.list(&f).await?;
            if *json {
                let items: Vec<_> = page.items.iter().cloned().map(|i| service.view(i)).collect();
                let body = serde_json::json!({
                    "items": items, "total": page.total, "limit": page.limit, "offset": page.offset
                });
                to_json(&body)
            } else {
                render::table(&page, service.directory())
            }
        }
        ReviewCommand::Show { id, json } => {
            let view = service.view(service.get(*id).await?);
            if *json { to_json(&view) } else { render::show(&view, service.directory()) }
        }
        ReviewCommand::Resolve(args) => resolve(service, args, now, input).await?,
        ReviewCommand::Reopen { id } => match service.reopen(*id).await? {
            true => format!("item {id} is open again\n"),
            false => {
                let item = service.get(*id).await?;
                return Err(Failure::User(format!(
                    "item {id} is {}; only resolved or ignored items can be reopened",
                    item.state
                )));
            }
        },
        ReviewCommand::Apply { .. } => return Ok(None),
    };
    Ok(Some(text))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

async fn resolve(
    service: &ReviewService,
    args: &ResolveArgs,
    now: chrono::DateTime<chrono::Utc>,
    input: &mut dyn BufRead,
) -> Result<String, Failure> {
    let req = args.request();
    if let Some(id) = args.id {
        if args.all || !args.filter.is_empty() {
            return Err(Failure::User("error: give an item id or --all with filters, not both".into()));
        }
        return match service.resolve(id, &req, &args.by).await? {
            report @ ResolveReport::NotOpen { .. } => Err(Failure::User(report.message(id))),
            report => Ok(report.message(id) + "\n"),
        };
    }
    if args.filter.is_empty() && !args.everything {
        return Err(Failure::User(
            "error: --all without a filter would decide every open item in the queue; narrow it with \
             --pair, --kind, --field, --older-than or --search, or add --everything if that is really meant"
                .into(),
        ));
    }
    let filter = args.filter.to_filter(now).map_err(Failure::User)?;
    let matched = service.count_open(&filter).await?;
    if matched == 0 {
        return Ok("no open items match; nothing to do\n".into());
    }
    if !args.yes {
        eprint!("{matched} open item(s) match. Resolve them all with {}? [y/N] ", req.action);
        let mut answer = String::new();
        input.read_line(&mut answer).map_err(|e| Failure::User(format!("error: reading the answer: {e}")))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(Failure::User("aborted; nothing was changed".into()));
        }
    }
    let report = service.resolve_bulk(&filter, &req, &args.by).await?;
    let mut out = format!(
        "{} item(s) matched: {} resolved, {} already decided the same way, {} skipped\n",
        report.matched,
        report.resolved,
        report.unchanged,
        report.skipped.len()
    );
    for (id, why) in &report.skipped {
        out.push_str(&format!("  skipped item {id}: {why}\n"));
    }
    Ok(out)
}

/// `review apply`: a manual sync run of each pair that has resolved items waiting (the run
/// applies them first, then syncs the pair as usual).
async fn apply(settings: &Settings, service: &ReviewService, command: &ReviewCommand) -> Outcome {
    let ReviewCommand::Apply { pairs } = command else { return Outcome::Ok };
    let filter = ReviewFilter { state: Some(ReviewState::Resolved), ..ReviewFilter::default() };
    let waiting = match service.store().list_review(&filter).await {
        Ok(items) => items,
        Err(e) => return fail(&e.to_string()),
    };
    let todo: BTreeSet<String> =
        waiting.iter().map(|i| i.pair.clone()).filter(|p| pairs.is_empty() || pairs.contains(p)).collect();
    if todo.is_empty() {
        println!("no resolved items are waiting; nothing to apply");
        return Outcome::Ok;
    }
    let (engine, _store) = match super::sync::engine(settings).await {
        Ok(e) => e,
        Err(reason) => {
            eprintln!("error: {reason}");
            eprintln!("the decisions stay recorded; the next `crosswalk sync` run applies them");
            return Outcome::ActionNeeded;
        }
    };
    let todo: Vec<String> = todo.into_iter().collect();
    println!("applying {} resolved item(s) in pair(s) {}", waiting.len(), todo.join(", "));
    match engine.run(RunKind::Manual, &todo, false).await {
        Ok(report) => {
            print!("{}", crate::status::run_summary(&report, false));
            super::sync::outcome(&report)
        }
        Err(e) => fail(&e.to_string()),
    }
}
