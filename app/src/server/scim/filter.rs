//! Parser for SCIM 2.0 filter expressions (RFC 7644 §3.4.2.2) and PATCH
//! operation paths (RFC 7644 §3.5.2).
//!
//! [`parse_filter`] turns `userType eq "Employee" and emails[type eq "work"]`
//! into a [`Filter`] tree; [`parse_path`] turns a PATCH `path` such as
//! `emails[type eq "work"].value` into a [`PatchPath`]. Only syntax is checked:
//! attribute names keep their original spelling and callers match them
//! against their schema case-insensitively.
//!
//! * Keywords (`eq`, `and`, `not`, `pr`, ...) are case-insensitive. `not` binds
//!   tightest and takes a parenthesised filter, then `and`, then `or`; `and` and
//!   `or` are left-associative.
//! * [`Value::Num`] holds the JSON number text exactly as written (validated
//!   against the JSON grammar), so no precision is lost; callers convert it.
//! * An attribute path starting with `urn:` is split at its last colon into the
//!   schema URN and `name[.sub]`. A path equal to a known schema URN
//!   ([`STANDARD_SCHEMA_URNS`], or the list given to the `*_with_schemas`
//!   functions) is a bare schema reference: `urn: Some(..)` with an empty
//!   `name`, meaning "the whole extension object". Only PATCH paths accept it.
//! * Inside `[ ]` only plain sub-attribute names are allowed and brackets do not
//!   nest. `attr[...].sub` is valid only in PATCH paths.
//! * Inputs over [`MAX_INPUT_LEN`] bytes or nested deeper than [`MAX_DEPTH`]
//!   levels are rejected, so recursion is bounded. No input makes it panic.
//!   Long `and`/`or` chains are parsed by loops; the resulting trees are at
//!   most about 600 levels deep, which recursive evaluation handles fine.
//! * [`FilterError::position`] is a 0-based character (not byte) offset; its
//!   `Display` form says "at character N", counting from 1.

use std::fmt;

/// Longest accepted filter or path, in bytes.
pub const MAX_INPUT_LEN: usize = 4096;
/// Deepest accepted nesting of `( )`, `not ( )` and `[ ]`.
pub const MAX_DEPTH: usize = 64;
/// RFC 7643 schema URNs, recognised as bare schema references by
/// [`parse_filter`] and [`parse_path`].
pub const STANDARD_SCHEMA_URNS: &[&str] = &[
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:Group",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
];

/// `[urn ":"] name ["." sub]`, spelled as in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrPath {
    pub urn: Option<String>,
    /// Empty only for a bare schema URN in a PATCH path.
    pub name: String,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A comparison value; `Num` is the JSON number text exactly as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(String),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare(AttrPath, CompareOp, Value),
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// valuePath: `emails[type eq "work" and value co "@x.com"]` (attribute path
    /// plus an inner filter whose attribute paths are relative sub-attributes).
    ValuePath(AttrPath, Box<Filter>),
}

/// A syntax error; `position` is a 0-based character offset into the input.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterError {
    pub message: String,
    pub position: usize,
}

/// PATCH path: attrPath, or valuePath with an optional `.subAttr` after the
/// bracket: `members[value eq "2819c223"]`, `emails[type eq "work"].value`,
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub_after_filter: Option<String>,
}

const OPS: [(CompareOp, &str); 9] = [
    (CompareOp::Eq, "eq"),
    (CompareOp::Ne, "ne"),
    (CompareOp::Co, "co"),
    (CompareOp::Sw, "sw"),
    (CompareOp::Ew, "ew"),
    (CompareOp::Gt, "gt"),
    (CompareOp::Ge, "ge"),
    (CompareOp::Lt, "lt"),
    (CompareOp::Le, "le"),
];

impl CompareOp {
    /// The lowercase keyword, e.g. `"eq"`.
    pub fn as_str(self) -> &'static str {
        OPS.iter().find(|(op, _)| *op == self).map_or("", |(_, kw)| kw)
    }

    fn from_keyword(word: &str) -> Option<Self> {
        OPS.iter().find(|(_, kw)| kw.eq_ignore_ascii_case(word)).map(|(op, _)| *op)
    }
}

/// Parses a filter, recognising the [`STANDARD_SCHEMA_URNS`].
pub fn parse_filter(input: &str) -> Result<Filter, FilterError> {
    parse_filter_with_schemas(input, STANDARD_SCHEMA_URNS)
}

/// Parses a filter; an attribute path equal (case-insensitively) to one of
/// `known_schema_urns` is an error rather than being split at its last colon.
pub fn parse_filter_with_schemas(input: &str, known_schema_urns: &[&str]) -> Result<Filter, FilterError> {
    let mut p = Parser::new(input, "filter", known_schema_urns)?;
    let filter = p.parse_logic("or")?;
    p.skip_ws();
    match p.peek() {
        None => Ok(filter),
        Some(c @ (')' | ']')) => err(p.pos, format!("unexpected \"{c}\" with nothing to close")),
        Some(_) => err(p.pos, format!("expected \"and\", \"or\" or the end of the filter but found {}", p.found(p.pos))),
    }
}

