//! Recursive-descent parser from tokens to [`Query`]. SOQL requires parentheses when AND and OR
//! are mixed at one level; doing otherwise is `MALFORMED_QUERY` here too.

use super::lexer::{Tok, tokenize};
use super::{Cond, Literal, Op, OrderKey, Query};
use crate::error::ApiError;
use crate::time;

fn malformed(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request("MALFORMED_QUERY", msg)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let hit = self.is_kw(kw);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), ApiError> {
        if self.eat_kw(kw) { Ok(()) } else { Err(self.unexpected()) }
    }

    fn unexpected(&self) -> ApiError {
        match self.peek() {
            Some(t) => malformed(format!("unexpected token: {}", describe(t))),
            None => malformed("unexpected end of query"),
        }
    }

    fn ident(&mut self) -> Result<String, ApiError> {
        match self.peek() {
            Some(Tok::Word(w)) if !is_reserved(w) => {
                let w = w.clone();
                self.pos += 1;
                if matches!(self.peek(), Some(Tok::LParen)) {
                    return Err(malformed(format!("unsupported function: {w}")));
                }
                Ok(w)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn cond(&mut self) -> Result<Cond, ApiError> {
        let first = self.term()?;
        let mut terms = vec![first];
        let mut joiner: Option<&'static str> = None;
        loop {
            let kw = if self.is_kw("AND") {
                "AND"
            } else if self.is_kw("OR") {
                "OR"
            } else {
                break;
            };
            if joiner.is_some_and(|j| j != kw) {
                return Err(malformed(format!("unexpected token: {kw} (use parentheses to mix AND and OR)")));
            }
            joiner = Some(kw);
            self.pos += 1;
            terms.push(self.term()?);
        }
        Ok(match (joiner, terms.len()) {
            (_, 1) => terms.remove(0),
            (Some("OR"), _) => Cond::Or(terms),
            _ => Cond::And(terms),
        })
    }

    fn term(&mut self) -> Result<Cond, ApiError> {
        if matches!(self.peek(), Some(Tok::LParen)) {
            self.pos += 1;
            let c = self.cond()?;
            return match self.next() {
                Some(Tok::RParen) => Ok(c),
                _ => Err(malformed("expecting a right parentheses")),
            };
        }
        let field = self.ident()?;
        if self.eat_kw("LIKE") {
            return match self.next() {
                Some(Tok::Str(p)) => Ok(Cond::Like(field, p)),
                _ => Err(malformed("LIKE needs a quoted string pattern")),
            };
        }
        if self.eat_kw("IN") {
            if self.next() != Some(Tok::LParen) {
                return Err(malformed("expecting a left parentheses after IN"));
            }
            let mut values = vec![self.literal()?];
            loop {
                match self.next() {
                    Some(Tok::Comma) => values.push(self.literal()?),
                    Some(Tok::RParen) => break,
                    _ => return Err(malformed("expecting a right parentheses")),
                }
            }
            return Ok(Cond::In(field, values));
        }
        let op = match self.next() {
            Some(Tok::Op(o)) => match o {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            _ => {
                self.pos -= 1;
                return Err(self.unexpected());
            }
        };
        Ok(Cond::Cmp(field, op, self.literal()?))
    }

    fn literal(&mut self) -> Result<Literal, ApiError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Literal::Str(s)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Some(Tok::Bare(b)) => classify(&b),
            _ => {
                self.pos -= 1;
                Err(self.unexpected())
            }
        }
    }

    fn order(&mut self) -> Result<Vec<OrderKey>, ApiError> {
        let mut keys = Vec::new();
        loop {
            let field = self.ident()?;
            let asc = !self.eat_kw("DESC");
            if asc {
                self.eat_kw("ASC");
            }
            let mut nulls_first = asc;
            if self.eat_kw("NULLS") {
                nulls_first = if self.eat_kw("FIRST") {
                    true
                } else {
                    self.expect_kw("LAST")?;
                    false
                };
            }
            keys.push(OrderKey { field, asc, nulls_first });
            if !matches!(self.peek(), Some(Tok::Comma)) {
                return Ok(keys);
            }
            self.pos += 1;
        }
    }
}

fn classify(b: &str) -> Result<Literal, ApiError> {
    if b.bytes().all(|c| c.is_ascii_digit() || c == b'.' || c == b'-') && b.len() != 10 {
        return Ok(Literal::Number(b.to_string()));
    }
    if let Some(d) = time::parse_date(b) {
        return Ok(Literal::Date(d));
    }
    match time::parse_datetime(b) {
        Some(t) => Ok(Literal::DateTime(t)),
        None => Err(malformed(format!("line 1: invalid date or dateTime literal: {b}"))),
    }
}

const RESERVED: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "ORDER", "BY", "LIMIT", "OFFSET", "GROUP", "HAVING", "IN",
    "LIKE", "INCLUDES", "EXCLUDES", "ASC", "DESC", "NULLS", "FIRST", "LAST", "WITH", "FOR", "USING",
    "TYPEOF", "NULL", "TRUE", "FALSE",
];

