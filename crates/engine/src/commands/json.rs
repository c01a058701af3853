//! The JSON family (RedisJSON 2.x's JSON.* commands, as Upstash serves them): documents of
//! the `ReJSON-RL` type (`types/json.rs`), addressed by JSONPath or legacy paths
//! (`types/json/path.rs`).
//!
//! Reply shapes follow RedisJSON 2.x under RESP2 (Upstash's REST API speaks RESP2): a
//! JSONPath (`$…`) answers one entry per match (an array, or for JSON.GET and
//! JSON.NUMINCRBY a JSON array as text); a legacy path (`.a`, `a[0]`) answers a single value
//! and errors when nothing matches. Error texts are RedisJSON's, including the ones that
//! carry no `ERR` prefix (JSON parse errors, `Err wrong static path`).
//!
//! Two choices differ from RedisJSON: recursive descent lists matches deepest first (as
//! Upstash does, see `types/json/path.rs`), and JSON.GET with several paths lists them in
//! argument order (RedisJSON's order comes from a hash map). Values, paths and numbers are
//! checked before the log, so a malformed JSON argument on a key of another type answers the
//! parse error rather than WRONGTYPE. RESP3's FORMAT option is not supported.
//!
//! Keyspace notifications: the module class (`d`), with RedisJSON's event names
//! (`json.set`, `json.del`, `json.arrappend`, …), only when something changed.
//!
//! Sections: errors and paths, typed access, reads, writes, the table.

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::{WRONGTYPE, bulk, cmd, eq_ignore_case, parse_i64, syntax_error};
use crate::engine::{ReadCtx, WriteCtx};
use crate::notify;
use crate::table::{Begin, Find, Group, Handler, KeySpec, Keys, Spec, arity_error, flag::*, key};
use crate::types::json::path::{self, Path};
use crate::types::json::{self as doc, Format, Json};
use crate::value::Value;

// ---------------------------------------------------------------------------------------------
// Errors and arguments

const NO_KEY: &str = "ERR could not perform this operation on a key that doesn't exist";
const AT_ROOT: &str = "ERR new objects must be created at the root";
const NOT_STATIC: &str = "Err wrong static path";
const INDEX_RANGE: &str = "ERR array index out of range";
const INDEX_BOUNDS: &str = "ERR index out of bounds";
const BAD_NUMBER: &str = "bad input number";
const NOT_A_NUMBER: &str = "result is not a number";
const NOT_INTEGER: &str = "Couldn't parse as integer";
const FORMAT_RESP2: &str = "ERR FORMAT argument is not supported on RESP2";
const TOO_DEEP: &str = "ERR the document would be nested deeper than 1024 levels";

/// Refuses a value of `depth` levels put `at` levels down (see `DOC_DEPTH_MAX`).
fn depth_check(at: usize, depth: usize) -> Result<(), Reply> {
    if at + depth > doc::DOC_DEPTH_MAX {
        Err(Reply::error_static(TOO_DEEP))
    } else {
        Ok(())
    }
}

fn no_path(path: &str) -> Reply {
    Reply::error(format!("ERR Path '{path}' does not exist"))
}

fn no_path_or(path: &str, or: &str) -> Reply {
    Reply::error(format!("ERR Path '{path}' does not exist or {or}"))
}

fn expected(what: &str, found: &str) -> Reply {
    Reply::error(format!(
        "WRONGTYPE wrong type of path value - expected {what} but found {found}"
    ))
}

fn compile(arg: &[u8]) -> Result<Path, Reply> {
    path::compile(arg).map_err(Reply::error)
}

/// A JSON argument; the error is serde_json's text, as RedisJSON answers it.
fn value_arg(arg: &[u8]) -> Result<Json, Reply> {
    doc::parse(arg).map_err(|e| Reply::error(e.0))
}

fn i64_arg(arg: &[u8]) -> Result<i64, Reply> {
    parse_i64(arg).ok_or_else(|| Reply::error_static(NOT_INTEGER))
}

/// The root path of commands whose path is optional (legacy `.`).
fn path_or_root(argv: &[Bytes], at: usize) -> Result<Path, Reply> {
    compile(argv.get(at).map_or(&b"."[..], |a| &a[..]))
}

fn text_reply(out: Vec<u8>) -> Reply {
    Reply::Bulk(Bytes::from(out))
}

fn to_reply(value: &Json) -> Reply {
    text_reply(doc::to_text(value))
}

/// A JSON array of values, as text.
fn list_reply<'a>(values: impl ExactSizeIterator<Item = &'a Json>) -> Reply {
    let mut out = Vec::new();
    doc::write_list(&mut out, values, &Format::default(), 0);
    text_reply(out)
}

fn opt_int(v: Option<i64>) -> Reply {
    v.map_or(Reply::Nil, Reply::Int)
}

// ---------------------------------------------------------------------------------------------
// Typed access

fn read_doc<'a>(ctx: &ReadCtx<'a>, key: &[u8]) -> Result<Option<&'a Json>, Reply> {
    let Some(slot) = ctx.engine.db(ctx.db).lookup(key, ctx.now_ms) else {
        return Ok(None);
    };
    match &slot.value {
        Value::Json(j) => Ok(Some(j)),
        _ => Err(Reply::error_static(WRONGTYPE)),
    }
}

fn write_doc<'a>(ctx: &'a mut WriteCtx, key: &[u8]) -> Result<Option<&'a mut Json>, Reply> {
    let now_ms = ctx.now_ms;
    let Some(slot) = ctx.db().lookup_mut(key, now_ms) else {
        return Ok(None);
    };
    match &mut slot.value {
        Value::Json(j) => Ok(Some(j)),
        _ => Err(Reply::error_static(WRONGTYPE)),
    }
}

fn existing_doc<'a>(ctx: &'a mut WriteCtx, key: &[u8]) -> Result<&'a mut Json, Reply> {
    write_doc(ctx, key)?.ok_or_else(|| Reply::error_static(NO_KEY))
}

/// The concrete paths of every match.
fn matched(root: &Json, path: &Path) -> Vec<(Vec<usize>, bool)> {
    path::select(root, &path.selectors)
        .into_iter()
        .map(|(p, _)| (p, true))
        .collect()
}