/// Parses a PATCH path, recognising the [`STANDARD_SCHEMA_URNS`].
pub fn parse_path(input: &str) -> Result<PatchPath, FilterError> {
    parse_path_with_schemas(input, STANDARD_SCHEMA_URNS)
}

/// Parses a PATCH path; input equal (case-insensitively) to one of
/// `known_schema_urns` is a bare schema reference with an empty `name`.
pub fn parse_path_with_schemas(input: &str, known_schema_urns: &[&str]) -> Result<PatchPath, FilterError> {
    let mut p = Parser::new(input, "path", known_schema_urns)?;
    p.skip_ws();
    let attr = p.parse_attr_path()?;
    let mut path = PatchPath { attr, filter: None, sub_after_filter: None };
    if !path.attr.name.is_empty() && p.peek() == Some('[') {
        path.filter = Some(p.nested(p.pos, ']')?);
        if p.peek() == Some('.') {
            p.pos += 1;
            path.sub_after_filter = Some(p.parse_name("a sub-attribute name after \"].\"")?);
        }
    }
    p.skip_ws();
    match p.peek() {
        None => Ok(path),
        Some(_) => err(p.pos, format!("unexpected {} in path", p.found(p.pos))),
    }
}

fn err<T>(position: usize, message: impl Into<String>) -> Result<T, FilterError> {
    Err(FilterError { message: message.into(), position })
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Characters that end a `urn:...` token.
fn ends_token(c: char) -> bool {
    c.is_whitespace() || "()[]\"".contains(c)
}

struct Parser<'s> {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
    in_brackets: bool,
    schemas: &'s [&'s str],
}

