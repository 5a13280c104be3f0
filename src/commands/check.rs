//! `crosswalk check`: validates the config and the mapping files and reports every problem.

use std::path::Path;

use crate::mapping;
use crate::settings::{Loaded, Problem, Settings};

use super::Outcome;

/// Prints every problem in the configuration and the mappings it points at.
pub fn run(loaded: &Loaded) -> Outcome {
    let mut problems: Vec<String> = loaded.problems.iter().map(Problem::to_string).collect();
    let mut pairs = 0;
    if let Some(settings) = &loaded.settings {
        pairs = check_mappings(settings, &mut problems);
    }
    let source =
        loaded.file.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in defaults".into());
    if problems.is_empty() {
        println!("ok: {source} and {pairs} mapping file(s) are valid");
        return Outcome::Ok;
    }
    for p in &problems {
        println!("error: {p}");
    }
    println!("{} problem(s) found; fix them and run `crosswalk check` again", problems.len());
    Outcome::ActionNeeded
}

/// Loads every mapping file and checks that the systems it names are configured. Returns how
/// many pairs loaded.
fn check_mappings(settings: &Settings, problems: &mut Vec<String>) -> usize {
    let dir = &settings.sync.mappings_dir;
    if !dir.is_dir() {
        problems.push(format!(
            "`sync.mappings_dir`: the directory `{}` does not exist; create it or point sync.mappings_dir at your mapping files",
            dir.display()
        ));
        return 0;
    }
    let found = match mapping::load_dir(dir) {
        Ok(found) => found,
        Err(errors) => {
            problems.extend(errors.iter().map(ToString::to_string));
            return 0;
        }
    };
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
    found.len()
}

fn pair_file(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!("{name}.toml"))
}
