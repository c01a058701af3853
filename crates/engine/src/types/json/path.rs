//! JSONPath as RedisJSON 2.x reads it, and its legacy path syntax.
//!
//! A path that starts with `$` (followed by nothing, `.` or `[`) is JSONPath: its replies list
//! every match. Anything else is a legacy path (`.`, `.a.b`, `a[0]`): it is read as JSONPath
//! after prefixing `$` (or `$.`), and its replies are single values (the first match).
//!
//! Supported: `$`, `.key`, `['key']`/`["key"]` (and unions of them), `[n]` with negative
//! indexes and unions `[0,2]`, `*` and `[*]`, slices `[start:end:step]`, recursive descent
//! `..key`, `..*`, `..[…]`, and filters `[?(…)]` with `@`/`$` relative paths, literals
//! (numbers, strings, `true`, `false`, `null`), `==`, `!=`, `<`, `<=`, `>`, `>=`, `&&`, `||`
//! and parentheses. Not supported: regex matches (`=~`), which are refused when compiled.
//!
//! Recursive descent (`..`) visits every node's descendants before the node itself, so its
//! matches come deepest first: on `{"a":2,"nested":{"a":4}}`, `$..a` gives `[4,2]`. This is
//! Upstash's order (RedisJSON gives the parent first); Cairn follows Upstash.
//!
//! A match is a concrete path: the child positions (array index, or the position of an
//! object's key) from the root, which writes use to reach the value again.

use super::Json;

// ---------------------------------------------------------------------------------------------
// The query

#[derive(Clone, Debug, PartialEq)]
pub enum Selector {
    Key(String),
    Keys(Vec<String>),
    Index(i64),
    Indexes(Vec<i64>),
    Wildcard,
    Slice(Option<i64>, Option<i64>, i64),
    Filter(Box<Expr>),
    Descent(Box<Selector>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    Current(Vec<Selector>),
    Root(Vec<Selector>),
    Value(Json),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Test(Term),
    Compare(Term, Op, Term),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// A compiled path and how it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    pub selectors: Vec<Selector>,
    /// Written in the legacy syntax: replies are single values.
    pub legacy: bool,
    /// The JSONPath text (the legacy text after its `$` prefix), for error messages.
    pub text: String,
}

impl Path {
    /// The root (`$` or the legacy `.`).
    pub fn is_root(&self) -> bool {
        self.selectors.is_empty()
    }

    /// Only keys and single indexes: a path that names one place, which JSON.SET can create.
    pub fn is_static(&self) -> bool {
        self.selectors
            .iter()
            .all(|s| matches!(s, Selector::Key(_) | Selector::Index(_)))
    }
}

/// Compiles a path argument (JSONPath or legacy); the error is RedisJSON's text.
pub fn compile(arg: &[u8]) -> Result<Path, String> {
    let text = std::str::from_utf8(arg).map_err(|_| "ERR Couldn't parse as UTF-8 string")?;
    let bytes = text.as_bytes();
    let jsonpath = bytes.first() == Some(&b'$') && matches!(bytes.get(1), None | Some(b'.' | b'['));
    let fixed = if jsonpath {
        text.to_owned()
    } else if text == "." {
        "$".to_owned()
    } else if text.starts_with('.') {
        format!("${text}")
    } else {
        format!("$.{text}")
    };
    let mut p = PathParser {
        text: fixed.as_bytes(),
        pos: 1,
    };
    let selectors = p.selectors(false).map_err(|at| {
        format!("Error occurred on position {at}, expected one of the following: '..', '.', '[', <string>, '*'")
    })?;
    Ok(Path {
        selectors,
        legacy: !jsonpath,
        text: fixed,
    })
}

// ---------------------------------------------------------------------------------------------
// Parsing (errors are the byte position where the path stopped making sense)

struct PathParser<'a> {
    text: &'a [u8],
    pos: usize,
}