impl<'s> Parser<'s> {
    fn new(input: &str, kind: &str, schemas: &'s [&'s str]) -> Result<Self, FilterError> {
        if input.len() > MAX_INPUT_LEN {
            let len = input.len();
            return err(0, format!("{kind} is too long ({len} bytes; the limit is {MAX_INPUT_LEN})"));
        }
        if input.trim().is_empty() {
            return err(0, format!("{kind} is empty"));
        }
        let chars = input.chars().collect();
        Ok(Parser { chars, pos: 0, depth: 0, in_brackets: false, schemas })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn char_at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.chars.get(from..to).map(|s| s.iter().collect()).unwrap_or_default()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn name_end(&self, mut i: usize) -> usize {
        while self.char_at(i).is_some_and(is_name_char) {
            i += 1;
        }
        i
    }

    fn starts_with_ci(&self, from: usize, s: &str) -> bool {
        s.chars().enumerate().all(|(k, c)| self.char_at(from + k).is_some_and(|x| x.eq_ignore_ascii_case(&c)))
    }

    /// True if the whole word at `from` is the keyword `kw`, in any case.
    fn keyword_at(&self, from: usize, kw: &str) -> bool {
        self.name_end(from) - from == kw.len() && self.starts_with_ci(from, kw)
    }

    /// Short quoted description of the input at `at`, for error messages.
    fn found(&self, at: usize) -> String {
        match self.char_at(at) {
            None => "end of input".to_string(),
            Some(c) if "()[]\"'".contains(c) => format!("\"{c}\""),
            Some(_) => {
                let mut end = at + 1;
                while end < at + 20 && self.char_at(end).is_some_and(|c| !ends_token(c)) {
                    end += 1;
                }
                format!("\"{}\"", self.text(at, end))
            }
        }
    }

    /// Parses `open filter close`, where `open` is the index of `(` or `[`.
    fn nested(&mut self, open: usize, close: char) -> Result<Filter, FilterError> {
        if self.depth >= MAX_DEPTH {
            return err(open, format!("filter is nested too deeply (the limit is {MAX_DEPTH} levels)"));
        }
        let outer_in_brackets = self.in_brackets;
        self.depth += 1;
        self.in_brackets |= close == ']';
        self.pos = open + 1;
        let inner = self.parse_logic("or")?;
        self.skip_ws();
        if self.peek() != Some(close) {
            let message = if self.peek().is_none() {
                let open_char = if close == ')' { '(' } else { '[' };
                format!("missing \"{close}\" to close the \"{open_char}\" at character {}", open + 1)
            } else {
                format!("expected \"and\", \"or\" or \"{close}\" but found {}", self.found(self.pos))
            };
            return err(self.pos, message);
        }
        self.pos += 1;
        self.depth -= 1;
        self.in_brackets = outer_in_brackets;
        Ok(inner)
    }

    /// `kw` is `"or"` or `"and"`: `or` operands are `and` chains, whose
    /// operands are unary filters. Both are left-associative loops.
    fn parse_logic(&mut self, kw: &str) -> Result<Filter, FilterError> {
        let is_or = kw == "or";
        let operand = |p: &mut Self| {
            if is_or {
                p.parse_logic("and")
            } else {
                p.parse_unary()
            }
        };
        let mut left = operand(self)?;
        loop {
            self.skip_ws();
            if !self.keyword_at(self.pos, kw) {
                return Ok(left);
            }
            self.pos += kw.len();
            let (l, r) = (Box::new(left), Box::new(operand(self)?));
            left = if is_or { Filter::Or(l, r) } else { Filter::And(l, r) };
        }
    }

    fn parse_unary(&mut self) -> Result<Filter, FilterError> {
        self.skip_ws();
        let start = self.pos;
        match self.peek() {
            Some('(') => self.nested(start, ')'),
            Some(c) if c.is_ascii_alphabetic() || c == '$' => match self.not_paren()? {
                Some(open) => Ok(Filter::Not(Box::new(self.nested(open, ')')?))),
                None => self.parse_attr_expr(),
            },
            _ => err(start, format!("expected an attribute name, \"(\" or \"not\" but found {}", self.found(start))),
        }
    }

    /// At a word: `Some(index of "(")` for the operator `not (`, `None` for an
    /// attribute (possibly one named `not`, as in `not pr` or `not[...]`).
    fn not_paren(&self) -> Result<Option<usize>, FilterError> {
        let after = self.pos + 3;
        if !self.keyword_at(self.pos, "not") || matches!(self.char_at(after), Some('[' | '.')) {
            return Ok(None);
        }
        let mut i = after;
        while self.char_at(i).is_some_and(char::is_whitespace) {
            i += 1;
        }
        let word = self.text(i, self.name_end(i));
        if self.char_at(i) == Some('(') {
            Ok(Some(i))
        } else if word.eq_ignore_ascii_case("pr") || CompareOp::from_keyword(&word).is_some() {
            Ok(None)
        } else {
            err(i, format!("expected \"(\" after \"not\" but found {}", self.found(i)))
        }
    }

    /// `attrPath "pr"`, `attrPath compareOp compValue` or `attrPath "[" filter "]"`.
    fn parse_attr_expr(&mut self) -> Result<Filter, FilterError> {
        let start = self.pos;
        let attr = self.parse_attr_path()?;
        let attr_text = self.text(start, self.pos);
        if self.in_brackets && (attr.urn.is_some() || attr.sub.is_some()) {
            return err(start, "only plain sub-attribute names are allowed inside \"[ ]\"");
        }
        if attr.name.is_empty() {
            let msg = format!("expected an attribute name after the schema URN \"{attr_text}\"");
            return err(self.pos, msg);
        }
        if self.peek() == Some('[') {
            if self.in_brackets {
                return err(self.pos, "nested \"[ ]\" filters are not allowed");
            }
            let inner = self.nested(self.pos, ']')?;
            if self.peek() == Some('.') {
                // Microsoft Entra's matching filter: `emails[type eq "work"].value eq "a@b"`
                // (sent when an admin matches on `emails[type eq "work"].value`). RFC 7644's
                // grammar has no such filter; it means the same as
                // `emails[type eq "work" and value eq "a@b"]` (one email that is both), and is
                // read as that. One plain sub-attribute and a condition must follow.
                self.pos += 1;
                let sub_at = self.pos;
                let sub = self.parse_name("a sub-attribute name after \"].\"")?;
                if matches!(self.peek(), Some('.' | '[' | ':')) {
                    return err(self.pos, "only one plain sub-attribute may follow \"]\" in a filter");
                }
                let sub_text = format!("{attr_text}[…].{}", self.text(sub_at, self.pos));
                let cond = self.parse_condition(AttrPath { urn: None, name: sub, sub: None }, &sub_text)?;
                return Ok(Filter::ValuePath(attr, Box::new(Filter::And(Box::new(inner), Box::new(cond)))));
            }
            return Ok(Filter::ValuePath(attr, Box::new(inner)));
        }
        self.parse_condition(attr, &attr_text)
    }

    /// After an attribute path: `"pr"` or `compareOp compValue`.
    fn parse_condition(&mut self, attr: AttrPath, attr_text: &str) -> Result<Filter, FilterError> {
        self.skip_ws();
        let op_at = self.pos;
        self.pos = self.name_end(op_at);
        let word = self.text(op_at, self.pos);
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(attr));
        }
        match CompareOp::from_keyword(&word) {
            Some(op) => Ok(Filter::Compare(attr, op, self.parse_value(&word)?)),
            None if op_at == self.chars.len() => err(op_at, format!("expected a comparison operator after \"{attr_text}\"")),
            None => err(op_at, format!("expected a comparison operator after \"{attr_text}\" but found {}", self.found(op_at))),
        }
    }

    /// `[urn ":"] name ["." sub]`; a known bare schema URN gives an empty name.
    fn parse_attr_path(&mut self) -> Result<AttrPath, FilterError> {
        let start = self.pos;
        let mut urn = None;
        if self.starts_with_ci(start, "urn:") {
            let mut end = start;
            while self.char_at(end).is_some_and(|c| !ends_token(c)) {
                end += 1;
            }
            let token = self.text(start, end);
            if self.schemas.iter().any(|s| s.eq_ignore_ascii_case(&token)) {
                self.pos = end;
                return Ok(AttrPath { urn: Some(token), name: String::new(), sub: None });
            }
            let Some(colon) = (start + 4..end).rev().find(|&i| self.char_at(i) == Some(':')) else {
                return err(start, format!("\"{token}\" is not a schema URN followed by \":\" and an attribute name"));
            };
            urn = Some(self.text(start, colon));
            self.pos = colon + 1;
        }
        let name = self.parse_name("an attribute name")?;
        let mut sub = None;
        if self.peek() == Some('.') {
            self.pos += 1;
            sub = Some(self.parse_name("a sub-attribute name after \".\"")?);
        }
        Ok(AttrPath { urn, name, sub })
    }

    /// ATTRNAME = ALPHA *(ALPHA / DIGIT / "-" / "_"), or `$ref`.
    fn parse_name(&mut self, what: &str) -> Result<String, FilterError> {
        let start = self.pos;
        let end = match self.peek() {
            Some('$') if self.starts_with_ci(start + 1, "ref") && !self.char_at(start + 4).is_some_and(is_name_char) => start + 4,
            Some(c) if c.is_ascii_alphabetic() => self.name_end(start),
            _ => return err(start, format!("expected {what} but found {}", self.found(start))),
        };
        self.pos = end;
        Ok(self.text(start, end))
    }

    fn parse_value(&mut self, op: &str) -> Result<Value, FilterError> {
        self.skip_ws();
        let start = self.pos;
        let end = self.name_end(start);
        let word = self.text(start, end).to_ascii_lowercase();
        let value = match self.peek() {
            None => return err(start, format!("expected a value after \"{op}\"")),
            Some('"') => return self.parse_string().map(Value::Str),
            Some(c) if c == '-' || c.is_ascii_digit() => return self.parse_number(),
            Some('\'') => return err(start, "strings must be in double quotes, not single quotes"),
            _ if word == "true" => Value::Bool(true),
            _ if word == "false" => Value::Bool(false),
            _ if word == "null" => Value::Null,
            Some(c) if c.is_ascii_alphabetic() => {
                let word = self.text(start, end);
                let msg = format!("expected a value after \"{op}\" but found the bare word \"{word}\"");
                return err(start, msg + "; strings must be in double quotes");
            }
            Some(_) => {
                let found = self.found(start);
                return err(start, format!("expected a string, number, true, false or null after \"{op}\" but found {found}"));
            }
        };
        self.pos = end;
        Ok(value)
    }

    /// JSON number: `-? (0 | [1-9][0-9]*) ("." [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn parse_number(&mut self) -> Result<Value, FilterError> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.pos += 1;
            }
            p.pos > from
        };
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let mut ok = digits(self) && (self.char_at(int_start) != Some('0') || self.pos == int_start + 1);
        if ok && self.peek() == Some('.') {
            self.pos += 1;
            ok = digits(self);
        }
        if ok && matches!(self.peek(), Some('e' | 'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some('+' | '-')) {
                self.pos += 1;
            }
            ok = digits(self);
        }
        if !ok || self.peek().is_some_and(|c| is_name_char(c) || c == '.' || c == '+') {
            return err(start, "invalid number");
        }
        Ok(Value::Num(self.text(start, self.pos)))
    }

    /// A JSON string with full escape handling; `self.pos` is at the opening quote.
    fn parse_string(&mut self) -> Result<String, FilterError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let at = self.pos;
            self.pos += 1;
            match self.char_at(at) {
                None => return err(start, "unterminated string (missing closing \")"),
                Some('"') => return Ok(out),
                Some('\\') => out.push(self.parse_escape(at)?),
                Some(c) if c < ' ' => return err(at, "control characters in strings must be escaped"),
                Some(c) => out.push(c),
            }
        }
    }

    /// The escape whose backslash is at `at`.
    fn parse_escape(&mut self, at: usize) -> Result<char, FilterError> {
        let e = self.peek();
        self.pos += 1;
        Ok(match e {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => {
                let mut code = self.parse_hex4(at)?;
                if (0xD800..0xDC00).contains(&code) && self.chars.get(self.pos..self.pos + 2) == Some(&['\\', 'u']) {
                    self.pos += 2;
                    let low = self.parse_hex4(at)?;
                    if (0xDC00..0xE000).contains(&low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    }
                }
                // Still a surrogate here means it was unpaired.
                match char::from_u32(code) {
                    Some(c) => c,
                    None => return err(at, "unpaired UTF-16 surrogate in \\u escape"),
                }
            }
            None => return err(at, "unterminated string (missing closing \")"),
            Some(other) => return err(at, format!("invalid escape \"\\{other}\" in string")),
        })
    }

    fn parse_hex4(&mut self, at: usize) -> Result<u32, FilterError> {
        let mut code = 0;
        for _ in 0..4 {
            let Some(digit) = self.peek().and_then(|c| c.to_digit(16)) else {
                return err(at, "\\u must be followed by four hex digits");
            };
            code = code * 16 + digit;
            self.pos += 1;
        }
        Ok(code)
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at character {}", self.message, self.position + 1)
    }
}

