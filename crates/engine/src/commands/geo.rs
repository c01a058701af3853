//! The geo family with Redis 7.0.15's semantics (`src/geo.c`), replies and errors: a geo index
//! is a sorted set whose scores are 52-bit geohashes (`geohash.rs`), so every sorted-set
//! command works on it and ZRANGE … WITHSCORES shows Redis's scores.
//!
//! Sections: argument helpers and formatting; GEOADD; GEOPOS, GEOHASH, GEODIST; the search
//! (GEORADIUS and GEORADIUSBYMEMBER with their `_RO` forms, GEOSEARCH, GEOSEARCHSTORE); the
//! table.
//!
//! Where the syntax check runs: GEOADD parses everything before its lookup, so `check`
//! rejects all its syntax errors before the log. The searches look their key up first (a
//! wrong type answers before any syntax error, and FROMMEMBER needs the set), so they parse in
//! the handler; GEORADIUS and GEORADIUSBYMEMBER are writes (they may STORE), as in Redis, so
//! they always go through the log.

mod geohash;

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::zset::parse::{is_word, string2d};
use crate::commands::zset::{
    AddFlags, Added, limits, read_zset, store_result, write_zset, zset_add,
};
use crate::commands::{bulk, cmd, int_arg, syntax_error};
use crate::db::Db;
use crate::engine::{ReadCtx, WriteCtx};
use crate::notify;
use crate::table::{Group, Handler, KeySpec, Keys, Spec, acl, flag::*, key};

/// GEORADIUS: the key, and STORE/STOREDIST destinations searched from the options.
const GEORADIUS_KEYS: &[KeySpec] = &[
    KeySpec::at(1, key::RO | key::ACCESS),
    KeySpec::after("STORE", 6, key::OW | key::UPDATE),
    KeySpec::after("STOREDIST", 6, key::OW | key::UPDATE),
];
const GEORADIUSBYMEMBER_KEYS: &[KeySpec] = &[
    KeySpec::at(1, key::RO | key::ACCESS),
    KeySpec::after("STORE", 5, key::OW | key::UPDATE),
    KeySpec::after("STOREDIST", 5, key::OW | key::UPDATE),
];
use crate::types::zset::{ScoreRange, ZSet, compare_scores};
use geohash::{Hash, Kind, Shape};

// ---------------------------------------------------------------------------------------------
// Errors

const NOT_FLOAT: &str = "ERR value is not a valid float";
const BAD_UNIT: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";
const NEED_RADIUS: &str = "ERR need numeric radius";
const NEED_WIDTH: &str = "ERR need numeric width";
const NEED_HEIGHT: &str = "ERR need numeric height";
const NEGATIVE_RADIUS: &str = "ERR radius cannot be negative";
const NEGATIVE_BOX: &str = "ERR height or width cannot be negative";
const NO_MEMBER: &str = "ERR could not decode requested zset member";
const COUNT_POSITIVE: &str = "ERR COUNT must be > 0";
const ANY_NEEDS_COUNT: &str = "ERR the ANY argument requires COUNT argument";

// ---------------------------------------------------------------------------------------------
// Arguments and formatting

/// A float argument as `getDoubleFromObject` reads it, or `msg`.
fn double_arg(arg: &[u8], msg: &'static str) -> Result<f64, Reply> {
    string2d(arg).ok_or_else(|| Reply::error_static(msg))
}

/// `extractLongLatOrReply`: a longitude and a latitude inside the Mercator limits.
fn long_lat(args: &[Bytes]) -> Result<(f64, f64), Reply> {
    let long = double_arg(&args[0], NOT_FLOAT)?;
    let lat = double_arg(&args[1], NOT_FLOAT)?;
    let inside = (geohash::LONG_MIN..=geohash::LONG_MAX).contains(&long)
        && (geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat);
    if !inside {
        return Err(Reply::error(format!(
            "ERR invalid longitude,latitude pair {long:.6},{lat:.6}"
        )));
    }
    Ok((long, lat))
}

