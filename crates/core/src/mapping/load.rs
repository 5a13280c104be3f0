//! Loading mapping files: TOML → [`PairMapping`], reporting every problem with file, line and
//! key instead of stopping at the first one. Each top-level section and each field entry is
//! deserialized on its own so one bad entry does not hide the others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::schema::{
    RawCaps, RawCreation, RawCreationRules, RawDeletes, RawEndpoint, RawField, RawIdentity, RawOnConflict,
    RawRule, RawTransform, RawTransformKind,
};
use super::transform::{Transform, date_format_ok, parse_region};
use super::{
    Cap, Caps, CreationRule, DeletePolicy, Endpoint, ExternalIdField, FieldMapping, FieldRule, IdentityRules,
    OnConflict, PairMapping, RuleKind, Side,
};

/// The class of a [`MappingError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingErrorKind {
    /// The file or directory could not be read.
    Io,
    /// Not valid TOML.
    Syntax,
    /// A key the format does not know.
    UnknownKey,
    /// A required key is missing.
    Missing,
    /// A value of the wrong type or out of range.
    Invalid,
    /// A rule needs a transform direction that does not exist.
    NotInvertible,
}

/// One problem in one mapping file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: `{key}`: {message}", file.display())]
pub struct MappingError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when the file could not be read).
    pub line: usize,
    /// Dotted key path (`fields.status.transform`).
    pub key: String,
    /// What kind of problem.
    pub kind: MappingErrorKind,
    /// For an admin to read.
    pub message: String,
}

const TOP_KEYS: &[&str] = &[
    "version",
    "name",
    "default_region",
    "skew_tolerance_secs",
    "deletes",
    "left",
    "right",
    "identity",
    "creation",
    "caps",
    "fields",
];

/// Loads every `*.toml` in `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<PairMapping>, Vec<MappingError>> {
    let (ok, errors) = load_dir_partial(dir);
    if errors.is_empty() { Ok(ok) } else { Err(errors) }
}

/// Like [`load_dir`], but also answers the files that did load when others did not, so a
/// checker can report what spans the files (pairs over the same records) alongside.
pub fn load_dir_partial(dir: &Path) -> (Vec<PairMapping>, Vec<MappingError>) {
    match load_dir_inner(dir) {
        Ok(found) => found,
        Err(errors) => (Vec::new(), errors),
    }
}

#[allow(clippy::type_complexity)]
fn load_dir_inner(dir: &Path) -> Result<(Vec<PairMapping>, Vec<MappingError>), Vec<MappingError>> {
    let io_err = |e: std::io::Error| {
        vec![MappingError {
            file: dir.to_path_buf(),
            line: 0,
            key: String::new(),
            kind: MappingErrorKind::Io,
            message: e.to_string(),
        }]
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let (mut ok, mut errors) = (Vec::new(), Vec::new());
    for path in paths {
        match load_file(&path) {
            Ok(pair) => ok.push(pair),
            Err(e) => errors.extend(e),
        }
    }
    let mut names = BTreeSet::new();
    for pair in &ok {
        if !names.insert(pair.name.clone()) {
            errors.push(MappingError {
                file: dir.to_path_buf(),
                line: 0,
                key: "name".into(),
                kind: MappingErrorKind::Invalid,
                message: format!("two files declare the pair name `{}`", pair.name),
            });
        }
    }
    Ok((ok, errors))
}

/// Loads one mapping file.
pub fn load_file(path: &Path) -> Result<PairMapping, Vec<MappingError>> {
    let source = std::fs::read_to_string(path).map_err(|e| {
        vec![MappingError {
            file: path.to_path_buf(),
            line: 0,
            key: String::new(),
            kind: MappingErrorKind::Io,
            message: e.to_string(),
        }]
    })?;
    load_str(&source, path)
}

/// Loads mapping text; `file` is only used in errors.
pub fn load_str(source: &str, file: &Path) -> Result<PairMapping, Vec<MappingError>> {
    let mut cx = Cx { source, file, errors: Vec::new() };
    let pair = cx.pair();
    match pair {
        Some(pair) if cx.errors.is_empty() => Ok(pair),
        _ => Err(cx.errors),
    }
}

type Entries = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Deserialize)]
struct FieldsOnly {
    #[serde(default)]
    fields: Entries,
}