impl std::error::Error for FilterError {}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.urn, self.name.is_empty()) {
            (Some(urn), true) => f.write_str(urn)?,
            (Some(urn), false) => write!(f, "{urn}:{}", self.name)?,
            (None, _) => f.write_str(&self.name)?,
        }
        match &self.sub {
            Some(sub) => write!(f, ".{sub}"),
            None => Ok(()),
        }
    }
}

/// Canonical text: numbers as written, strings JSON-escaped.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Num(n) => f.write_str(n),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
            Value::Str(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\t' => f.write_str("\\t")?,
                        c if c < ' ' => write!(f, "\\u{:04x}", u32::from(c))?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
        }
    }
}

impl Filter {
    /// Writes `self`, in parentheses if it binds looser than `min`
    /// (1 = `or`, 2 = `and`, 3 = anything else).
    fn write_prec(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        let prec = match self {
            Filter::Or(..) => 1,
            Filter::And(..) => 2,
            _ => 3,
        };
        if prec < min {
            f.write_str("(")?;
            self.write_prec(f, 1)?;
            return f.write_str(")");
        }
        match self {
            Filter::Compare(attr, op, value) => write!(f, "{attr} {op} {value}"),
            Filter::Present(attr) => write!(f, "{attr} pr"),
            Filter::And(l, r) | Filter::Or(l, r) => {
                l.write_prec(f, prec)?;
                f.write_str(if prec == 1 { " or " } else { " and " })?;
                r.write_prec(f, prec + 1)
            }
            Filter::Not(inner) => {
                f.write_str("not (")?;
                inner.write_prec(f, 1)?;
                f.write_str(")")
            }
            Filter::ValuePath(attr, inner) => {
                write!(f, "{attr}[")?;
                inner.write_prec(f, 1)?;
                f.write_str("]")
            }
        }
    }
}