/// A unit's size in meters.
fn unit_arg(arg: &[u8]) -> Result<f64, Reply> {
    const UNITS: [(&str, f64); 4] = [("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)];
    UNITS
        .iter()
        .find(|(name, _)| is_word(arg, name))
        .map(|&(_, meters)| meters)
        .ok_or_else(|| Reply::error_static(BAD_UNIT))
}

/// `radius unit`: (radius, unit in meters).
fn radius_arg(args: &[Bytes]) -> Result<(f64, f64), Reply> {
    let radius = double_arg(&args[0], NEED_RADIUS)?;
    if radius < 0.0 {
        return Err(Reply::error_static(NEGATIVE_RADIUS));
    }
    Ok((radius, unit_arg(&args[1])?))
}

/// `width height unit`: (width, height, unit in meters).
fn box_arg(args: &[Bytes]) -> Result<(f64, f64, f64), Reply> {
    let width = double_arg(&args[0], NEED_WIDTH)?;
    let height = double_arg(&args[1], NEED_HEIGHT)?;
    if height < 0.0 || width < 0.0 {
        return Err(Reply::error_static(NEGATIVE_BOX));
    }
    Ok((width, height, unit_arg(&args[2])?))
}

/// A member's position, if the set holds it.
fn member_pos(z: &ZSet, member: &[u8]) -> Option<(f64, f64)> {
    z.score(member).map(geohash::decode_score)
}

/// A distance with four decimals, rounded as `llrint` does (Redis's `fixedpoint_d2string`).
fn distance_text(d: f64) -> String {
    let scaled = (d * 10_000.0).round_ties_even() as i64;
    let sign = if scaled < 0 { "-" } else { "" };
    let v = scaled.unsigned_abs();
    format!("{sign}{}.{:04}", v / 10_000, v % 10_000)
}

fn distance_reply(d: f64) -> Reply {
    Reply::Bulk(Bytes::from(distance_text(d)))
}

/// A coordinate as Redis's `addReplyHumanLongDouble` writes it: `%.17Lf` without trailing
/// zeros (the double converts to long double exactly, so its exact expansion is rounded).
fn coord_reply(v: f64) -> Reply {
    let mut text = format!("{v:.17}");
    if text.contains('.') {
        let trimmed = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(trimmed);
    }
    if text == "-0" {
        text = "0".into();
    }
    Reply::DoubleText(Bytes::from(text))
}

fn coords_reply(long: f64, lat: f64) -> Reply {
    Reply::Array(vec![coord_reply(long), coord_reply(lat)])
}

// ---------------------------------------------------------------------------------------------
// GEOADD key [NX|XX] [CH] longitude latitude member [...]

struct GeoaddArgs {
    flags: AddFlags,
    ch: bool,
    /// (member's argv index, score)
    points: Vec<(usize, f64)>,
}

fn parse_geoadd(argv: &[Bytes]) -> Result<GeoaddArgs, Reply> {
    let mut flags = AddFlags::default();
    let mut ch = false;
    let mut first = 2;
    while first < argv.len() {
        let arg = &argv[first];
        if is_word(arg, "nx") {
            flags.nx = true;
        } else if is_word(arg, "xx") {
            flags.xx = true;
        } else if is_word(arg, "ch") {
            ch = true;
        } else {
            break;
        }
        first += 1;
    }
    let rest = argv.len() - first;
    // ZADD (which GEOADD hands over to) refuses an empty element list as a syntax error too.
    if !rest.is_multiple_of(3) || (flags.xx && flags.nx) || rest == 0 {
        return Err(syntax_error());
    }
    let points = (first..argv.len())
        .step_by(3)
        .map(|i| {
            let (long, lat) = long_lat(&argv[i..i + 2])?;
            Ok((i + 2, geohash::score_of(long, lat) as f64))
        })
        .collect::<Result<_, Reply>>()?;
    Ok(GeoaddArgs { flags, ch, points })
}

fn geoadd_check(argv: &[Bytes]) -> Result<(), Reply> {
    parse_geoadd(argv).map(|_| ())
}

fn geoadd(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    let args = match parse_geoadd(argv) {
        Ok(args) => args,
        Err(reply) => return reply,
    };
    let limits = limits(ctx);
    let now_ms = ctx.now_ms;
    let f = args.flags;
    let outcome = write_zset(ctx.db(), &argv[1], now_ms, !f.xx, |z| {
        let (mut added, mut updated) = (0i64, 0i64);
        for &(member, score) in &args.points {
            // Scores are whole numbers below 2^52: never NaN, so no error can come back.
            if let Ok((what, _)) = zset_add(z, &argv[member], score, f, &limits) {
                added += i64::from(what == Added::New);
                updated += i64::from(what == Added::Updated);
            }
        }
        (added, updated)
    });
    let (added, updated) = match outcome {
        Ok(counts) => counts.unwrap_or((0, 0)),
        Err(reply) => return reply,
    };
    if added > 0 {
        ctx.signal_ready(&argv[1]);
    }
    if added + updated > 0 {
        ctx.notify(notify::ZSET, "zadd", &argv[1]);
    }
    Reply::Int(if args.ch { added + updated } else { added })
}

// ---------------------------------------------------------------------------------------------
// GEOPOS, GEOHASH, GEODIST

fn geopos(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let z = match read_zset(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(z) => z,
        Err(reply) => return reply,
    };
    let items = argv[2..]
        .iter()
        .map(|m| match z.and_then(|z| member_pos(z, m)) {
            Some((long, lat)) => coords_reply(long, lat),
            None => Reply::NilArray,
        })
        .collect();
    Reply::Array(items)
}

/// The eleven characters of a standard geohash (the 11th stands for bits a 52-bit hash does
/// not have: always `0`).
fn geohash_text(long: f64, lat: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let bits = geohash::encode_standard(long, lat).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        *c = ALPHABET[((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize];
    }
    out
}

fn geohash_cmd(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let z = match read_zset(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(z) => z,
        Err(reply) => return reply,
    };
    let items = argv[2..]
        .iter()
        .map(|m| match z.and_then(|z| member_pos(z, m)) {
            Some((long, lat)) => bulk(&geohash_text(long, lat)),
            None => Reply::Nil,
        })
        .collect();
    Reply::Array(items)
}

/// GEODIST key member1 member2 [unit]: the unit is read before the key.
fn geodist(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    let to_meters = match argv.len() {
        4 => 1.0,
        5 => match unit_arg(&argv[4]) {
            Ok(m) => m,
            Err(reply) => return reply,
        },
        _ => return syntax_error(),
    };
    let z = match read_zset(ctx.db(), &argv[1], ctx.now_ms) {
        Ok(Some(z)) => z,
        Ok(None) => return Reply::Nil,
        Err(reply) => return reply,
    };
    match (member_pos(z, &argv[2]), member_pos(z, &argv[3])) {
        (Some(a), Some(b)) => distance_reply(geohash::distance(a.0, a.1, b.0, b.1) / to_meters),
        _ => Reply::Nil,
    }
}

// ---------------------------------------------------------------------------------------------
// The search (Redis's georadiusGeneric)

/// Which command's arguments a search reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// GEORADIUS[_RO] key longitude latitude radius unit …
    Radius { store: bool },
    /// GEORADIUSBYMEMBER[_RO] key member radius unit …
    ByMember { store: bool },
    /// GEOSEARCH key …
    Search,
    /// GEOSEARCHSTORE destination source … [STOREDIST]
    SearchStore,
}

impl Form {
    fn is_search(self) -> bool {
        matches!(self, Form::Search | Form::SearchStore)
    }

    fn may_store(self) -> bool {
        matches!(
            self,
            Form::Radius { store: true } | Form::ByMember { store: true }
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    None,
    Asc,
    Desc,
}

/// The options after a search's fixed arguments.
struct Options {
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    any: bool,
    order: Order,
    /// 0: no limit.
    count: usize,
    store: Option<Bytes>,
    store_dist: bool,
}

/// A point found, with its distance from the centre in meters.
struct Point<'a> {
    member: &'a [u8],
    score: f64,
    long: f64,
    lat: f64,
    dist_m: f64,
}

/// What a search comes to: a reply, or members to store at a key (empty: delete the key).
enum Outcome {
    Reply(Reply),
    Store {
        key: Bytes,
        entries: Vec<(Box<[u8]>, f64)>,
    },
}

/// Scans one geohash box: members with scores in [min, max) of the box, kept when the shape
/// holds them. Stops at `limit` points found (0: no limit), checked after every member.
fn scan_box<'a>(z: &'a ZSet, hash: Hash, shape: &Shape, out: &mut Vec<Point<'a>>, limit: usize) {
    let min = hash.align52() as f64;
    let max = Hash {
        bits: hash.bits + 1,
        step: hash.step,
    }
    .align52() as f64;
    let range = ScoreRange {
        min,
        min_ex: false,
        max,
        max_ex: true,
    };
    let ranks = z.score_ranks(&range);
    for (member, score) in z.iter_from(ranks.start, false).take(ranks.len()) {
        let (long, lat) = geohash::decode_score(score);
        if let Some(dist_m) = shape.contains(long, lat) {
            out.push(Point {
                member,
                score,
                long,
                lat,
                dist_m,
            });
        }
        if limit > 0 && out.len() >= limit {
            break;
        }
    }
}

/// The points of `z` inside `shape`, box by box in Redis's order (a box equal to the one
/// scanned before it is skipped: huge radii make neighbours coincide).
fn points_in<'a>(z: &'a ZSet, shape: &Shape, limit: usize) -> Vec<Point<'a>> {
    let boxes = geohash::search_boxes(shape);
    let mut out = Vec::new();
    let mut last: Option<usize> = None;
    for (i, &hash) in boxes.iter().enumerate() {
        if !geohash::is_live(hash) {
            continue;
        }
        // Redis's "previous box" starts unset and the centre's box (index 0) never counts.
        if last.is_some_and(|l| l > 0 && boxes[l] == hash) {
            continue;
        }
        if limit > 0 && out.len() >= limit {
            break;
        }
        scan_box(z, hash, shape, &mut out, limit);
        last = Some(i);
    }
    out
}