fn is_reserved(w: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(w))
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) | Tok::Bare(w) => format!("'{w}'"),
        Tok::Str(_) => "string literal".into(),
        Tok::Comma => "','".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::Op(o) => format!("'{o}'"),
    }
}

/// Parses one SOQL statement of the supported subset.
pub fn parse(q: &str) -> Result<Query, ApiError> {
    let mut p = Parser { toks: tokenize(q)?, pos: 0 };
    p.expect_kw("SELECT")?;
    let count = p.is_kw("COUNT") && p.toks.get(p.pos + 1) == Some(&Tok::LParen);
    let mut fields = Vec::new();
    if count {
        p.pos += 2;
        if p.next() != Some(Tok::RParen) {
            return Err(malformed("COUNT() takes no field here; COUNT(field) is not supported"));
        }
    } else {
        fields.push(p.ident()?);
        while matches!(p.peek(), Some(Tok::Comma)) {
            p.pos += 1;
            fields.push(p.ident()?);
        }
    }
    p.expect_kw("FROM")?;
    let object = p.ident()?;
    let filter = if p.eat_kw("WHERE") { Some(p.cond()?) } else { None };
    let order = if p.eat_kw("ORDER") {
        p.expect_kw("BY")?;
        p.order()?
    } else {
        Vec::new()
    };
    let limit = if p.eat_kw("LIMIT") {
        match p.next() {
            Some(Tok::Bare(n)) => {
                Some(n.parse().map_err(|_| malformed("LIMIT must be a non-negative integer"))?)
            }
            _ => return Err(malformed("LIMIT must be a non-negative integer")),
        }
    } else {
        None
    };
    if p.peek().is_some() {
        return Err(p.unexpected());
    }
    if count && !order.is_empty() {
        return Err(malformed("ORDER BY is not allowed with COUNT()"));
    }
    Ok(Query { fields, count, object, filter, order, limit })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_tie_safe_cursor_query() {
        let q = parse(
            "SELECT Id, Email FROM Contact WHERE (SystemModstamp = 2026-01-01T00:00:00Z AND Id > '003000000000001') \
             OR SystemModstamp > 2026-01-01T00:00:00.000+0000 ORDER BY SystemModstamp ASC, Id LIMIT 10",
        )
        .unwrap();
        assert_eq!(q.fields, vec!["Id", "Email"]);
        assert!(matches!(q.filter, Some(Cond::Or(ref v)) if v.len() == 2 && matches!(v[0], Cond::And(_))));
        assert_eq!(q.order.len(), 2);
        assert_eq!(q.limit, Some(10));
        let c = parse("SELECT COUNT() FROM Contact WHERE Email LIKE '%@x.io'").unwrap();
        assert!(c.count && c.fields.is_empty());
        assert_eq!(c.filter, Some(Cond::Like("Email".into(), "%@x.io".into())));
    }

    #[test]
    fn rejects_what_it_does_not_support() {
        for bad in [
            "SELECT Id FROM Contact WHERE a = 'x' AND b = 'y' OR c = 'z'",
            "SELECT COUNT(Id) FROM Contact",
            "SELECT COUNT() FROM Contact ORDER BY Id",
            "SELECT Id FROM Contact WHERE Email LIKE 5",
            "SELECT Id FROM Contact OFFSET 5",
            "SELECT Id FROM Contact WHERE SystemModstamp > 2026-01-01T00:00:00 00:00",
            "SELECT Id, FROM Contact",
            "SELECT Id FROM Contact WHERE NOT Email = 'x'",
        ] {
            assert_eq!(parse(bad).unwrap_err().code, "MALFORMED_QUERY", "{bad}");
        }
    }
}
