//! The readable difference between a review item's left and right values, made with `similar`:
//! word by word for short one-line values (character by character inside one word), line by
//! line for long or multi-line ones. Both the CLI and the web page render these segments.

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

/// Values up to this many characters, on one line, get an inline word diff.
const INLINE_MAX: usize = 200;

/// What a diff segment is, read from left to right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    /// In both values.
    Same,
    /// Only in the left value.
    Left,
    /// Only in the right value.
    Right,
}

/// A run of text with one [`SegmentKind`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub kind: SegmentKind,
    pub text: String,
}

/// The difference between two values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueDiff {
    /// `true` for an inline (word/char) diff; `false` for a line diff, whose segments each hold
    /// one line including its line break.
    pub inline: bool,
    pub segments: Vec<Segment>,
}

/// Diffs `left` against `right`; a blank value diffs as the empty string.
pub fn diff(left: Option<&str>, right: Option<&str>) -> ValueDiff {
    let (l, r) = (left.unwrap_or_default(), right.unwrap_or_default());
    let inline = l.len() <= INLINE_MAX && r.len() <= INLINE_MAX && !l.contains('\n') && !r.contains('\n');
    let text_diff = if !inline {
        TextDiff::from_lines(l, r)
    } else if l.contains(char::is_whitespace) || r.contains(char::is_whitespace) {
        TextDiff::from_words(l, r)
    } else {
        TextDiff::from_chars(l, r)
    };
    let mut segments: Vec<Segment> = Vec::new();
    for change in text_diff.iter_all_changes() {
        let kind = match change.tag() {
            ChangeTag::Equal => SegmentKind::Same,
            ChangeTag::Delete => SegmentKind::Left,
            ChangeTag::Insert => SegmentKind::Right,
        };
        let text = change.value();
        match segments.last_mut() {
            Some(last) if inline && last.kind == kind => last.text.push_str(text),
            _ => segments.push(Segment { kind, text: text.to_string() }),
        }
    }
    ValueDiff { inline, segments }
}

impl ValueDiff {
    /// The diff as plain text: inline as `same [-left-]{+right+}`, by lines with `-`/`+`/` `
    /// prefixes.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for s in &self.segments {
            match (self.inline, s.kind) {
                (true, SegmentKind::Same) => out.push_str(&s.text),
                (true, SegmentKind::Left) => out.push_str(&format!("[-{}-]", s.text)),
                (true, SegmentKind::Right) => out.push_str(&format!("{{+{}+}}", s.text)),
                (false, kind) => {
                    let sign = match kind {
                        SegmentKind::Same => ' ',
                        SegmentKind::Left => '-',
                        SegmentKind::Right => '+',
                    };
                    out.push(sign);
                    out.push_str(&s.text);
                    if !s.text.ends_with('\n') {
                        out.push('\n');
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_get_a_word_diff_with_the_common_words_kept() {
        let d = diff(Some("12 Main Street"), Some("12 Main St"));
        assert!(d.inline);
        assert_eq!(d.to_text(), "12 Main [-Street-]{+St+}");
    }

    #[test]
    fn single_words_get_a_character_diff() {
        assert_eq!(diff(Some("Joanna"), Some("Joe")).to_text(), "Jo[-anna-]{+e+}");
    }

    #[test]
    fn a_blank_side_diffs_as_empty() {
        assert_eq!(diff(None, Some("x")).to_text(), "{+x+}");
    }

    #[test]
    fn multi_line_values_get_a_line_diff() {
        let d = diff(Some("a\nb\n"), Some("a\nc\n"));
        assert!(!d.inline);
        assert_eq!(d.to_text(), " a\n-b\n+c\n");
    }
}