fn is_literal_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_`~+#%$^/:".contains(&b) || b >= 0x80
}

impl PathParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn eat(&mut self, s: &str) -> bool {
        self.skip_space();
        if self.text[self.pos..].starts_with(s.as_bytes()) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    /// Selectors up to the end (or, inside a filter, up to what cannot continue a path).
    fn selectors(&mut self, in_filter: bool) -> Result<Vec<Selector>, usize> {
        let mut out = Vec::new();
        // `$a`/`@a`: a key right after the root (RedisJSON's `first_element`).
        if !in_filter && self.peek().is_some_and(is_literal_byte) {
            out.push(Selector::Key(self.literal()?));
        }
        loop {
            self.skip_space();
            match self.peek() {
                None => return Ok(out),
                Some(b'.') if self.text.get(self.pos + 1) == Some(&b'.') => {
                    self.pos += 2;
                    let inner = match self.peek() {
                        Some(b'*') => {
                            self.pos += 1;
                            Selector::Wildcard
                        }
                        Some(b'[') => {
                            self.pos += 1;
                            self.bracket()?
                        }
                        _ => Selector::Key(self.literal()?),
                    };
                    out.push(Selector::Descent(Box::new(inner)));
                }
                Some(b'.') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'*') => {
                            self.pos += 1;
                            out.push(Selector::Wildcard);
                        }
                        Some(b'[') => {
                            self.pos += 1;
                            out.push(self.bracket()?);
                        }
                        _ => out.push(Selector::Key(self.literal()?)),
                    }
                }
                Some(b'[') => {
                    self.pos += 1;
                    out.push(self.bracket()?);
                }
                Some(_) if in_filter => return Ok(out),
                Some(_) => return Err(self.pos),
            }
        }
    }

    fn literal(&mut self) -> Result<String, usize> {
        let start = self.pos;
        while self.peek().is_some_and(is_literal_byte) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.pos);
        }
        Ok(String::from_utf8_lossy(&self.text[start..self.pos]).into_owned())
    }

    fn quoted(&mut self) -> Result<String, usize> {
        let quote = self.peek().ok_or(self.pos)?;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.pos),
                Some(b) if b == quote => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    match self.text.get(self.pos + 1) {
                        Some(&e) if e == quote || e == b'\\' => out.push(e),
                        _ => return Err(self.pos),
                    }
                    self.pos += 2;
                }
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| self.pos)
    }

    fn number(&mut self) -> Option<i64> {
        self.skip_space();
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.text[start..self.pos]).ok()?;
        match text.parse() {
            Ok(n) => Some(n),
            Err(_) => {
                self.pos = start;
                None
            }
        }
    }

    /// The inside of `[…]`, after the `[`, through the `]`.
    fn bracket(&mut self) -> Result<Selector, usize> {
        self.skip_space();
        let selector = match self.peek() {
            Some(b'*') => {
                self.pos += 1;
                Selector::Wildcard
            }
            Some(b'\'' | b'"') => {
                let mut keys = vec![self.quoted()?];
                while self.eat(",") {
                    self.skip_space();
                    keys.push(self.quoted()?);
                }
                if keys.len() == 1 {
                    Selector::Key(keys.pop().expect("one key"))
                } else {
                    Selector::Keys(keys)
                }
            }
            Some(b'?') => {
                self.pos += 1;
                if !self.eat("(") {
                    return Err(self.pos);
                }
                let expr = self.or_expr()?;
                if !self.eat(")") {
                    return Err(self.pos);
                }
                Selector::Filter(Box::new(expr))
            }
            _ => self.numbers()?,
        };
        if !self.eat("]") {
            return Err(self.pos);
        }
        Ok(selector)
    }

    /// `n`, `n,m,…` or a slice `start:end:step` (each part optional, step positive).
    fn numbers(&mut self) -> Result<Selector, usize> {
        let first = self.number();
        if self.eat(":") {
            let end = self.number();
            let mut step = 1;
            if self.eat(":")
                && let Some(s) = self.number()
            {
                if s <= 0 {
                    return Err(self.pos);
                }
                step = s;
            }
            return Ok(Selector::Slice(first, end, step));
        }
        let first = first.ok_or(self.pos)?;
        let mut all = vec![first];
        while self.eat(",") {
            all.push(self.number().ok_or(self.pos)?);
        }
        Ok(if all.len() == 1 {
            Selector::Index(first)
        } else {
            Selector::Indexes(all)
        })
    }

    fn or_expr(&mut self) -> Result<Expr, usize> {
        let mut left = self.and_expr()?;
        while self.eat("||") {
            left = Expr::Or(Box::new(left), Box::new(self.and_expr()?));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, usize> {
        let mut left = self.single()?;
        while self.eat("&&") {
            left = Expr::And(Box::new(left), Box::new(self.single()?));
        }
        Ok(left)
    }

    fn single(&mut self) -> Result<Expr, usize> {
        if self.eat("(") {
            let inner = self.or_expr()?;
            if !self.eat(")") {
                return Err(self.pos);
            }
            return Ok(inner);
        }
        let left = self.term()?;
        let ops = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        if self.eat("=~") {
            // Regex matches are not supported.
            return Err(self.pos - 2);
        }
        for (text, op) in ops {
            if self.eat(text) {
                return Ok(Expr::Compare(left, op, self.term()?));
            }
        }
        Ok(Expr::Test(left))
    }

    fn term(&mut self) -> Result<Term, usize> {
        self.skip_space();
        match self.peek() {
            Some(c @ (b'@' | b'$')) => {
                self.pos += 1;
                let mut selectors = Vec::new();
                if self.peek().is_some_and(is_literal_byte) {
                    selectors.push(Selector::Key(self.literal()?));
                }
                selectors.extend(self.selectors(true)?);
                Ok(if c == b'@' {
                    Term::Current(selectors)
                } else {
                    Term::Root(selectors)
                })
            }
            Some(b'\'' | b'"') => Ok(Term::Value(Json::Str(self.quoted()?))),
            Some(b't') if self.eat("true") => Ok(Term::Value(Json::Bool(true))),
            Some(b'f') if self.eat("false") => Ok(Term::Value(Json::Bool(false))),
            Some(b'n') if self.eat("null") => Ok(Term::Value(Json::Null)),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.pos += 1;
                while self.peek().is_some_and(|b| b.is_ascii_digit() || b == b'.') {
                    self.pos += 1;
                }
                let text = &self.text[start..self.pos];
                match super::parse(text) {
                    Ok(v @ (Json::Int(_) | Json::Float(_))) => Ok(Term::Value(v)),
                    _ => Err(start),
                }
            }
            _ => Err(self.pos),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// A match: its concrete path (child positions from the root) and the value.
pub type Match<'a> = (Vec<usize>, &'a Json);

/// Every match of `path` in `root`, in order.
pub fn select<'a>(root: &'a Json, selectors: &[Selector]) -> Vec<Match<'a>> {
    let mut current = vec![(Vec::new(), root)];
    for selector in selectors {
        let mut next = Vec::new();
        for (path, node) in &current {
            apply(selector, path, node, root, &mut next);
        }
        current = next;
    }
    current
}

/// The values alone.
pub fn values<'a>(root: &'a Json, path: &Path) -> Vec<&'a Json> {
    select(root, &path.selectors)
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

fn push<'a>(out: &mut Vec<Match<'a>>, path: &[usize], index: usize, value: &'a Json) {
    let mut p = Vec::with_capacity(path.len() + 1);
    p.extend_from_slice(path);
    p.push(index);
    out.push((p, value));
}

/// An index counted from the end when negative; `None` when outside the array.
fn position(index: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if index < 0 { len + index } else { index };
    (0..len).contains(&i).then_some(i as usize)
}

fn apply<'a>(
    selector: &Selector,
    path: &[usize],
    node: &'a Json,
    root: &'a Json,
    out: &mut Vec<Match<'a>>,
) {
    match (selector, node) {
        (Selector::Key(key), Json::Object(pairs)) => {
            if let Some(i) = pairs.iter().position(|(k, _)| k == key) {
                push(out, path, i, &pairs[i].1);
            }
        }
        (Selector::Keys(keys), Json::Object(pairs)) => {
            for key in keys {
                if let Some(i) = pairs.iter().position(|(k, _)| k == key) {
                    push(out, path, i, &pairs[i].1);
                }
            }
        }
        (Selector::Index(index), Json::Array(items)) => {
            if let Some(i) = position(*index, items.len()) {
                push(out, path, i, &items[i]);
            }
        }
        (Selector::Indexes(indexes), Json::Array(items)) => {
            for index in indexes {
                if let Some(i) = position(*index, items.len()) {
                    push(out, path, i, &items[i]);
                }
            }
        }
        (Selector::Wildcard, Json::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                push(out, path, i, item);
            }
        }
        (Selector::Wildcard, Json::Object(pairs)) => {
            for (i, (_, item)) in pairs.iter().enumerate() {
                push(out, path, i, item);
            }
        }
        (Selector::Slice(start, end, step), Json::Array(items)) => {
            let len = items.len() as i64;
            let clamp = |v: i64| if v < 0 { (len + v).max(0) } else { v.min(len) };
            let start = start.map_or(0, clamp);
            let end = end.map_or(len, clamp);
            let mut i = start;
            while i < end {
                push(out, path, i as usize, &items[i as usize]);
                i += step;
            }
        }
        (Selector::Filter(expr), Json::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                if test(expr, item, root) {
                    push(out, path, i, item);
                }
            }
        }
        (Selector::Filter(expr), Json::Object(pairs)) => {
            for (i, (_, item)) in pairs.iter().enumerate() {
                if test(expr, item, root) {
                    push(out, path, i, item);
                }
            }
        }
        (Selector::Descent(inner), _) => {
            // Deepest first (Upstash's order): a node's descendants, then the node.
            let mut here = path.to_vec();
            descend(inner, &mut here, node, root, out);
        }
        _ => {}
    }
}

fn descend<'a>(
    inner: &Selector,
    path: &mut Vec<usize>,
    node: &'a Json,
    root: &'a Json,
    out: &mut Vec<Match<'a>>,
) {
    let children: Box<dyn Iterator<Item = &'a Json>> = match node {
        Json::Array(items) => Box::new(items.iter()),
        Json::Object(pairs) => Box::new(pairs.iter().map(|(_, v)| v)),
        _ => Box::new(std::iter::empty()),
    };
    for (i, child) in children.enumerate() {
        path.push(i);
        descend(inner, path, child, root, out);
        path.pop();
    }
    apply(inner, path, node, root, out);
}

fn term_value<'a>(term: &'a Term, current: &'a Json, root: &'a Json) -> Option<&'a Json> {
    match term {
        Term::Value(v) => Some(v),
        Term::Current(selectors) => select(current, selectors).first().map(|(_, v)| *v),
        Term::Root(selectors) => select(root, selectors).first().map(|(_, v)| *v),
    }
}

fn compare(a: &Json, op: Op, b: &Json) -> bool {
    use std::cmp::Ordering;
    let order = match (a, b) {
        (Json::Int(x), Json::Int(y)) => Some(x.cmp(y)),
        (Json::Int(_) | Json::Float(_), Json::Int(_) | Json::Float(_)) => {
            let f = |v: &Json| match v {
                Json::Int(i) => *i as f64,
                Json::Float(f) => *f,
                _ => 0.0,
            };
            f(a).partial_cmp(&f(b))
        }
        (Json::Str(x), Json::Str(y)) => Some(x.cmp(y)),
        (Json::Bool(x), Json::Bool(y)) if matches!(op, Op::Eq | Op::Ne) => Some(x.cmp(y)),
        (Json::Null, Json::Null) if matches!(op, Op::Eq | Op::Ne) => Some(Ordering::Equal),
        (Json::Array(_), Json::Array(_)) | (Json::Object(_), Json::Object(_))
            if matches!(op, Op::Eq | Op::Ne) =>
        {
            Some(if a.same(b) {
                Ordering::Equal
            } else {
                Ordering::Less
            })
        }
        _ => None,
    };
    let Some(order) = order else {
        return op == Op::Ne;
    };
    match op {
        Op::Eq => order == Ordering::Equal,
        Op::Ne => order != Ordering::Equal,
        Op::Lt => order == Ordering::Less,
        Op::Le => order != Ordering::Greater,
        Op::Gt => order == Ordering::Greater,
        Op::Ge => order != Ordering::Less,
    }
}

fn test(expr: &Expr, current: &Json, root: &Json) -> bool {
    match expr {
        Expr::Test(Term::Value(v)) => !matches!(v, Json::Null | Json::Bool(false)),
        Expr::Test(term) => term_value(term, current, root).is_some(),
        Expr::Compare(a, op, b) => {
            match (term_value(a, current, root), term_value(b, current, root)) {
                (Some(x), Some(y)) => compare(x, *op, y),
                _ => false,
            }
        }
        Expr::And(a, b) => test(a, current, root) && test(b, current, root),
        Expr::Or(a, b) => test(a, current, root) || test(b, current, root),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse, to_text};
    use super::*;

    fn get(doc: &str, path: &str) -> String {
        let doc = parse(doc.as_bytes()).unwrap();
        let path = compile(path.as_bytes()).unwrap();
        let found: Vec<String> = values(&doc, &path)
            .into_iter()
            .map(|v| String::from_utf8(to_text(v)).unwrap())
            .collect();
        format!("[{}]", found.join(","))
    }

    #[test]
    fn selects_like_redisjson() {
        let doc = r#"{"a":2,"b":3,"nested":{"a":4,"b":null},"arr":[1,2,3,4,5]}"#;
        assert_eq!(get(doc, "$..a"), "[4,2]");
        assert_eq!(get(doc, "$..b"), "[null,3]");
        assert_eq!(get(doc, "$.arr[-1]"), "[5]");
        assert_eq!(get(doc, "$.arr[0,2]"), "[1,3]");
        assert_eq!(get(doc, "$.arr[1:4:2]"), "[2,4]");
        assert_eq!(get(doc, "$.arr[-2:]"), "[4,5]");
        assert_eq!(get(doc, "$.arr[:2]"), "[1,2]");
        assert_eq!(get(doc, "$['a','b']"), "[2,3]");
        assert_eq!(get(doc, "$.nested.*"), "[4,null]");
        assert_eq!(get(doc, "$.arr[?(@ > 2 && @ < 5)]"), "[3,4]");
        assert_eq!(get(doc, "$.arr[?(@ == 1 || @ == 5)]"), "[1,5]");
        assert_eq!(get(doc, "$[?(@.a == 4)]"), r#"[{"a":4,"b":null}]"#);
        assert_eq!(get(doc, "$[?(@.a)]"), r#"[{"a":4,"b":null}]"#);
        assert_eq!(get(doc, ".nested.a"), "[4]");
        assert_eq!(get(doc, "arr[1]"), "[2]");
        assert_eq!(get(doc, "."), format!("[{doc}]"));
    }

    #[test]
    fn tells_legacy_from_jsonpath() {
        assert!(compile(b".a").unwrap().legacy);
        assert!(compile(b"a").unwrap().legacy);
        assert!(!compile(b"$.a").unwrap().legacy);
        assert!(!compile(b"$").unwrap().legacy);
        assert!(compile(b"$a").unwrap().legacy);
        assert!(compile(b"$.a[").is_err());
        assert!(compile(b"$[?(@.a =~ 'x')]").is_err());
        assert!(compile(b"$.a.b").unwrap().is_static());
        assert!(!compile(b"$.a[*]").unwrap().is_static());
    }
}