/// Canonical filter text, with parentheses only where precedence needs them.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_prec(f, 1)
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        match &self.sub_after_filter {
            Some(sub) => write!(f, ".{sub}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CompareOp::*;
    use super::*;

    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn attr(urn: Option<&str>, name: &str, sub: Option<&str>) -> AttrPath {
        AttrPath { urn: urn.map(Into::into), name: name.into(), sub: sub.map(Into::into) }
    }
    fn a(name: &str) -> AttrPath {
        attr(None, name, None)
    }
    fn cmp(attr: AttrPath, op: CompareOp, v: &str) -> Filter {
        Filter::Compare(attr, op, Value::Str(v.into()))
    }
    fn pr(name: &str) -> Filter {
        Filter::Present(a(name))
    }
    fn and(l: Filter, r: Filter) -> Filter {
        Filter::And(Box::new(l), Box::new(r))
    }
    fn or(l: Filter, r: Filter) -> Filter {
        Filter::Or(Box::new(l), Box::new(r))
    }
    /// Parses, checks the canonical text round-trips, and returns the tree.
    fn p(input: &str) -> Filter {
        let f = parse_filter(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(parse_filter(&f.to_string()), Ok(f.clone()), "round trip of {input:?}");
        f
    }
    fn path(input: &str) -> PatchPath {
        let pp = parse_path(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(parse_path(&pp.to_string()), Ok(pp.clone()), "round trip of {input:?}");
        pp
    }

    #[test]
    fn rfc_7644_examples() {
        // Every example of §3.4.2.2. The canonical text equals the input, except
        // that the redundant parentheses around `emails.type eq "work"` go.
        let examples = [
            r#"userName eq "bjensen""#,
            r#"name.familyName co "O'Malley""#,
            r#"userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            r#"title pr"#,
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            r#"title pr and userType eq "Employee""#,
            r#"title pr or userType eq "Intern""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        ];
        for input in examples {
            let canonical = input.replace("(emails.type eq \"work\")", "emails.type eq \"work\"");
            assert_eq!(p(input).to_string(), canonical);
        }
        let emails_or = || {
            let value = attr(None, "emails", Some("value"));
            or(cmp(a("emails"), Co, "example.com"), cmp(value, Co, "example.org"))
        };
        let work = || {
            let inner = and(cmp(a("type"), Eq, "work"), cmp(a("value"), Co, "@example.com"));
            Filter::ValuePath(a("emails"), Box::new(inner))
        };
        let xmpp = and(cmp(a("type"), Eq, "xmpp"), cmp(a("value"), Co, "@foo.com"));
        let cases = [
            (0, cmp(a("userName"), Eq, "bjensen")),
            (1, cmp(attr(None, "name", Some("familyName")), Co, "O'Malley")),
            (3, cmp(attr(Some(CORE), "userName", None), Sw, "J")),
            (4, pr("title")),
            (6, cmp(attr(None, "meta", Some("lastModified")), Ge, "2011-05-13T04:42:34Z")),
            (10, or(pr("title"), cmp(a("userType"), Eq, "Intern"))),
            (12, and(cmp(a("userType"), Eq, "Employee"), emails_or())),
            (13, and(cmp(a("userType"), Ne, "Employee"), Filter::Not(Box::new(emails_or())))),
            (15, and(cmp(a("userType"), Eq, "Employee"), work())),
            (16, or(work(), Filter::ValuePath(a("ims"), Box::new(xmpp)))),
        ];
        for (i, expected) in cases {
            assert_eq!(p(examples[i]), expected, "{}", examples[i]);
        }
    }

    /// Microsoft Entra matches on `emails[type eq "work"].value`: the filter it sends reads
    /// as the bracket filter with both conditions, whatever the inner filter.
    #[test]
    fn entras_matching_filter_reads_as_one_value_filter() {
        let work = cmp(a("type"), Eq, "work");
        let expected = Filter::ValuePath(a("emails"), Box::new(and(work.clone(), cmp(a("value"), Eq, "alice@contoso.com"))));
        assert_eq!(p(r#"emails[type eq "work"].value eq "alice@contoso.com""#), expected);
        assert_eq!(p(r#"emails[type eq "work" and value eq "alice@contoso.com"]"#), expected);
        assert_eq!(p(r#"emails[type eq "work"].value pr"#), Filter::ValuePath(a("emails"), Box::new(and(work.clone(), pr("value")))));
        let either = or(cmp(a("type"), Eq, "work"), cmp(a("type"), Eq, "home"));
        let f = p(r#"emails[type eq "work" or type eq "home"].value eq "a@b.c" and active eq true"#);
        let inner = Filter::ValuePath(a("emails"), Box::new(and(either, cmp(a("value"), Eq, "a@b.c"))));
        assert_eq!(f, and(inner, Filter::Compare(a("active"), Eq, Value::Bool(true))));
        // Its canonical text parses to the same tree.
        assert_eq!(p(&f.to_string()), f);
    }

    #[test]
    fn precedence_keywords_and_values() {
        let num = |name: &str, n: &str| Filter::Compare(a(name), Eq, Value::Num(n.into()));
        assert_eq!(p("a eq 1 or b eq 2 and c eq 3"), or(num("a", "1"), and(num("b", "2"), num("c", "3"))));
        assert_eq!(p("not (a pr) and b pr"), and(Filter::Not(Box::new(pr("a"))), pr("b")));
        assert_eq!(p("a pr or b pr or c pr"), or(or(pr("a"), pr("b")), pr("c")));
        assert_eq!(p("a pr and (b pr and c pr)"), and(pr("a"), and(pr("b"), pr("c"))));
        assert_eq!(p("((a pr or b pr)) AND c pr").to_string(), "(a pr or b pr) and c pr");
        assert_eq!(
            p(" \tuserName EQ \"x\"\nAnd NOT(title PR)  Or active eq TRUE "),
            or(and(cmp(a("userName"), Eq, "x"), Filter::Not(Box::new(pr("title")))), Filter::Compare(a("active"), Eq, Value::Bool(true)))
        );
        let not_work = Filter::Not(Box::new(cmp(a("type"), Eq, "work")));
        assert_eq!(p("emails[not (type eq \"work\") and (value pr)]").to_string(), "emails[not (type eq \"work\") and value pr]");
        assert_eq!(p("emails[not(type eq \"work\")]"), Filter::ValuePath(a("emails"), Box::new(not_work)));
        assert_eq!(p("x Ne NULL"), Filter::Compare(a("x"), Ne, Value::Null));
        assert_eq!(p("x lt -3.14e-2").to_string(), "x lt -3.14e-2");
        for n in ["0", "-0", "1e3", "1E+3", "0.5", "123456789012345678901234567890"] {
            assert_eq!(p(&format!("x eq {n}")), num("x", n));
        }
        // Keywords used as attribute names, and $ref.
        assert_eq!(p("not pr"), pr("not"));
        assert_eq!(p("and eq \"1\" and or pr"), and(cmp(a("and"), Eq, "1"), pr("or")));
        assert_eq!(p("members.$ref pr"), Filter::Present(attr(None, "members", Some("$ref"))));
    }

    #[test]
    fn okta_and_entra_shapes() {
        assert_eq!(p(r#"userName eq "a@x.com""#), cmp(a("userName"), Eq, "a@x.com"));
        assert_eq!(p(r#"externalId eq "abc""#), cmp(a("externalId"), Eq, "abc"));
        assert_eq!(p(r#"displayName eq "Group A""#), cmp(a("displayName"), Eq, "Group A"));
        assert_eq!(p(&format!("{ENT}:employeeNumber eq \"7\"")), cmp(attr(Some(ENT), "employeeNumber", None), Eq, "7"));
        let members = path(r#"members[value eq "2819c223"]"#);
        assert_eq!(members.attr, a("members"));
        assert_eq!(members.filter, Some(cmp(a("value"), Eq, "2819c223")));
        assert_eq!(members.sub_after_filter, None);
        let emails = path(r#"emails[type eq "work"].value"#);
        assert_eq!(emails.filter, Some(cmp(a("type"), Eq, "work")));
        assert_eq!(emails.sub_after_filter.as_deref(), Some("value"));
    }

    #[test]
    fn patch_paths() {
        let plain = |urn, name, sub| PatchPath { attr: attr(urn, name, sub), filter: None, sub_after_filter: None };
        assert_eq!(path("members"), plain(None, "members", None));
        assert_eq!(path(" name.givenName "), plain(None, "name", Some("givenName")));
        assert_eq!(path(&format!("{ENT}:department")), plain(Some(ENT), "department", None));
        assert_eq!(path(&format!("{ENT}:manager.value")), plain(Some(ENT), "manager", Some("value")));
        assert_eq!(path(&format!("{CORE}:name.givenName")), plain(Some(CORE), "name", Some("givenName")));
        assert_eq!(path(ENT), plain(Some(ENT), "", None));
        let lower = ENT.to_ascii_lowercase();
        assert_eq!(path(&lower), plain(Some(&lower), "", None));
        assert_eq!(path(&format!("{ENT}:emails[type pr].value")).attr, attr(Some(ENT), "emails", None));
        // Custom schemas: bare when known, otherwise the last-colon rule applies.
        let acme = "urn:acme:scim:1.0:Device";
        assert_eq!(parse_path_with_schemas(acme, &[acme]), Ok(plain(Some(acme), "", None)));
        assert_eq!(parse_path(acme), Ok(plain(Some("urn:acme:scim:1.0"), "Device", None)));
        assert!(parse_filter_with_schemas(&format!("{acme} pr"), &[acme]).is_err());
        let bad = ["", "emails[", "emails[a pr", "emails[a pr].", "emails]", "a.b.c", "1abc", "a[b[c pr]]", "a[b pr] x"];
        for input in bad.into_iter().chain([format!("{ENT}[x pr]").as_str(), "urn:x:", "urn:foo"]) {
            assert!(parse_path(input).is_err(), "{input:?}");
        }
    }

    #[test]
    fn errors_have_clear_messages_and_positions() {
        let cases = [
            ("", "filter is empty", 0),
            (" \n ", "filter is empty", 0),
            ("userName", "expected a comparison operator after \"userName\"", 8),
            ("userName eq", "expected a value after \"eq\"", 11),
            ("userName xx \"a\"", "operator after \"userName\" but found \"xx\"", 9),
            ("userName eq bare", "found the bare word \"bare\"", 12),
            ("userName eq 'single'", "double quotes, not single quotes", 12),
            ("userName eq \"a\" )", "unexpected \")\" with nothing to close", 16),
            ("((a pr)", "missing \")\" to close the \"(\" at character 1", 7),
            ("emails[type eq \"work\"", "missing \"]\" to close the \"[\" at character 7", 21),
            ("(a pr]", "expected \"and\", \"or\" or \")\" but found \"]\"", 5),
            ("emails[type[value pr]]", "nested \"[ ]\" filters are not allowed", 11),
            ("emails[type pr].value", "expected a comparison operator after \"emails[…].value\"", 21),
            ("emails[type pr].", "expected a sub-attribute name after \"].\"", 16),
            ("emails[type pr].value.x pr", "only one plain sub-attribute may follow", 21),
            ("emails[type pr].value[x pr]", "only one plain sub-attribute may follow", 21),
            ("a eq \"a\" foo", "\"or\" or the end of the filter but found \"foo\"", 9),
            ("x eq \"\\q\"", "invalid escape \"\\q\"", 6),
            ("x eq \"abc", "unterminated string", 5),
            ("x eq \"abc\\", "unterminated string", 9),
            ("x eq \"\\ud800\"", "unpaired UTF-16 surrogate", 6),
            ("x eq \"\\ud800\\u0041\"", "unpaired UTF-16 surrogate", 6),
            ("x eq \"\\udc00\"", "unpaired UTF-16 surrogate", 6),
            ("x eq \"\\u12g4\"", "four hex digits", 6),
            ("x eq \"a\tb\"", "control characters", 7),
            ("not a pr", "expected \"(\" after \"not\"", 4),
            ("a eq 01", "invalid number", 5),
            ("a eq 1.", "invalid number", 5),
            ("a eq -", "invalid number", 5),
            ("a eq 1x", "invalid number", 5),
            ("a eq +", "expected a string, number, true, false or null after \"eq\"", 5),
            ("a pr and", "expected an attribute name, \"(\" or \"not\" but found end of input", 8),
            ("é eq \"x\"", "but found \"é", 0),
            ("a. pr", "expected a sub-attribute name after \".\"", 2),
            (ENT, "attribute name after the schema URN", 58),
            ("urn:foo pr", "\"urn:foo\" is not a schema URN followed by", 0),
            ("urn:x: pr", "expected an attribute name but found \" pr\"", 6),
            ("emails[urn:x:y pr]", "only plain sub-attribute names", 7),
            ("emails[type.x pr]", "only plain sub-attribute names", 7),
        ];
        for (input, needle, position) in cases {
            let e = parse_filter(input).expect_err(input);
            assert!(e.message.contains(needle), "{input:?}: {:?} lacks {needle:?}", e.message);
            assert_eq!(e.position, position, "{input:?}: {e}");
        }
        let e = parse_filter("userName").expect_err("incomplete");
        assert_eq!(e.to_string(), "expected a comparison operator after \"userName\" at character 9");
        // Positions count characters, not bytes.
        assert_eq!(parse_filter("x eq \"é😀\" zz").map_err(|e| e.position), Err(10));
    }

    #[test]
    fn string_escapes_and_injection_looking_values() {
        assert_eq!(p(r#"userName eq "x\" or 1 eq 1""#), cmp(a("userName"), Eq, "x\" or 1 eq 1"));
        let drop = "'; DROP TABLE users; --";
        assert_eq!(p(&format!("userName eq \"{drop}\"")), cmp(a("userName"), Eq, drop));
        assert_eq!(p(r#"x eq "\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00""#), cmp(a("x"), Eq, "\"\\/\u{8}\u{c}\n\r\té😀"));
        assert_eq!(p("x eq \"é😀\""), cmp(a("x"), Eq, "é😀"));
    }

    #[test]
    fn hostile_input_is_bounded() {
        let message = |input: &str| parse_filter(input).expect_err(input).message;
        assert!(message(&"(".repeat(100_000)).contains("too long"));
        assert!(parse_path(&"a".repeat(MAX_INPUT_LEN + 1)).is_err());
        let nest = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(p(&nest(MAX_DEPTH)), pr("a"));
        assert!(message(&nest(MAX_DEPTH + 1)).contains("filter is nested too deeply"));
        assert!(message(&"(".repeat(4000)).contains("nested too deeply"));
        assert!(message(&"not (".repeat(800)).contains("nested too deeply"));
        let deep_bracket = format!("{}x[a pr]{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(message(&deep_bracket).contains("nested too deeply"));
        // Long flat chains are parsed by loops; display and drop still cope.
        p(&vec!["a pr"; 450].join(" and "));
    }

    struct Rng(u64);
    impl Rng {
        /// xorshift64; returns a value below `n`.
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    #[rustfmt::skip]
    const FRAGMENTS: &[&str] = &[
        "(", ")", "[", "]", "\"", "\\", " eq ", " EQ ", " co ", " gt ", " and ", " Or ", " not ", "not (", " pr",
        "userName", "emails", "type", "value", "$ref", ".", ":", "urn:", "0", "-1.5e3", " ", "\t", "\n", "é", "😀",
        "\"x\"", "\"\\u00e9\"", "\\u", "d800", "\\ud83d\\ude00", "true", "null", "'", "].", "x eq \"", "\\\"", "ne 1",
        CORE, ENT, ":manager.value",
    ];
    #[rustfmt::skip]
    const ATOMS: &[&str] = &[
        "userName eq \"a\"", "title pr", "emails[type eq \"work\"]", "not (x pr)", "(a pr or b pr)",
        "meta.created gt 1e3", "$ref ne null", "active eq false", "x co \"\\\"é\\n\"",
    ];

    #[test]
    fn fuzz_never_panics_and_round_trips() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut filters_ok, mut paths_ok) = (0, 0);
        for _ in 0..20_000 {
            let mut input = String::new();
            for _ in 0..1 + rng.below(10) {
                match rng.below(20) {
                    0 => input.push(char::from(rng.below(256) as u8)),
                    1 => input.extend(char::from_u32(rng.below(0x11_0000) as u32)),
                    2..=7 => input.push_str(ATOMS[rng.below(ATOMS.len())]),
                    8..=10 => input.push_str([" and ", " or ", " AND "][rng.below(3)]),
                    _ => input.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]),
                }
            }
            if let Ok(f) = parse_filter(&input) {
                filters_ok += 1;
                assert_eq!(parse_filter(&f.to_string()), Ok(f), "{input:?}");
            }
            if let Ok(pp) = parse_path(&input) {
                paths_ok += 1;
                assert_eq!(parse_path(&pp.to_string()), Ok(pp), "{input:?}");
            }
        }
        assert!(filters_ok > 500 && paths_ok > 500, "few valid inputs: {filters_ok}, {paths_ok}");
    }

    fn random_filter(rng: &mut Rng, depth: usize, in_brackets: bool) -> Filter {
        let names = ["userName", "not", "and", "pr", "x-1", "a_b", "$ref"];
        let mut at = a(names[rng.below(names.len())]);
        if !in_brackets && rng.below(3) == 0 {
            at.urn = Some(ENT.into());
            at.sub = Some("value".into());
        }
        let branch = |rng: &mut Rng| Box::new(random_filter(rng, depth - 1, in_brackets));
        match rng.below(if depth == 0 { 2 } else { 6 }) {
            0 => Filter::Present(at),
            1 => {
                let value = match rng.below(4) {
                    0 => Value::Num("-12.5E+3".into()),
                    1 => Value::Bool(rng.below(2) == 0),
                    2 => Value::Null,
                    _ => Value::Str((0..8).filter_map(|_| char::from_u32(rng.below(0x300) as u32)).collect()),
                };
                Filter::Compare(at, OPS[rng.below(9)].0, value)
            }
            2 => Filter::And(branch(rng), branch(rng)),
            3 => Filter::Or(branch(rng), branch(rng)),
            4 => Filter::Not(branch(rng)),
            _ if in_brackets => Filter::Present(at),
            _ => Filter::ValuePath(a("emails"), Box::new(random_filter(rng, depth - 1, true))),
        }
    }

    #[test]
    fn generated_trees_round_trip_through_text() {
        let mut rng = Rng(42);
        for _ in 0..3_000 {
            let f = random_filter(&mut rng, 5, false);
            let text = f.to_string();
            assert_eq!(parse_filter(&text), Ok(f), "{text}");
        }
    }
}
