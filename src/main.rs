//! The `crosswalk` binary: parses the command line, loads settings and dispatches.

use clap::Parser;

use crosswalk::cli::{Cli, Command};
use crosswalk::commands::{self, Outcome};
use crosswalk::settings::{self, LogFormat, Settings};
use crosswalk::telemetry;

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Command::Init { crm, dir, force } = &cli.command {
        std::process::exit(commands::init::run(*crm, dir, *force).exit_code());
    }
    let (path, explicit) = cli.config_path();
    let loaded = settings::load(&path, explicit);
    let (format, level) = match &loaded.settings {
        Some(s) => (cli.log_format.unwrap_or(s.log.format), s.log.level.clone()),
        None => (cli.log_format.unwrap_or(LogFormat::Human), "info".to_string()),
    };
    let level = match cli.verbose {
        0 => level,
        1 => "debug".to_string(),
        _ => "trace".to_string(),
    };
    telemetry::init(format, &level);

    if let Command::Check { remote } = cli.command {
        std::process::exit(commands::check::run(&loaded, remote).await.exit_code());
    }
    let problems = loaded.problems_for(commands::needs(&cli.command));
    let Some(settings) = loaded.settings.as_ref().filter(|_| problems.is_empty()) else {
        for p in &problems {
            telemetry::fail(&p.to_string());
        }
        telemetry::say("the configuration has problems; `crosswalk check` lists them all");
        std::process::exit(2);
    };
    std::process::exit(dispatch(&cli.command, settings).await.exit_code());
}

async fn dispatch(command: &Command, settings: &Settings) -> Outcome {
    match command {
        Command::Check { .. } | Command::Init { .. } => Outcome::Ok,
        Command::Migrate => commands::migrate::run(settings).await,
        Command::Sync { pairs, dry_run, json } => commands::sync::run(settings, pairs, *dry_run, *json).await,
        Command::Run { every, pairs, metrics_listen, serve, listen, json } => {
            let args = commands::run::RunArgs {
                every: *every,
                pairs: pairs.clone(),
                metrics_listen: metrics_listen.clone(),
                serve: *serve,
                listen: listen.clone(),
                json: *json,
            };
            commands::run::run(settings, &args).await
        }
        Command::Resume { system } => commands::resume::run(settings, system).await,
        Command::Backfill { pair, since, until, dry_run, max_creates, restart, slices, json } => {
            let spec = crosswalk::sync::BackfillSpec {
                pair: pair.clone(),
                since: *since,
                until: *until,
                max_creates: *max_creates,
                restart: *restart,
                slices: *slices,
            };
            commands::backfill::run(settings, &spec, *dry_run, *json).await
        }
        #[cfg(feature = "sim")]
        Command::Sim { system, port, schema } => {
            let opts = commands::sim::SimOptions { port: *port, schema: schema.clone() };
            commands::sim::run(*system, &opts).await
        }
        Command::Review { command } => commands::review::run(settings, command).await,
        Command::DeadLetters { command } => commands::dead_letters::run(settings, command).await,
        Command::Serve { listen } => commands::serve::run(settings, listen.as_deref()).await,
        #[cfg(feature = "sim")]
        Command::Demo => commands::demo::run().await,
        #[cfg(not(feature = "sim"))]
        Command::Sim { .. } | Command::Demo { .. } => {
            eprintln!("error: {}", commands::NO_SIMULATORS);
            Outcome::ActionNeeded
        }
        Command::Status(args) => commands::status::run(settings, args).await,
        Command::Explain { system, record_id, limit, json } => {
            commands::explain::run(settings, system, record_id, *limit, *json).await
        }
    }
}