/// Parses the options from `argv[base..]`; FROMMEMBER, FROMLONLAT, BYRADIUS and BYBOX (the
/// GEOSEARCH forms) fill in `center` and `kind` as they come.
fn parse_options(
    argv: &[Bytes],
    base: usize,
    form: Form,
    z: Option<&ZSet>,
    center: &mut Option<(f64, f64)>,
    kind: &mut Option<(Kind, f64)>,
) -> Result<Options, Reply> {
    let mut o = Options {
        with_dist: false,
        with_hash: false,
        with_coord: false,
        any: false,
        order: Order::None,
        count: 0,
        store: None,
        store_dist: false,
    };
    let (mut from_member, mut from_loc, mut by_radius, mut by_box) = (false, false, false, false);
    let search = form.is_search();
    let remaining = argv.len() - base;
    let mut i = 0;
    while i < remaining {
        let arg = &argv[base + i];
        let room = |n: usize| i + n < remaining;
        if is_word(arg, "withdist") {
            o.with_dist = true;
        } else if is_word(arg, "withhash") {
            o.with_hash = true;
        } else if is_word(arg, "withcoord") {
            o.with_coord = true;
        } else if is_word(arg, "any") {
            o.any = true;
        } else if is_word(arg, "asc") {
            o.order = Order::Asc;
        } else if is_word(arg, "desc") {
            o.order = Order::Desc;
        } else if is_word(arg, "count") && room(1) {
            let count = int_arg(&argv[base + i + 1])?;
            if count <= 0 {
                return Err(Reply::error_static(COUNT_POSITIVE));
            }
            o.count = usize::try_from(count).unwrap_or(usize::MAX);
            i += 1;
        } else if (is_word(arg, "store") || is_word(arg, "storedist"))
            && room(1)
            && form.may_store()
        {
            o.store = Some(argv[base + i + 1].clone());
            o.store_dist = is_word(arg, "storedist");
            i += 1;
        } else if is_word(arg, "storedist") && form == Form::SearchStore {
            o.store_dist = true;
        } else if is_word(arg, "frommember") && room(1) && search && !from_loc {
            if let Some(z) = z {
                let pos = member_pos(z, &argv[base + i + 1]);
                *center = Some(pos.ok_or_else(|| Reply::error_static(NO_MEMBER))?);
            }
            from_member = true;
            i += 1;
        } else if is_word(arg, "fromlonlat") && room(2) && search && !from_member {
            *center = Some(long_lat(&argv[base + i + 1..])?);
            from_loc = true;
            i += 2;
        } else if is_word(arg, "byradius") && room(2) && search && !by_box {
            let (radius, unit) = radius_arg(&argv[base + i + 1..])?;
            *kind = Some((Kind::Circle(radius), unit));
            by_radius = true;
            i += 2;
        } else if is_word(arg, "bybox") && room(3) && search && !by_radius {
            let (width, height, unit) = box_arg(&argv[base + i + 1..])?;
            *kind = Some((Kind::Box(width, height), unit));
            by_box = true;
            i += 3;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    let name = String::from_utf8_lossy(&argv[0]);
    if form == Form::SearchStore {
        o.store = Some(argv[1].clone());
    }
    if o.store.is_some() && (o.with_dist || o.with_hash || o.with_coord) {
        let what = if form == Form::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(Reply::error(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    if search && !(from_member || from_loc) {
        return Err(Reply::error(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if search && !(by_radius || by_box) {
        return Err(Reply::error(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if o.any && o.count == 0 {
        return Err(Reply::error_static(ANY_NEEDS_COUNT));
    }
    Ok(o)
}

/// Runs a search of `form` on the current state.
fn search_generic(db: &Db, now_ms: u64, argv: &[Bytes], form: Form) -> Result<Outcome, Reply> {
    let src = if form == Form::SearchStore { 2 } else { 1 };
    let z = read_zset(db, &argv[src], now_ms)?;
    let mut center = None;
    let mut kind = None;
    let base = match form {
        Form::Radius { .. } => {
            center = Some(long_lat(&argv[2..4])?);
            let (radius, unit) = radius_arg(&argv[4..6])?;
            kind = Some((Kind::Circle(radius), unit));
            6
        }
        Form::ByMember { .. } => {
            if let Some(z) = z {
                let pos = member_pos(z, &argv[2]).ok_or_else(|| Reply::error_static(NO_MEMBER))?;
                center = Some(pos);
                let (radius, unit) = radius_arg(&argv[3..5])?;
                kind = Some((Kind::Circle(radius), unit));
            }
            5
        }
        Form::Search => 2,
        Form::SearchStore => 3,
    };
    let o = parse_options(argv, base, form, z, &mut center, &mut kind)?;
    let (Some(z), Some((long, lat)), Some((kind, to_meters))) = (z, center, kind) else {
        // No such key (or nothing to search around in it).
        return Ok(match o.store {
            Some(key) => Outcome::Store {
                key,
                entries: Vec::new(),
            },
            None => Outcome::Reply(Reply::Array(Vec::new())),
        });
    };
    let shape = Shape {
        long,
        lat,
        kind,
        to_meters,
    };
    let mut order = o.order;
    // COUNT without an order returns the nearest, unless ANY asked for the first found.
    if o.count > 0 && order == Order::None && !o.any {
        order = Order::Asc;
    }
    let mut points = points_in(z, &shape, if o.any { o.count } else { 0 });
    match order {
        Order::Asc => points.sort_by(|a, b| a.dist_m.total_cmp(&b.dist_m)),
        Order::Desc => points.sort_by(|a, b| b.dist_m.total_cmp(&a.dist_m)),
        Order::None => {}
    }
    if o.count > 0 {
        points.truncate(o.count);
    }
    if let Some(key) = o.store {
        let mut entries: Vec<(Box<[u8]>, f64)> = points
            .iter()
            .map(|p| {
                let score = if o.store_dist {
                    p.dist_m / to_meters
                } else {
                    p.score
                };
                (Box::from(p.member), score)
            })
            .collect();
        entries.sort_by(|a, b| compare_scores(a.1, b.1).then_with(|| a.0.cmp(&b.0)));
        return Ok(Outcome::Store { key, entries });
    }
    let extras = usize::from(o.with_dist) + usize::from(o.with_hash) + usize::from(o.with_coord);
    let items = points
        .iter()
        .map(|p| {
            if extras == 0 {
                return bulk(p.member);
            }
            let mut item = vec![bulk(p.member)];
            if o.with_dist {
                item.push(distance_reply(p.dist_m / to_meters));
            }
            if o.with_hash {
                item.push(Reply::Int(p.score as i64));
            }
            if o.with_coord {
                item.push(coords_reply(p.long, p.lat));
            }
            Reply::Array(item)
        })
        .collect();
    Ok(Outcome::Reply(Reply::Array(items)))
}

fn search_read(ctx: &mut ReadCtx, argv: &[Bytes], form: Form) -> Reply {
    match search_generic(ctx.db(), ctx.now_ms, argv, form) {
        Ok(Outcome::Reply(reply)) | Err(reply) => reply,
        // Read forms take no destination.
        Ok(Outcome::Store { .. }) => syntax_error(),
    }
}

fn search_write(ctx: &mut WriteCtx, argv: &[Bytes], form: Form) -> Reply {
    let now_ms = ctx.now_ms;
    let outcome = search_generic(ctx.db(), now_ms, argv, form);
    let (key, entries) = match outcome {
        Ok(Outcome::Reply(reply)) | Err(reply) => return reply,
        Ok(Outcome::Store { key, entries }) => (key, entries),
    };
    let refs: Vec<(&[u8], f64)> = entries.iter().map(|(m, s)| (&m[..], *s)).collect();
    let event = if form.is_search() {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    store_result(ctx, &key, &refs, event)
}

fn no_syntax(_argv: &[Bytes]) -> Result<(), Reply> {
    Ok(())
}

fn georadius(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    search_write(ctx, argv, Form::Radius { store: true })
}

fn georadiusbymember(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    search_write(ctx, argv, Form::ByMember { store: true })
}

fn georadius_ro(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    search_read(ctx, argv, Form::Radius { store: false })
}

fn georadiusbymember_ro(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    search_read(ctx, argv, Form::ByMember { store: false })
}

fn geosearch(ctx: &mut ReadCtx, argv: &[Bytes]) -> Reply {
    search_read(ctx, argv, Form::Search)
}

fn geosearchstore(ctx: &mut WriteCtx, argv: &[Bytes]) -> Reply {
    search_write(ctx, argv, Form::SearchStore)
}

// ---------------------------------------------------------------------------------------------
// The table

const GEO: u32 = acl::GEO;
const G: Group = Group::Geo;
const SEARCH: &str = "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index.";
const SEARCH_BOX: &str = "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape";

#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    cmd("geoadd", -5, WRITE | DENYOOM, GEO, Keys::ONE, G, "3.2.0", "Add one or more geospatial items in the geospatial index represented using a sorted set", Handler::Write(geoadd_check, geoadd)).complexity("O(log(N)) for each item added, where N is the number of elements in the sorted set."),
    cmd("geodist", -4, READONLY, GEO, Keys::ONE, G, "3.2.0", "Returns the distance between two members of a geospatial index", Handler::Read(geodist)).complexity("O(log(N))"),
    cmd("geohash", -2, READONLY, GEO, Keys::ONE, G, "3.2.0", "Returns members of a geospatial index as standard geohash strings", Handler::Read(geohash_cmd)).complexity("O(log(N)) for each member requested, where N is the number of elements in the sorted set."),
    cmd("geopos", -2, READONLY, GEO, Keys::ONE, G, "3.2.0", "Returns longitude and latitude of members of a geospatial index", Handler::Read(geopos)).complexity("O(N) where N is the number of members requested."),
    cmd("georadius", -6, WRITE | DENYOOM, GEO, Keys::ONE, G, "3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a point", Handler::Write(no_syntax, georadius)).key_specs(GEORADIUS_KEYS).complexity(SEARCH),
    cmd("georadiusbymember", -5, WRITE | DENYOOM, GEO, Keys::ONE, G, "3.2.0", "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a member", Handler::Write(no_syntax, georadiusbymember)).key_specs(GEORADIUSBYMEMBER_KEYS).complexity(SEARCH),
    cmd("georadius_ro", -6, READONLY, GEO, Keys::ONE, G, "3.2.10", "A read-only variant for GEORADIUS", Handler::Read(georadius_ro)).complexity(SEARCH),
    cmd("georadiusbymember_ro", -5, READONLY, GEO, Keys::ONE, G, "3.2.10", "A read-only variant for GEORADIUSBYMEMBER", Handler::Read(georadiusbymember_ro)).complexity(SEARCH),
    cmd("geosearch", -7, READONLY, GEO, Keys::ONE, G, "6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.", Handler::Read(geosearch)).complexity(SEARCH_BOX),
    cmd("geosearchstore", -8, WRITE | DENYOOM, GEO, Keys { first: 1, last: 2, step: 1 }, G, "6.2.0", "Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle, and store the result in another key.", Handler::Write(no_syntax, geosearchstore)).complexity(SEARCH_BOX),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_have_four_decimals() {
        assert_eq!(distance_text(0.0), "0.0000");
        assert_eq!(distance_text(166274.15156960033), "166274.1516");
        assert_eq!(distance_text(0.00004), "0.0000");
        assert_eq!(distance_text(12.5), "12.5000");
    }

    #[test]
    fn coordinates_print_like_redis() {
        let text = |v| match coord_reply(v) {
            Reply::DoubleText(t) => String::from_utf8(t.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(text(13.361389338970184), "13.36138933897018433");
        assert_eq!(text(-0.0), "0");
        assert_eq!(text(2.0), "2");
    }
}