/// Matches of `path`, each with whether `keep` accepts its value.
fn matched_if(root: &Json, path: &Path, keep: impl Fn(&Json) -> bool) -> Vec<(Vec<usize>, bool)> {
    path::select(root, &path.selectors)
        .into_iter()
        .map(|(p, v)| {
            let ok = keep(v);
            (p, ok)
        })
        .collect()
}

/// The order in which edits keep every other path valid: deeper paths before their
/// ancestors, higher positions before lower ones in the same container.
fn mutation_order(paths: &[(Vec<usize>, bool)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..paths.len()).filter(|&i| paths[i].1).collect();
    order.sort_by(|&a, &b| paths[b].0.cmp(&paths[a].0));
    order
}

/// Paths to replace or delete: mutation order, without paths inside another one of the set.
fn outermost(mut paths: Vec<Vec<usize>>) -> Vec<Vec<usize>> {
    paths.sort_by(|a, b| b.cmp(a));
    paths.dedup();
    let all: std::collections::BTreeSet<Vec<usize>> = paths.iter().cloned().collect();
    paths.retain(|p| (0..p.len()).all(|k| !all.contains(&p[..k])));
    paths
}

/// What a per-match edit gives: a result per match (in match order), and which match was
/// edited last.
struct Edited<R> {
    results: Vec<Option<R>>,
    last: Option<usize>,
}

impl<R> Edited<R> {
    /// The legacy reply: the result of the match RedisJSON edits last — the last in match
    /// order for commands that edit in match order, the last in mutation order for the ones
    /// that sort their paths (ARRINSERT, ARRPOP, ARRTRIM) — or its "does not exist or …"
    /// error when no match was accepted.
    fn legacy(mut self, sorted: bool, path: &str, or: &str) -> Result<R, Reply> {
        let pick = if sorted {
            self.last
        } else {
            self.results.iter().rposition(Option::is_some)
        };
        pick.and_then(|i| self.results[i].take())
            .ok_or_else(|| no_path_or(path, or))
    }
}

/// Runs `edit` on each accepted match in mutation order (every edit leaves the other paths
/// valid).
fn edit_each<R>(
    root: &mut Json,
    paths: &[(Vec<usize>, bool)],
    mut edit: impl FnMut(&mut Json) -> Result<R, Reply>,
) -> Result<Edited<R>, Reply> {
    edit_each_adding(root, paths, 0, &mut edit)
}

/// `edit_each` for edits that put values `added_depth` levels deep under each match: all of
/// them are refused, before any change, when one would nest too deep.
fn edit_each_adding<R>(
    root: &mut Json,
    paths: &[(Vec<usize>, bool)],
    added_depth: usize,
    mut edit: impl FnMut(&mut Json) -> Result<R, Reply>,
) -> Result<Edited<R>, Reply> {
    if added_depth > 0 {
        for (p, _) in paths.iter().filter(|(_, ok)| *ok) {
            depth_check(p.len(), added_depth)?;
        }
    }
    let mut results: Vec<Option<R>> = (0..paths.len()).map(|_| None).collect();
    let mut last = None;
    for i in mutation_order(paths) {
        if let Some(target) = root.at_mut(&paths[i].0) {
            results[i] = Some(edit(target)?);
            last = Some(i);
        }
    }
    Ok(Edited { results, last })
}

