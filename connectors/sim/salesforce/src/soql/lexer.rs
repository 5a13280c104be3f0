//! SOQL tokenizer: identifiers/keywords, quoted strings with backslash escapes, unquoted
//! number/date/dateTime literals, punctuation and comparison operators.

use crate::error::ApiError;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// Identifier or keyword (keywords are matched case-insensitively by the parser).
    Word(String),
    /// `'…'` with escapes resolved.
    Str(String),
    /// An unquoted literal starting with a digit: number, date or dateTime.
    Bare(String),
    /// `,`
    Comma,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`
    Op(&'static str),
}

fn malformed(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request("MALFORMED_QUERY", msg)
}

/// Splits `q` into tokens.
pub fn tokenize(q: &str) -> Result<Vec<Tok>, ApiError> {
    let chars: Vec<char> = q.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            ',' | '(' | ')' | '=' => {
                out.push(match c {
                    ',' => Tok::Comma,
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    _ => Tok::Op("="),
                });
                i += 1;
            }
            '!' | '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('!', Some('=')) => ("!=", 2),
                    ('<', Some('>')) => ("!=", 2),
                    ('<', Some('=')) => ("<=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', _) => ("<", 1),
                    ('>', _) => (">", 1),
                    _ => return Err(malformed("unexpected token: '!'")),
                };
                out.push(Tok::Op(op));
                i += len;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(malformed("unterminated string literal")),
                        Some('\\') => {
                            let esc = chars.get(i + 1).ok_or_else(|| malformed("bad escape"))?;
                            s.push(match esc {
                                'n' => '\n',
                                't' => '\t',
                                other => *other,
                            });
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "-:.+".contains(chars[i])) {
                    i += 1;
                }
                out.push(Tok::Bare(chars[start..i].iter().collect()));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
                {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
            other => return Err(malformed(format!("unexpected token: '{other}'"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_literals_and_operators() {
        let t = tokenize("WHERE SystemModstamp >= 2026-01-01T00:00:00+00:00 AND Email = 'a\\'b' AND x<>1")
            .unwrap();
        assert_eq!(t[2], Tok::Op(">="));
        assert_eq!(t[3], Tok::Bare("2026-01-01T00:00:00+00:00".into()));
        assert_eq!(t[7], Tok::Str("a'b".into()));
        assert_eq!(t[10], Tok::Op("!="));
        assert!(tokenize("WHERE Email = 'open").is_err());
        assert!(tokenize("SELECT Id FROM Contact;").is_err());
    }
}
