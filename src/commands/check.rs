//! `crosswalk check`: validates the config and the mapping files and reports every problem;
//! with `--remote`, then probes each configured system ([`crate::remote_check`]).

use std::path::Path;

use crate::mapping;
use crate::settings::{Loaded, Need, Problem, Settings};
use crate::settings_needs;

use super::{COMMAND_NEEDS, Outcome};

/// Prints every problem in the configuration and the mappings it points at, then (with
/// `remote`, and only when those are valid) every problem the remote systems report.
pub async fn run(loaded: &Loaded, remote: bool) -> Outcome {
    let mut problems: Vec<String> = loaded.problems.iter().map(Problem::to_string).collect();
    problems.extend(loaded.needed.iter().map(|(need, p)| format!("{p} (needed by {})", users(*need))));
    let mut pairs = Vec::new();
    if let Some(settings) = &loaded.settings {
        pairs = check_mappings(settings, &mut problems);
        print_requirements(settings);
    }
    let source =
        loaded.file.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in defaults".into());
    let again = if remote { "crosswalk check --remote" } else { "crosswalk check" };
    if !problems.is_empty() {
        for p in &problems {
            println!("error: {p}");
        }
        if remote {
            println!("the remote systems were not probed: the configuration must be valid first");
        }
        println!("{} problem(s) found; fix them and run `{again}` again", problems.len());
        return Outcome::ActionNeeded;
    }
    println!("ok: {source} and {} mapping file(s) are valid", pairs.len());
    match (remote, &loaded.settings) {
        (true, Some(settings)) => super::check_remote::run(settings, &pairs).await,
        _ => Outcome::Ok,
    }
}

/// The commands that need `need`, as words.
fn users(need: Need) -> String {
    let names: Vec<&str> =
        COMMAND_NEEDS.iter().filter(|(_, needs)| needs.contains(&need)).map(|(names, _)| *names).collect();
    names.join(", ")
}

/// Prints, per command, the secrets and settings it will require (where each comes from, never
/// a value), so a deployment can give each process only what its command uses.
fn print_requirements(settings: &Settings) {
    let reqs = settings_needs::requirements(settings);
    println!("what each command requires:");
    for (names, needs) in COMMAND_NEEDS {
        let keys: Vec<String> = reqs
            .iter()
            .filter(|r| needs.contains(&r.need))
            .map(|r| format!("{} ({})", r.key, r.from))
            .collect();
        let keys = if keys.is_empty() { "store.url only".to_string() } else { keys.join(", ") };
        println!("  {names}: {keys}");
    }
}

/// Loads every mapping file and checks that the systems it names are configured. Returns the
/// pairs that loaded.
fn check_mappings(settings: &Settings, problems: &mut Vec<String>) -> Vec<mapping::PairMapping> {
    let dir = &settings.sync.mappings_dir;
    if !dir.is_dir() {
        problems.push(format!(
            "`sync.mappings_dir`: the directory `{}` does not exist; create it or point sync.mappings_dir at your mapping files",
            dir.display()
        ));
        return Vec::new();
    }
    let (found, errors) = mapping::load_dir_partial(dir);
    problems.extend(errors.iter().map(ToString::to_string));
    for pair in &found {
        for system in [&pair.left.system, &pair.right.system] {
            if !settings.systems.contains_key(system.as_str()) {
                problems.push(format!(
                    "{}: pair `{}` uses system `{system}`, which is not configured under [systems.{system}]",
                    pair_file(dir, &pair.name).display(),
                    pair.name
                ));
            }
        }
    }
    let fit = mapping::fit::check(&found, &|system, object| {
        settings.systems.get(system).map(|s| crate::registry::object_profile(s, object))
    });
    for p in fit {
        let file = pair_file(dir, &p.pair);
        let line = std::fs::read_to_string(&file).map_or(0, |text| line_of(&text, &p.key));
        problems.push(format!("{}:{line}: `{}`: {}", file.display(), p.key, p.message));
    }
    found
}

/// The 1-based line of a dotted key (`fields.city.rule`, `left`) in mapping text: the key's line
/// inside its table, else the table header, else 1.
fn line_of(text: &str, key: &str) -> usize {
    let (table, leaf) = match key.rsplit_once('.') {
        Some((t, l)) => (Some(t), l),
        None => (None, key),
    };
    let mut in_table = table.is_none();
    let mut header = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_table = table.is_some_and(|tb| t == format!("[{tb}]"));
            if in_table {
                header = Some(i + 1);
            }
            continue;
        }
        if in_table && t.strip_prefix(leaf).is_some_and(|rest| rest.trim_start().starts_with('=')) {
            return i + 1;
        }
    }
    header.unwrap_or(1)
}

fn pair_file(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!("{name}.toml"))
}