struct Cx<'a> {
    source: &'a str,
    file: &'a Path,
    errors: Vec<MappingError>,
}

impl Cx<'_> {
    fn err(&mut self, line: usize, key: &str, kind: MappingErrorKind, message: impl Into<String>) {
        let file = self.file.to_path_buf();
        self.errors.push(MappingError { file, line, key: key.into(), kind, message: message.into() });
    }

    fn line_at(&self, offset: usize) -> usize {
        self.source[..offset.min(self.source.len())].matches('\n').count() + 1
    }

    /// Line of `key = ` inside the table that starts at `from`, else `from`.
    fn line_of_key(&self, from: usize, key: &str) -> usize {
        for (i, line) in self.source.lines().enumerate().skip(from) {
            let t = line.trim_start();
            if t.starts_with('[') {
                break;
            }
            if t.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('=')) {
                return i + 1;
            }
        }
        from
    }

    fn section<T: for<'de> Deserialize<'de>>(&mut self, top: &Entries, key: &str) -> Option<(T, usize)> {
        let (k, v) = top.get_key_value(key)?;
        let line = self.line_at(k.span().start);
        match v.get_ref().clone().try_into::<T>() {
            Ok(t) => Some((t, line)),
            Err(e) => {
                let kind = classify(e.message());
                self.err(line, key, kind, e.message().trim().to_owned());
                None
            }
        }
    }

    fn pair(&mut self) -> Option<PairMapping> {
        let top: Entries = match toml::from_str(self.source) {
            Ok(t) => t,
            Err(e) => {
                let line = e.span().map_or(1, |s| self.line_at(s.start));
                self.err(line, "", MappingErrorKind::Syntax, e.message().trim().to_owned());
                return None;
            }
        };
        for key in top.keys() {
            if !TOP_KEYS.contains(&key.get_ref().as_str()) {
                let line = self.line_at(key.span().start);
                self.err(line, key.get_ref(), MappingErrorKind::UnknownKey, "unknown key");
            }
        }
        let version = self.section::<i64>(&top, "version");
        match version {
            Some((1, _)) => {}
            Some((v, line)) => {
                self.err(line, "version", MappingErrorKind::Invalid, format!("unsupported version {v}"))
            }
            None if !top.contains_key("version") => {
                self.err(1, "version", MappingErrorKind::Missing, "missing `version = 1`")
            }
            None => {}
        }
        let name = self.required::<String>(&top, "name");
        let left = self.required::<RawEndpoint>(&top, "left");
        let right = self.required::<RawEndpoint>(&top, "right");
        let region = self.section::<String>(&top, "default_region").and_then(|(code, line)| {
            let id = parse_region(&code);
            if id.is_none() {
                self.err(
                    line,
                    "default_region",
                    MappingErrorKind::Invalid,
                    format!("unknown region `{code}`"),
                );
            }
            id
        });
        let skew = self.section::<u32>(&top, "skew_tolerance_secs").map_or(0, |(s, _)| s);
        let deletes = self.section::<RawDeletes>(&top, "deletes").map(|(d, _)| d);
        let identity = self.identity(&top);
        let creation = self.required::<RawCreationRules>(&top, "creation");
        let caps = self.caps(&top);
        let fields = self.fields(region, creation.as_ref());
        Some(PairMapping {
            name: name?,
            left: endpoint(left?),
            right: endpoint(right?),
            identity,
            create_left_to_right: creation.as_ref().map(|c| creation_rule(c.left_to_right))?,
            create_right_to_left: creation.as_ref().map(|c| creation_rule(c.right_to_left))?,
            deletes: match deletes {
                Some(RawDeletes::Propagate) => DeletePolicy::Propagate,
                Some(RawDeletes::Ignore) => DeletePolicy::Ignore,
                Some(RawDeletes::UnlinkAndReview) | None => DeletePolicy::UnlinkAndReview,
            },
            caps,
            skew_tolerance: chrono::Duration::seconds(i64::from(skew)),
            fields,
        })
    }

    fn required<T: for<'de> Deserialize<'de>>(&mut self, top: &Entries, key: &str) -> Option<T> {
        if !top.contains_key(key) {
            self.err(1, key, MappingErrorKind::Missing, format!("missing required key `{key}`"));
        }
        self.section(top, key).map(|(t, _)| t)
    }

    fn identity(&mut self, top: &Entries) -> IdentityRules {
        const NEEDED: &str = "every pair needs a way to recognise a record that already exists on the \
            other side, or it would create a second copy of each: add an `[identity]` section with \
            `email = { left = \"…\", right = \"…\" }` and/or a back-link (`left_external_id` / \
            `right_external_id`), company keys or name + country";
        if !top.contains_key("identity") {
            self.err(1, "identity", MappingErrorKind::Missing, format!("missing `[identity]`: {NEEDED}"));
            return IdentityRules::default();
        }
        let Some((raw, line)) = self.section::<RawIdentity>(top, "identity") else {
            return IdentityRules::default();
        };
        let empty = raw.left_external_id.is_none()
            && raw.right_external_id.is_none()
            && raw.email.is_none()
            && raw.company_keys.is_empty()
            && raw.name.is_none();
        if empty {
            self.err(
                line,
                "identity",
                MappingErrorKind::Missing,
                format!("`[identity]` names no key: {NEEDED}"),
            );
        }
        let ext = |e: super::schema::RawExternalId| ExternalIdField { field: e.field, prefix: e.prefix };
        let pair = |p: super::schema::RawFieldPair| (p.left, p.right);
        if raw.name.is_some() != raw.country.is_some() {
            self.err(line, "identity", MappingErrorKind::Invalid, "`name` and `country` go together");
        }
        IdentityRules {
            left_external_id: raw.left_external_id.map(ext),
            right_external_id: raw.right_external_id.map(ext),
            email: raw.email.map(pair),
            company_keys: raw.company_keys.into_iter().map(pair).collect(),
            name_country: raw.name.zip(raw.country).map(|(n, c)| (pair(n), pair(c))),
        }
    }

    fn caps(&mut self, top: &Entries) -> Caps {
        let Some((raw, line)) = self.section::<RawCaps>(top, "caps") else { return Caps::default() };
        for (key, pct) in [
            ("max_creates_pct", raw.max_creates_pct),
            ("max_overwrites_pct", raw.max_overwrites_pct),
            ("max_deletes_pct", raw.max_deletes_pct),
        ] {
            if pct.is_some_and(|p| !(0.0..=100.0).contains(&p)) {
                let line = self.line_of_key(line, key);
                self.err(line, &format!("caps.{key}"), MappingErrorKind::Invalid, "a percentage is 0..=100");
            }
        }
        Caps {
            creates: Cap { max: raw.max_creates, max_pct: raw.max_creates_pct },
            overwrites: Cap { max: raw.max_overwrites, max_pct: raw.max_overwrites_pct },
            deletes: Cap { max: raw.max_deletes, max_pct: raw.max_deletes_pct },
        }
    }

    fn fields(
        &mut self,
        region: Option<phonenumber::country::Id>,
        creation: Option<&RawCreationRules>,
    ) -> Vec<FieldMapping> {
        let Ok(only) = toml::from_str::<FieldsOnly>(self.source) else { return Vec::new() };
        let mut out = Vec::new();
        for (key, value) in only.fields {
            let line = self.line_at(key.span().start);
            let path = format!("fields.{}", key.get_ref());
            match value.into_inner().try_into::<RawField>() {
                Ok(raw) => {
                    let creates_into = |side: Side| {
                        creation.is_some_and(|c| {
                            let rule = if side == Side::Left { c.right_to_left } else { c.left_to_right };
                            matches!(rule, RawCreation::Create)
                        })
                    };
                    let check = FieldCheck { line, path: &path, region, creates_into: &creates_into };
                    if let Some(field) = self.field(key.into_inner(), raw, &check) {
                        out.push(field);
                    }
                }
                Err(e) => self.err(line, &path, classify(e.message()), e.message().trim().to_owned()),
            }
        }
        self.check_duplicates(&out);
        out
    }

    fn field(&mut self, name: String, raw: RawField, check: &FieldCheck<'_>) -> Option<FieldMapping> {
        let (line, path) = (check.line, check.path);
        let left = raw.left.into_vec();
        let right = raw.right.into_vec();
        let transform = match raw.transform {
            Some(t) => self.transform(t, check, left.len(), right.len())?,
            None => {
                if left.len() != 1 || right.len() != 1 {
                    let l = self.line_of_key(line, "left");
                    self.err(
                        l,
                        path,
                        MappingErrorKind::Invalid,
                        "several remote fields need a join or split",
                    );
                    return None;
                }
                Transform::Identity
            }
        };
        let kind = match raw.rule {
            RawRule::Left => RuleKind::SystemOfRecord(Side::Left),
            RawRule::Right => RuleKind::SystemOfRecord(Side::Right),
            RawRule::PreferLeftUnlessBlank => RuleKind::PreferUnlessBlank(Side::Left),
            RawRule::PreferRightUnlessBlank => RuleKind::PreferUnlessBlank(Side::Right),
            RawRule::TwoWay => RuleKind::TwoWay(match raw.on_conflict {
                Some(RawOnConflict::Newest) => OnConflict::Newest,
                _ => OnConflict::Review,
            }),
            RawRule::CreateOnly => RuleKind::CreateOnly,
            RawRule::None => RuleKind::None,
        };
        if raw.on_conflict.is_some() && raw.rule != RawRule::TwoWay {
            let l = self.line_of_key(line, "on_conflict");
            self.err(l, &format!("{path}.on_conflict"), MappingErrorKind::Invalid, "only for `two_way`");
        }
        if raw.flag_drift && !matches!(raw.rule, RawRule::Left | RawRule::Right) {
            let l = self.line_of_key(line, "flag_drift");
            let msg = "only for `left` / `right` rules";
            self.err(l, &format!("{path}.flag_drift"), MappingErrorKind::Invalid, msg);
        }
        for side in [Side::Left, Side::Right] {
            let writes =
                kind.may_update(side) || (kind == RuleKind::CreateOnly && (check.creates_into)(side));
            if writes && !transform.can_encode(side) {
                let l = self.line_of_key(line, "transform");
                let msg = format!(
                    "rule `{}` writes to the {side} side but transform `{}` is not invertible",
                    kind.name(),
                    transform.kind()
                );
                self.err(l, &format!("{path}.transform"), MappingErrorKind::NotInvertible, msg);
                return None;
            }
        }
        let rule =
            FieldRule { kind, allow_blank_overwrite: raw.allow_blank_overwrite, flag_drift: raw.flag_drift };
        Some(FieldMapping { name, left, right, transform, rule })
    }

    fn transform(
        &mut self,
        raw: RawTransform,
        check: &FieldCheck<'_>,
        nl: usize,
        nr: usize,
    ) -> Option<Transform> {
        let line = self.line_of_key(check.line, "transform");
        let key = format!("{}.transform", check.path);
        let bad = |cx: &mut Self, msg: String| {
            cx.err(line, &key, MappingErrorKind::Invalid, msg);
            None
        };
        let allowed: &[&str] = match raw.kind {
            RawTransformKind::Phone => &["region"],
            RawTransformKind::ValueMap => &["map", "default"],
            RawTransformKind::Join | RawTransformKind::Split => &["separator"],
            RawTransformKind::Date => &["left", "right"],
            _ => &[],
        };
        let given = [
            ("region", raw.region.is_some()),
            ("map", raw.map.is_some()),
            ("default", raw.default.is_some()),
            ("separator", raw.separator.is_some()),
            ("left", raw.left.is_some()),
            ("right", raw.right.is_some()),
        ];
        for (name, present) in given {
            if present && !allowed.contains(&name) {
                return bad(self, format!("`{name}` does not apply to this transform kind"));
            }
        }
        let (want_l, want_r) = match raw.kind {
            RawTransformKind::Join => (nl >= 2, nr == 1),
            RawTransformKind::Split => (nl == 1, nr >= 2),
            _ => (nl == 1, nr == 1),
        };
        if !(want_l && want_r) {
            return bad(self, "wrong number of remote fields for this transform".into());
        }
        Some(match raw.kind {
            RawTransformKind::Rename => Transform::Identity,
            RawTransformKind::Email => Transform::Email,
            RawTransformKind::Phone => {
                let region = match raw.region {
                    Some(code) => match parse_region(&code) {
                        Some(id) => Some(id),
                        None => return bad(self, format!("unknown region `{code}`")),
                    },
                    None => check.region,
                };
                Transform::Phone { region }
            }
            RawTransformKind::ValueMap => {
                let Some(map) = raw.map else { return bad(self, "`value_map` needs `map`".into()) };
                let mut inverse = BTreeMap::new();
                let one_to_one = map.iter().all(|(l, r)| inverse.insert(r.clone(), l.clone()).is_none());
                let inverse = (one_to_one && raw.default.is_none()).then_some(inverse);
                Transform::ValueMap { map, inverse, default: raw.default }
            }
            RawTransformKind::Join | RawTransformKind::Split => {
                let separator = raw.separator.unwrap_or_else(|| " ".into());
                if separator.is_empty() {
                    return bad(self, "`separator` must not be empty".into());
                }
                if raw.kind == RawTransformKind::Join {
                    Transform::Join { separator }
                } else {
                    Transform::Split { separator }
                }
            }
            RawTransformKind::CentsToDecimal => Transform::CentsToDecimal,
            RawTransformKind::DecimalToCents => Transform::DecimalToCents,
            RawTransformKind::Date => {
                let (Some(left), Some(right)) = (raw.left, raw.right) else {
                    return bad(self, "`date` needs `left` and `right` formats".into());
                };
                if let Some(f) = [&left, &right].into_iter().find(|f| !date_format_ok(f)) {
                    return bad(self, format!("date format `{f}` cannot round-trip a date"));
                }
                Transform::Date { left, right }
            }
        })
    }

    fn check_duplicates(&mut self, fields: &[FieldMapping]) {
        for side in [Side::Left, Side::Right] {
            let mut seen = BTreeSet::new();
            for f in fields.iter().filter(|f| f.rule.kind != RuleKind::None) {
                for remote in f.remote(side) {
                    if !seen.insert(remote.as_str()) {
                        let line =
                            self.source.find(&format!("[fields.{}]", f.name)).map_or(1, |o| self.line_at(o));
                        let msg = format!("{side} field `{remote}` is mapped by more than one field");
                        self.err(line, &format!("fields.{}.{side}", f.name), MappingErrorKind::Invalid, msg);
                    }
                }
            }
        }
    }
}

struct FieldCheck<'a> {
    line: usize,
    path: &'a str,
    region: Option<phonenumber::country::Id>,
    creates_into: &'a dyn Fn(Side) -> bool,
}

fn classify(message: &str) -> MappingErrorKind {
    if message.contains("unknown field") {
        MappingErrorKind::UnknownKey
    } else if message.contains("missing field") {
        MappingErrorKind::Missing
    } else {
        MappingErrorKind::Invalid
    }
}

fn endpoint(raw: RawEndpoint) -> Endpoint {
    Endpoint { system: raw.system, object: raw.object }
}

fn creation_rule(raw: RawCreation) -> CreationRule {
    match raw {
        RawCreation::Create => CreationRule::Create,
        RawCreation::LinkOnly => CreationRule::LinkOnly,
        RawCreation::Ignore => CreationRule::Ignore,
    }
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