/// Removes the value at a concrete path (not the root).
fn remove_at(root: &mut Json, path: &[usize]) -> bool {
    let Some((&last, parent)) = path.split_last() else {
        return false;
    };
    match root.at_mut(parent) {
        Some(Json::Array(items)) if last < items.len() => {
            items.remove(last);
            true
        }
        Some(Json::Object(pairs)) if last < pairs.len() => {
            pairs.remove(last);
            true
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Reads

/// JSON.GET key [INDENT s] [NEWLINE s] [SPACE s] [NOESCAPE] [path ...]
fn json_get(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let mut format = Format::default();
    let mut paths: Vec<&[u8]> = Vec::new();
    let mut i = 2;
    while i < argv.len() {
        let arg = &argv[i][..];
        let option = ["indent", "newline", "space"]
            .into_iter()
            .find(|o| eq_ignore_case(arg, o));
        if let Some(option) = option {
            let Some(value) = argv.get(i + 1) else {
                return arity_error("json.get");
            };
            match option {
                "indent" => format.indent = value,
                "newline" => format.newline = value,
                _ => format.space = value,
            }
            i += 2;
            continue;
        }
        if eq_ignore_case(arg, "format") {
            return Reply::error_static(FORMAT_RESP2);
        }
        if !eq_ignore_case(arg, "noescape") {
            paths.push(arg);
        }
        i += 1;
    }
    if paths.is_empty() {
        paths.push(b".");
    }
    let compiled: Result<Vec<Path>, Reply> = paths.iter().map(|p| compile(p)).collect();
    let compiled = match compiled {
        Ok(c) => c,
        Err(e) => return e,
    };
    let root = match read_doc(ctx, &argv[1]) {
        Ok(Some(root)) => root,
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    let mut out = Vec::new();
    if compiled.len() == 1 {
        let path = &compiled[0];
        let found = path::values(root, path);
        if path.legacy {
            let Some(first) = found.first() else {
                return no_path(&path.text);
            };
            doc::write(&mut out, first, &format, 0);
        } else {
            doc::write_list(&mut out, found.into_iter(), &format, 0);
        }
        return text_reply(out);
    }
    // Several paths: an object keyed by path, in argument order (repeats once).
    let legacy = compiled.iter().all(|p| p.legacy);
    let mut seen: Vec<&[u8]> = Vec::new();
    out.push(b'{');
    for (original, path) in paths.iter().zip(&compiled) {
        if seen.contains(original) {
            continue;
        }
        let found = path::values(root, path);
        if legacy && found.is_empty() {
            return no_path(&String::from_utf8_lossy(original));
        }
        if !seen.is_empty() {
            out.push(b',');
        }
        seen.push(original);
        out.extend_from_slice(format.newline);
        out.extend_from_slice(format.indent);
        doc::write_key(&mut out, &String::from_utf8_lossy(original));
        out.push(b':');
        out.extend_from_slice(format.space);
        if legacy {
            doc::write(&mut out, found[0], &format, 1);
        } else {
            doc::write_list(&mut out, found.into_iter(), &format, 1);
        }
    }
    if !seen.is_empty() {
        out.extend_from_slice(format.newline);
    }
    out.push(b'}');
    text_reply(out)
}

/// JSON.MGET key [key ...] path: per key, the text JSON.GET would give, or nil.
fn json_mget(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let path = match compile(&argv[argv.len() - 1]) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let replies = argv[1..argv.len() - 1]
        .iter()
        .map(|key| match read_doc(ctx, key) {
            Ok(Some(root)) => {
                let found = path::values(root, &path);
                if path.legacy {
                    found.first().map_or(Reply::Nil, |v| to_reply(v))
                } else {
                    list_reply(found.into_iter())
                }
            }
            _ => Reply::Nil,
        })
        .collect();
    Reply::Array(replies)
}

/// A read of one path per key: the document and the compiled path (`None`: no key).
/// A read of a key that does not exist: nil for a legacy path, else `error`.
fn missing_key(path: &Path, error: impl FnOnce() -> Reply) -> Reply {
    if path.legacy { Reply::Nil } else { error() }
}

fn read_path<'a>(ctx: &ReadCtx<'a>, argv: &[Bytes]) -> Result<(Option<&'a Json>, Path), Reply> {
    let path = path_or_root(argv, 2)?;
    Ok((read_doc(ctx, &argv[1])?, path))
}

fn json_type(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let (root, path) = match read_path(ctx, argv) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let Some(root) = root else {
        return Reply::Nil;
    };
    let found = path::values(root, &path);
    if path.legacy {
        return found
            .first()
            .map_or(Reply::Nil, |v| bulk(v.type_name().as_bytes()));
    }
    Reply::Array(
        found
            .iter()
            .map(|v| bulk(v.type_name().as_bytes()))
            .collect(),
    )
}

fn json_strlen(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let (root, path) = match read_path(ctx, argv) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let Some(root) = root else {
        return missing_key(&path, || Reply::error_static(NO_KEY));
    };
    let found = path::values(root, &path);
    let len = |v: &Json| match v {
        Json::Str(s) => Some(s.len() as i64),
        _ => None,
    };
    if path.legacy {
        return match found.first() {
            None => no_path(&path.text),
            Some(Json::Str(s)) => Reply::Int(s.len() as i64),
            Some(other) => expected("string", other.type_name()),
        };
    }
    Reply::Array(found.into_iter().map(|v| opt_int(len(v))).collect())
}

fn json_arrlen(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let (root, path) = match read_path(ctx, argv) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let original = String::from_utf8_lossy(argv.get(2).map_or(&b"."[..], |a| &a[..]));
    let Some(root) = root else {
        return missing_key(&path, || Reply::error_static(NO_KEY));
    };
    let found = path::values(root, &path);
    if path.legacy {
        return match found.first() {
            None => no_path(&original),
            Some(Json::Array(items)) => Reply::Int(items.len() as i64),
            Some(_) => no_path_or(&original, "not an array"),
        };
    }
    Reply::Array(
        found
            .into_iter()
            .map(|v| match v {
                Json::Array(items) => Reply::Int(items.len() as i64),
                _ => Reply::Nil,
            })
            .collect(),
    )
}

fn json_objkeys(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let (root, path) = match read_path(ctx, argv) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let keys = |v: &Json| match v {
        Json::Object(pairs) => Some(Reply::Array(
            pairs.iter().map(|(k, _)| bulk(k.as_bytes())).collect(),
        )),
        _ => None,
    };
    let Some(root) = root else {
        return missing_key(&path, || Reply::error_static(NO_KEY));
    };
    let found = path::values(root, &path);
    if path.legacy {
        return match found.first() {
            None => Reply::Nil,
            Some(v) => keys(v).unwrap_or_else(|| no_path_or(&path.text, "not an object")),
        };
    }
    Reply::Array(
        found
            .into_iter()
            .map(|v| keys(v).unwrap_or(Reply::Nil))
            .collect(),
    )
}

fn json_objlen(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let (root, path) = match read_path(ctx, argv) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let Some(root) = root else {
        return missing_key(&path, || no_path_or(&path.text, "not an object"));
    };
    let found = path::values(root, &path);
    if path.legacy {
        return match found.first() {
            None => Reply::Nil,
            Some(Json::Object(pairs)) => Reply::Int(pairs.len() as i64),
            Some(other) => expected("object", other.type_name()),
        };
    }
    Reply::Array(
        found
            .into_iter()
            .map(|v| match v {
                Json::Object(pairs) => Reply::Int(pairs.len() as i64),
                _ => Reply::Nil,
            })
            .collect(),
    )
}

/// JSON.ARRINDEX key path value [start [stop]]
fn json_arrindex(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    if argv.len() > 6 {
        return arity_error("json.arrindex");
    }
    let parsed = (|| {
        let path = compile(&argv[2])?;
        let value = value_arg(&argv[3])?;
        let start = argv.get(4).map_or(Ok(0), |a| i64_arg(a))?;
        let stop = argv.get(5).map_or(Ok(0), |a| i64_arg(a))?;
        Ok::<_, Reply>((path, value, start, stop))
    })();
    let (path, value, start, stop) = match parsed {
        Ok(p) => p,
        Err(e) => return e,
    };
    let root = match read_doc(ctx, &argv[1]) {
        Ok(Some(root)) => root,
        Ok(None) => return no_path(&String::from_utf8_lossy(&argv[2])),
        Err(e) => return e,
    };
    let index_of = |v: &Json| -> Option<i64> {
        let Json::Array(items) = v else {
            return None;
        };
        let len = items.len() as i64;
        if len == 0 {
            return Some(-1);
        }
        let (start, stop) = normalize_range(start, stop, len);
        if stop < start {
            return Some(-1);
        }
        Some(
            (start..stop)
                .find(|&i| items[i as usize].same(&value))
                .unwrap_or(-1),
        )
    };
    let found = path::values(root, &path);
    if path.legacy {
        return match found.first() {
            None => no_path(&path.text),
            Some(v) => index_of(v).map_or_else(|| expected("array", v.type_name()), Reply::Int),
        };
    }
    Reply::Array(found.into_iter().map(|v| opt_int(index_of(v))).collect())
}

/// ARRINDEX's range: negative positions from the end, clamped; stop 0 (or past the end)
/// means the end.
fn normalize_range(start: i64, stop: i64, len: i64) -> (i64, i64) {
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start.min(len - 1)
    };
    let stop = if stop == 0 || stop > len {
        len
    } else if stop < 0 {
        (len + stop).max(0)
    } else {
        stop
    };
    (start, stop)
}

/// JSON.RESP key [path]: the value as RESP (arrays start with `[`, objects with `{`).
fn json_resp(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let (root, path) = match read_path(ctx, argv) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let Some(root) = root else {
        return Reply::Nil;
    };
    let found = path::values(root, &path);
    if path.legacy {
        return found
            .first()
            .map_or_else(|| no_path(&path.text), |v| resp(v));
    }
    Reply::Array(found.into_iter().map(resp).collect())
}

fn resp(value: &Json) -> Reply {
    match value {
        Json::Null => Reply::Nil,
        Json::Bool(true) => Reply::simple("true"),
        Json::Bool(false) => Reply::simple("false"),
        Json::Int(i) => Reply::Int(*i),
        Json::Float(f) => Reply::Double(*f),
        Json::Str(s) => bulk(s.as_bytes()),
        Json::Array(items) => {
            let mut out = vec![Reply::simple("[")];
            out.extend(items.iter().map(resp));
            Reply::Array(out)
        }
        Json::Object(pairs) => {
            let mut out = vec![Reply::simple("{")];
            for (k, v) in pairs {
                out.push(bulk(k.as_bytes()));
                out.push(resp(v));
            }
            Reply::Array(out)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writes: setting, merging, deleting

fn notify_json(ctx: &mut WriteCtx, event: &'static str, key: &[u8]) {
    ctx.notify(notify::MODULE, event, key);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetMode {
    Always,
    Nx,
    Xx,
}

fn parse_set(argv: &[Bytes]) -> Result<(Path, Json, SetMode), Reply> {
    let mut mode = SetMode::Always;
    let mut i = 4;
    while i < argv.len() {
        let arg = &argv[i][..];
        if eq_ignore_case(arg, "nx") && mode == SetMode::Always {
            mode = SetMode::Nx;
        } else if eq_ignore_case(arg, "xx") && mode == SetMode::Always {
            mode = SetMode::Xx;
        } else if eq_ignore_case(arg, "format") && i + 1 < argv.len() {
            if !eq_ignore_case(&argv[i + 1], "json") && !eq_ignore_case(&argv[i + 1], "string") {
                return Err(Reply::error_static("ERR wrong format"));
            }
            i += 1;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    Ok((compile(&argv[2])?, value_arg(&argv[3])?, mode))
}

fn json_set_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_set(argv).map(|_| ())
}

/// The objects (by concrete path) that get a new key, and the key.
type Places = (Vec<Vec<usize>>, String);

/// Where JSON.SET (or MERGE) adds a value that is not there yet: the objects that get
/// `key`, or nothing (with RedisJSON's errors for paths that cannot name a new place).
fn add_places(root: &Json, path: &Path) -> Result<Option<Places>, Reply> {
    if !path.is_static() {
        return Err(Reply::error_static(NOT_STATIC));
    }
    match path.selectors.last() {
        Some(path::Selector::Key(key)) => {
            let parents = path::select(root, &path.selectors[..path.selectors.len() - 1]);
            let places = parents
                .into_iter()
                .filter(|(_, v)| matches!(v, Json::Object(_)) && v.get(key).is_none())
                .map(|(p, _)| p)
                .collect();
            Ok(Some((places, key.clone())))
        }
        Some(_) => {
            if path::select(root, &path.selectors).is_empty() {
                Err(Reply::error_static(INDEX_RANGE))
            } else {
                Ok(None)
            }
        }
        None => Ok(None),
    }
}

/// Adds `key: value` to each object at `places`; whether any was added.
fn add_at(root: &mut Json, places: &[Vec<usize>], key: &str, value: &Json) -> Result<bool, Reply> {
    for place in places {
        depth_check(place.len() + 1, value.depth())?;
    }
    let mut added = false;
    for place in places {
        if let Some(Json::Object(pairs)) = root.at_mut(place) {
            Json::insert(pairs, key, value.clone());
            added = true;
        }
    }
    Ok(added)
}

/// The errors `set_in` (without NX/XX) would meet, found without changing anything.
fn set_check(root: &Json, path: &Path, value: &Json) -> Result<(), Reply> {
    if path.is_root() {
        return Ok(());
    }
    let found = matched(root, path);
    if !found.is_empty() {
        return found
            .iter()
            .try_for_each(|(p, _)| depth_check(p.len(), value.depth()));
    }
    if let Some((places, _)) = add_places(root, path)? {
        for place in places {
            depth_check(place.len() + 1, value.depth())?;
        }
    }
    Ok(())
}

/// JSON.SET's edit of an existing document: whether it changed.
fn set_in(root: &mut Json, path: &Path, value: Json, mode: SetMode) -> Result<bool, Reply> {
    if path.is_root() {
        if mode == SetMode::Nx {
            return Ok(false);
        }
        *root = value;
        return Ok(true);
    }
    if mode != SetMode::Nx {
        let found: Vec<Vec<usize>> = matched(root, path).into_iter().map(|(p, _)| p).collect();
        if !found.is_empty() {
            let found = outermost(found);
            for p in &found {
                depth_check(p.len(), value.depth())?;
            }
            for p in found {
                if let Some(target) = root.at_mut(&p) {
                    *target = value.clone();
                }
            }
            return Ok(true);
        }
        if mode == SetMode::Xx {
            return Ok(false);
        }
    }
    Ok(match add_places(root, path)? {
        Some((places, key)) => add_at(root, &places, &key, &value)?,
        None => false,
    })
}

fn json_set(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (path, value, mode) = match parse_set(argv) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let key = &argv[1];
    let changed = match write_doc(ctx, key) {
        Err(e) => return e,
        Ok(Some(root)) => match set_in(root, &path, value, mode) {
            Ok(changed) => changed,
            Err(e) => return e,
        },
        Ok(None) if mode == SetMode::Xx => false,
        Ok(None) if path.is_root() => {
            let now_ms = ctx.now_ms;
            ctx.db()
                .set(key, Value::Json(Box::new(value)), None, now_ms);
            true
        }
        Ok(None) => return Reply::error_static(AT_ROOT),
    };
    if !changed {
        return Reply::Nil;
    }
    notify_json(ctx, "json.set", key);
    Reply::ok()
}

fn json_mset_check(argv: &[Bytes]) -> Result<(), Reply> {
    if !(argv.len() - 1).is_multiple_of(3) {
        return Err(arity_error("json.mset"));
    }
    for triple in argv[1..].chunks_exact(3) {
        compile(&triple[1])?;
        value_arg(&triple[2])?;
    }
    Ok(())
}

/// JSON.MSET key path value [key path value ...]: all or nothing; OK.
fn json_mset(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    if let Err(e) = json_mset_check(argv) {
        return e;
    }
    let mut triples = Vec::new();
    for triple in argv[1..].chunks_exact(3) {
        let path = compile(&triple[1]).expect("checked");
        let value = value_arg(&triple[2]).expect("checked");
        match write_doc(ctx, &triple[0]) {
            Err(e) => return e,
            Ok(None) if !path.is_root() => return Reply::error_static(AT_ROOT),
            Ok(Some(root)) => {
                if let Err(e) = set_check(root, &path, &value) {
                    return e;
                }
            }
            Ok(None) => {}
        }
        triples.push((&triple[0], path, value));
    }
    for (key, path, value) in triples {
        let changed = match write_doc(ctx, key) {
            Ok(Some(root)) => set_in(root, &path, value, SetMode::Always).unwrap_or(false),
            _ => {
                let now_ms = ctx.now_ms;
                ctx.db()
                    .set(key, Value::Json(Box::new(value)), None, now_ms);
                true
            }
        };
        if changed {
            notify_json(ctx, "json.mset", key);
        }
    }
    Reply::ok()
}

/// RFC 7396: an object patch merges key by key (null removes), anything else replaces.
fn merge(target: &mut Json, patch: &Json) {
    let Json::Object(patch_pairs) = patch else {
        *target = patch.clone();
        return;
    };
    if !matches!(target, Json::Object(_)) {
        *target = Json::Object(Vec::new());
    }
    let Json::Object(pairs) = target else {
        unreachable!("made an object above");
    };
    for (key, value) in patch_pairs {
        if *value == Json::Null {
            pairs.retain(|(k, _)| k != key);
            continue;
        }
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some((_, existing)) => merge(existing, value),
            None => {
                let mut fresh = Json::Null;
                merge(&mut fresh, value);
                pairs.push((key.clone(), fresh));
            }
        }
    }
}

fn parse_merge(argv: &[Bytes]) -> Result<(Path, Json), Reply> {
    match argv.len() {
        4 => {}
        6 if eq_ignore_case(&argv[4], "format") => {}
        _ => return Err(syntax_error()),
    }
    Ok((compile(&argv[2])?, value_arg(&argv[3])?))
}

fn json_merge_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_merge(argv).map(|_| ())
}

fn json_merge(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (path, patch) = match parse_merge(argv) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let key = &argv[1];
    let changed = match write_doc(ctx, key) {
        Err(e) => return e,
        Ok(None) if path.is_root() => {
            let now_ms = ctx.now_ms;
            ctx.db()
                .set(key, Value::Json(Box::new(patch)), None, now_ms);
            true
        }
        Ok(None) => return Reply::error_static(AT_ROOT),
        Ok(Some(root)) if path.is_root() => {
            merge(root, &patch);
            true
        }
        Ok(Some(root)) => {
            let found = matched(root, &path);
            if found.is_empty() {
                match add_places(root, &path) {
                    Err(e) => return e,
                    Ok(Some((places, name))) => match add_at(root, &places, &name, &patch) {
                        Ok(added) => added,
                        Err(e) => return e,
                    },
                    Ok(None) => false,
                }
            } else {
                for (p, _) in &found {
                    if let Err(e) = depth_check(p.len(), patch.depth()) {
                        return e;
                    }
                }
                for (p, _) in &found {
                    if let Some(target) = root.at_mut(p) {
                        merge(target, &patch);
                    }
                }
                true
            }
        }
    };
    if !changed {
        return Reply::Nil;
    }
    notify_json(ctx, "json.merge", key);
    Reply::ok()
}

fn path_check(argv: &[Bytes]) -> Result<(), Reply> {
    path_or_root(argv, 2).map(|_| ())
}

/// JSON.DEL / JSON.FORGET key [path]: the number of values removed.
fn json_del(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let path = match path_or_root(argv, 2) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let key = &argv[1];
    let root = match write_doc(ctx, key) {
        Err(e) => return e,
        Ok(None) => return Reply::Int(0),
        Ok(Some(root)) => root,
    };
    let deleted = if path.is_root() {
        ctx.db().remove(key);
        1
    } else {
        let found = matched(root, &path).into_iter().map(|(p, _)| p).collect();
        outermost(found)
            .iter()
            .filter(|p| remove_at(root, p))
            .count() as i64
    };
    if deleted > 0 {
        notify_json(ctx, "json.del", key);
    }
    Reply::Int(deleted)
}

fn json_clear(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let path = match path_or_root(argv, 2) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let key = &argv[1];
    let root = match existing_doc(ctx, key) {
        Ok(root) => root,
        Err(e) => return e,
    };
    let found = matched_if(root, &path, |v| match v {
        Json::Array(items) => !items.is_empty(),
        Json::Object(pairs) => !pairs.is_empty(),
        Json::Int(i) => *i != 0,
        Json::Float(f) => *f != 0.0,
        _ => false,
    });
    let cleared = edit_each(root, &found, |v| {
        match v {
            Json::Array(items) => items.clear(),
            Json::Object(pairs) => pairs.clear(),
            _ => *v = Json::Int(0),
        }
        Ok(())
    });
    let cleared = cleared.map_or(0, |r| r.results.iter().flatten().count() as i64);
    if cleared > 0 {
        notify_json(ctx, "json.clear", key);
    }
    Reply::Int(cleared)
}

// ---------------------------------------------------------------------------------------------
// Writes: strings, numbers, booleans

/// JSON.STRAPPEND key [path] value: the path (legacy root when omitted) and the string.
fn parse_strappend(argv: &[Bytes]) -> Result<(Path, String), Reply> {
    let (path, value) = match argv.len() {
        3 => (compile(b".")?, &argv[2]),
        4 => (compile(&argv[2])?, &argv[3]),
        _ => return Err(arity_error("json.strappend")),
    };
    match value_arg(value)? {
        Json::Str(s) => Ok((path, s)),
        _ => Err(expected("string", &String::from_utf8_lossy(value))),
    }
}

fn json_strappend_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_strappend(argv).map(|_| ())
}

/// Runs a per-match edit for the commands whose replies are per match (JSONPath) or the
/// last match's (legacy, with `or` naming what the path must hold): `keep` selects the
/// values `edit` accepts; `event` is notified when anything changed.
fn per_match<R>(
    ctx: &mut WriteCtx,
    key: &[u8],
    path: &Path,
    event: &'static str,
    keep: impl Fn(&Json) -> bool,
    edit: impl FnMut(&mut Json) -> Result<R, Reply>,
) -> Result<Edited<R>, Reply> {
    per_match_adding(ctx, key, path, event, 0, keep, edit)
}

/// `per_match` for edits that add values `added_depth` levels under each match.
fn per_match_adding<R>(
    ctx: &mut WriteCtx,
    key: &[u8],
    path: &Path,
    event: &'static str,
    added_depth: usize,
    keep: impl Fn(&Json) -> bool,
    edit: impl FnMut(&mut Json) -> Result<R, Reply>,
) -> Result<Edited<R>, Reply> {
    let root = existing_doc(ctx, key)?;
    let found = matched_if(root, path, keep);
    let edited = edit_each_adding(root, &found, added_depth, edit)?;
    if edited.last.is_some() {
        notify_json(ctx, event, key);
    }
    Ok(edited)
}

fn json_strappend(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let (path, suffix) = match parse_strappend(argv) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let results = per_match(
        ctx,
        &argv[1],
        &path,
        "json.strappend",
        |v| matches!(v, Json::Str(_)),
        |v| {
            let Json::Str(s) = v else {
                unreachable!("kept strings")
            };
            s.push_str(&suffix);
            Ok(s.len() as i64)
        },
    );
    match results {
        Err(e) => e,
        Ok(r) if path.legacy => r
            .legacy(false, &path.text, "not a string")
            .map_or_else(|e| e, Reply::Int),
        Ok(r) => Reply::Array(r.results.into_iter().map(opt_int).collect()),
    }
}

fn parse_number(argv: &[Bytes]) -> Result<(Path, Json), Reply> {
    let path = compile(&argv[2])?;
    match value_arg(&argv[3])? {
        n @ (Json::Int(_) | Json::Float(_)) => Ok((path, n)),
        _ => Err(Reply::error_static(BAD_NUMBER)),
    }
}

fn num_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_number(argv).map(|_| ())
}

fn as_f64(v: &Json) -> f64 {
    match v {
        Json::Int(i) => *i as f64,
        Json::Float(f) => *f,
        _ => 0.0,
    }
}

/// NUMINCRBY and NUMMULTBY: integers with an integer operand stay integers (wrapping, as
/// RedisJSON's i64 arithmetic); anything else is a float, which must stay finite.
fn num_op(ctx: &mut WriteCtx, argv: &[Bytes], event: &'static str, multiply: bool) -> Reply {
    let (path, operand) = match parse_number(argv) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let results = per_match(
        ctx,
        &argv[1],
        &path,
        event,
        |v| matches!(v, Json::Int(_) | Json::Float(_)),
        |v| {
            let result = match (&*v, &operand) {
                (Json::Int(a), Json::Int(b)) if multiply => Json::Int(a.wrapping_mul(*b)),
                (Json::Int(a), Json::Int(b)) => Json::Int(a.wrapping_add(*b)),
                (a, b) => {
                    let f = if multiply {
                        as_f64(a) * as_f64(b)
                    } else {
                        as_f64(a) + as_f64(b)
                    };
                    if !f.is_finite() {
                        return Err(Reply::error_static(NOT_A_NUMBER));
                    }
                    Json::Float(f)
                }
            };
            *v = result.clone();
            Ok(result)
        },
    );
    match results {
        Err(e) => e,
        Ok(r) if path.legacy => match r.legacy(false, &path.text, "does not contains a number") {
            Ok(v) => to_reply(&v),
            Err(e) => e,
        },
        Ok(r) => {
            let values: Vec<Json> = r
                .results
                .into_iter()
                .map(|v| v.unwrap_or(Json::Null))
                .collect();
            list_reply(values.iter())
        }
    }
}

fn json_numincrby(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    num_op(ctx, argv, "json.numincrby", false)
}

fn json_nummultby(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    num_op(ctx, argv, "json.nummultby", true)
}

fn json_toggle(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let path = match compile(&argv[2]) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let results = per_match(
        ctx,
        &argv[1],
        &path,
        "json.toggle",
        |v| matches!(v, Json::Bool(_)),
        |v| {
            let Json::Bool(b) = v else {
                unreachable!("kept booleans")
            };
            *b = !*b;
            Ok(*b)
        },
    );
    match results {
        Err(e) => e,
        Ok(r) if path.legacy => match r.legacy(false, &path.text, "not a bool") {
            Ok(b) => bulk(if b { b"true" } else { b"false" }),
            Err(e) => e,
        },
        Ok(r) => Reply::Array(
            r.results
                .into_iter()
                .map(|b| opt_int(b.map(i64::from)))
                .collect(),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Writes: arrays

fn parse_values(args: &[Bytes]) -> Result<Vec<Json>, Reply> {
    args.iter().map(|a| value_arg(a)).collect()
}

fn arrappend_check(argv: &[Bytes]) -> Result<(), Reply> {
    compile(&argv[2])?;
    parse_values(&argv[3..]).map(|_| ())
}

fn is_array(v: &Json) -> bool {
    matches!(v, Json::Array(_))
}

fn array_of(v: &mut Json) -> &mut Vec<Json> {
    match v {
        Json::Array(items) => items,
        _ => unreachable!("kept arrays"),
    }
}

/// The per-match reply of the array commands that answer lengths.
fn lengths_reply(
    results: Result<Edited<i64>, Reply>,
    path: &Path,
    legacy_path: &str,
    sorted: bool,
) -> Reply {
    match results {
        Err(e) => e,
        Ok(r) if path.legacy => r
            .legacy(sorted, legacy_path, "not an array")
            .map_or_else(|e| e, Reply::Int),
        Ok(r) => Reply::Array(r.results.into_iter().map(opt_int).collect()),
    }
}

fn json_arrappend(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let parsed = compile(&argv[2]).and_then(|p| Ok((p, parse_values(&argv[3..])?)));
    let (path, values) = match parsed {
        Ok(p) => p,
        Err(e) => return e,
    };
    let added = 1 + values.iter().map(Json::depth).max().unwrap_or(0);
    let results = per_match_adding(
        ctx,
        &argv[1],
        &path,
        "json.arrappend",
        added,
        is_array,
        |v| {
            let items = array_of(v);
            items.extend(values.iter().cloned());
            Ok(items.len() as i64)
        },
    );
    lengths_reply(results, &path, &String::from_utf8_lossy(&argv[2]), false)
}

fn arrinsert_check(argv: &[Bytes]) -> Result<(), Reply> {
    compile(&argv[2])?;
    i64_arg(&argv[3])?;
    parse_values(&argv[4..]).map(|_| ())
}

fn json_arrinsert(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let parsed = (|| {
        Ok::<_, Reply>((
            compile(&argv[2])?,
            i64_arg(&argv[3])?,
            parse_values(&argv[4..])?,
        ))
    })();
    let (path, index, values) = match parsed {
        Ok(p) => p,
        Err(e) => return e,
    };
    let added = 1 + values.iter().map(Json::depth).max().unwrap_or(0);
    let results = per_match_adding(
        ctx,
        &argv[1],
        &path,
        "json.arrinsert",
        added,
        is_array,
        |v| {
            let items = array_of(v);
            let len = items.len() as i64;
            let at = if index < 0 { len + index } else { index };
            if !(0..=len).contains(&at) {
                return Err(Reply::error_static(INDEX_BOUNDS));
            }
            let at = at as usize;
            items.splice(at..at, values.iter().cloned());
            Ok(items.len() as i64)
        },
    );
    lengths_reply(results, &path, &path.text, true)
}

/// JSON.ARRPOP key [path [index]]: an index that is not an integer means the last element,
/// as in RedisJSON.
fn json_arrpop(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    if argv.get(2).is_some_and(|a| eq_ignore_case(a, "format")) {
        return Reply::error_static(FORMAT_RESP2);
    }
    let path = match path_or_root(argv, 2) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let index = match argv.get(2) {
        None => i64::MAX,
        Some(_) => argv.get(3).and_then(|a| parse_i64(a)).unwrap_or(-1),
    };
    let results = per_match(ctx, &argv[1], &path, "json.arrpop", is_array, |v| {
        let items = array_of(v);
        if items.is_empty() {
            return Ok(None);
        }
        let len = items.len() as i64;
        let at = if index < 0 {
            (len + index).max(0)
        } else {
            index.min(len - 1)
        };
        Ok(Some(items.remove(at as usize)))
    });
    let popped = |v: Option<Option<Json>>| v.flatten().map_or(Reply::Nil, |v| to_reply(&v));
    match results {
        Err(e) => e,
        Ok(r) if path.legacy => r
            .legacy(true, &path.text, "not an array")
            .map_or_else(|e| e, |v| popped(Some(v))),
        Ok(r) => Reply::Array(r.results.into_iter().map(popped).collect()),
    }
}

fn arrtrim_check(argv: &[Bytes]) -> Result<(), Reply> {
    compile(&argv[2])?;
    i64_arg(&argv[3])?;
    i64_arg(&argv[4]).map(|_| ())
}

/// An ARRTRIM bound: negative from the end, then clamped to the array.
fn trim_bound(i: i64, len: i64) -> i64 {
    if i < 0 {
        (len + i).max(0)
    } else {
        i.min(len - 1)
    }
}

fn json_arrtrim(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let parsed =
        (|| Ok::<_, Reply>((compile(&argv[2])?, i64_arg(&argv[3])?, i64_arg(&argv[4])?)))();
    let (path, start, stop) = match parsed {
        Ok(p) => p,
        Err(e) => return e,
    };
    let results = per_match(ctx, &argv[1], &path, "json.arrtrim", is_array, |v| {
        let items = array_of(v);
        let len = items.len() as i64;
        let stop = trim_bound(stop, len);
        let start = if start < 0 || start < len {
            trim_bound(start, len)
        } else {
            stop + 1
        };
        if start > stop || len == 0 {
            items.clear();
        } else {
            items.truncate((stop + 1) as usize);
            items.drain(..start as usize);
        }
        Ok(items.len() as i64)
    });
    lengths_reply(results, &path, &path.text, true)
}

// ---------------------------------------------------------------------------------------------
// The table

/// No `@json` category: Redis 7.0's ACL CAT has none, so the rows are in `@read` or `@write`
/// (and `@slow`) by their flags only.
const J: u32 = 0;
const G: Group = Group::Module;
const DOC: &str = "O(N) when path is evaluated to a single value where N is the size of the value, O(N) when path is evaluated to multiple values, where N is the size of the key";

/// JSON.MGET: every argument but the last (the path) is a key.
const MGET_KEYS: &[KeySpec] = &[KeySpec {
    flags: key::RO | key::ACCESS,
    begin: Begin::Index(1),
    find: Find::Range {
        last: -2,
        step: 1,
        limit: 0,
    },
}];
/// JSON.MSET: key, path, value triples.
const MSET_KEYS: &[KeySpec] = &[KeySpec {
    flags: key::RW | key::UPDATE,
    begin: Begin::Index(1),
    find: Find::Range {
        last: -1,
        step: 3,
        limit: 0,
    },
}];

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("json.set", -4, WRITE | DENYOOM, J, Keys::ONE, G, "1.0.0", "Sets or updates the JSON value at a path", Handler::Write(json_set_check, json_set))
        .complexity(DOC),
    cmd("json.get", -2, READONLY, J, Keys::ONE, G, "1.0.0", "Gets the value at one or more paths in JSON serialized form", Handler::Read(json_get))
        .complexity(DOC),
    cmd("json.mget", -3, READONLY, J, Keys { first: 1, last: -2, step: 1 }, G, "1.0.0", "Returns the values at a path from one or more keys", Handler::Read(json_mget))
        .key_specs(MGET_KEYS)
        .complexity("O(M*N) when path is evaluated to a single value where M is the number of keys and N is the size of the value"),
    cmd("json.mset", -4, WRITE | DENYOOM, J, Keys { first: 1, last: -1, step: 3 }, G, "2.6.0", "Sets or updates the JSON value of one or more keys", Handler::Write(json_mset_check, json_mset))
        .key_specs(MSET_KEYS)
        .complexity("O(K*(M+N)) where k is the number of keys in the command"),
    cmd("json.merge", -4, WRITE | DENYOOM, J, Keys::ONE, G, "2.6.0", "Merges a given JSON value into matching paths", Handler::Write(json_merge_check, json_merge))
        .complexity(DOC),
    cmd("json.del", -2, WRITE, J, Keys::ONE, G, "1.0.0", "Deletes a value", Handler::Write(path_check, json_del))
        .complexity(DOC),
    cmd("json.forget", -2, WRITE, J, Keys::ONE, G, "1.0.0", "Deletes a value", Handler::Write(path_check, json_del))
        .complexity(DOC),
    cmd("json.type", -2, READONLY, J, Keys::ONE, G, "1.0.0", "Returns the type of the JSON value at path", Handler::Read(json_type))
        .complexity("O(1) when path is evaluated to a single value, O(N) when path is evaluated to multiple values, where N is the size of the key"),
    cmd("json.strlen", -2, READONLY, J, Keys::ONE, G, "1.0.0", "Returns the length of the JSON String at path in key", Handler::Read(json_strlen))
        .complexity("O(1) when path is evaluated to a single value, O(N) when path is evaluated to multiple values, where N is the size of the key"),
    cmd("json.strappend", -3, WRITE | DENYOOM, J, Keys::ONE, G, "1.0.0", "Appends a string to a JSON string value at path", Handler::Write(json_strappend_check, json_strappend))
        .complexity("O(1) when path is evaluated to a single value, O(N) when path is evaluated to multiple values, where N is the size of the key"),
    cmd("json.numincrby", 4, WRITE, J, Keys::ONE, G, "1.0.0", "Increments the numeric value at path by a value", Handler::Write(num_check, json_numincrby))
        .complexity("O(1) when path is evaluated to a single value, O(N) when path is evaluated to multiple values, where N is the size of the key"),
    cmd("json.nummultby", 4, WRITE, J, Keys::ONE, G, "1.0.0", "Multiplies the numeric value at path by a value", Handler::Write(num_check, json_nummultby))
        .complexity("O(1) when path is evaluated to a single value, O(N) when path is evaluated to multiple values, where N is the size of the key"),
    cmd("json.toggle", 3, WRITE | DENYOOM, J, Keys::ONE, G, "2.0.0", "Toggles a boolean value", Handler::Write(path_check, json_toggle))
        .complexity("O(1) when path is evaluated to a single value, O(N) when path is evaluated to multiple values, where N is the size of the key"),
    cmd("json.clear", -2, WRITE, J, Keys::ONE, G, "2.0.0", "Clears all values from an array or an object and sets numeric values to `0`", Handler::Write(path_check, json_clear))
        .complexity("O(N) when path is evaluated to a single value where N is the size of the values, O(N) when path is evaluated to multiple values, where N is the size of the key"),
    cmd("json.arrappend", -4, WRITE | DENYOOM, J, Keys::ONE, G, "1.0.0", "Append one or more json values into the array at path after the last element in it.", Handler::Write(arrappend_check, json_arrappend))
        .complexity("O(1) for each value added, O(N) for multiple values added where N is the size of the key"),
    cmd("json.arrindex", -4, READONLY, J, Keys::ONE, G, "1.0.0", "Returns the index of the first occurrence of a JSON scalar value in the array at path", Handler::Read(json_arrindex))
        .complexity("O(N) when path is evaluated to a single value where N is the size of the array, O(N) when path is evaluated to multiple values, where N is the size of the key"),
    cmd("json.arrinsert", -5, WRITE | DENYOOM, J, Keys::ONE, G, "1.0.0", "Inserts the JSON scalar(s) value at the specified index in the array at path", Handler::Write(arrinsert_check, json_arrinsert))
        .complexity("O(N) when path is evaluated to a single value where N is the size of the array, O(N) when path is evaluated to multiple values, where N is the size of the key"),
    cmd("json.arrlen", -2, READONLY, J, Keys::ONE, G, "1.0.0", "Returns the length of the array at path", Handler::Read(json_arrlen))
        .complexity("O(1) where path is evaluated to a single value, O(N) where path is evaluated to multiple values, where N is the size of the key"),
    cmd("json.arrpop", -2, WRITE, J, Keys::ONE, G, "1.0.0", "Removes and returns the element at the specified index in the array at path", Handler::Write(path_check, json_arrpop))
        .complexity("O(N) when path is evaluated to a single value where N is the size of the array and the specified index is not the last element, O(1) when path is evaluated to a single value and the specified index is the last element, or O(N) when path is evaluated to multiple values, where N is the size of the key"),
    cmd("json.arrtrim", 5, WRITE, J, Keys::ONE, G, "1.0.0", "Trims the array at path to contain only the specified inclusive range of indices from start to stop", Handler::Write(arrtrim_check, json_arrtrim))
        .complexity("O(N) when path is evaluated to a single value where N is the size of the array, O(N) when path is evaluated to multiple values, where N is the size of the key"),
    cmd("json.objkeys", -2, READONLY, J, Keys::ONE, G, "1.0.0", "Returns the JSON keys of the object at path", Handler::Read(json_objkeys))
        .complexity("O(N) when path is evaluated to a single value, where N is the number of keys in the object, O(N) when path is evaluated to multiple values, where N is the size of the key"),
    cmd("json.objlen", -2, READONLY, J, Keys::ONE, G, "1.0.0", "Returns the number of keys of the object at path", Handler::Read(json_objlen))
        .complexity("O(1) when path is evaluated to a single value, O(N) when path is evaluated to multiple values, where N is the size of the key"),
    cmd("json.resp", -2, READONLY, J, Keys::ONE, G, "1.0.0", "Returns the JSON value at path in Redis Serialization Protocol (RESP)", Handler::Read(json_resp))
        .complexity("O(N) when path is evaluated to a single value, where N is the size of the value, O(N) when path is evaluated to multiple values, where N is the size of the key"),
];
