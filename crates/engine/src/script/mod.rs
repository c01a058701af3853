//! Lua scripting: EVAL's script cache and FUNCTION's libraries (replicated state), the Lua VMs
//! that run them, and how a running script reaches the keyspace (`redis.call`).
//!
//! - `vm`: one sandboxed Lua 5.1 VM and the `redis` API (`prelude.lua`).
//! - `convert`: Redis's reply ↔ Lua conversion rules (RESP2 and RESP3).
//! - `function`: FUNCTION LOAD's libraries and `redis.register_function`.
//! - `cjson`, `cmsgpack`, `lstruct`, `lbit`: the libraries Redis ships, in Rust.
//!
//! A write script runs inside its log entry on every node: its commands go through
//! `exec::run_command` with the entry's frozen time, and math.random is seeded from the entry,
//! so every node computes the same result. The cache (sha → body) is replicated: EVAL and
//! SCRIPT LOAD add to it on every node, SCRIPT FLUSH empties it, snapshots carry it, so an
//! EVALSHA in the log means the same script on every node and after every restart.
//! Architecture invariant: a VM holds no state that outlives an invocation except compiled
//! functions, which are a pure function of the cache (globals are read-only).

pub mod cjson;
pub mod cmsgpack;
pub mod convert;
pub mod function;
pub mod lbit;
pub mod lstruct;
pub mod vm;

/// Argument checks with the Lua C API's error texts, for the Rust libraries.
pub(crate) mod args;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use cairn_resp::Reply;
use mlua::{Function, Lua, MultiValue, Table, Value};

use crate::engine::{ReadCtx, WriteCtx};
use crate::table::{self, Handler, Rejection, SessionCmd, flag};

pub use function::Libraries;
pub use vm::Vm;

/// Script flags (the `#!lua flags=` shebang, `redis.register_function`'s `flags`).
pub mod sflag {
    pub const NO_WRITES: u32 = 1 << 0;
    pub const ALLOW_OOM: u32 = 1 << 1;
    pub const ALLOW_STALE: u32 = 1 << 2;
    pub const NO_CLUSTER: u32 = 1 << 3;
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 4;
    pub const ALLOW_KEY_LOCKING: u32 = 1 << 5;
    /// No shebang: a script as Redis 6 ran it (may write, no flag checks).
    pub const EVAL_COMPAT: u32 = 1 << 31;

    pub const NAMES: &[(u32, &str)] = &[
        (NO_WRITES, "no-writes"),
        (ALLOW_OOM, "allow-oom"),
        (ALLOW_STALE, "allow-stale"),
        (NO_CLUSTER, "no-cluster"),
        (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
        (ALLOW_KEY_LOCKING, "allow-key-locking"),
    ];

    /// Whether a script with `flags` is refused while its node is over `maxmemory` (Redis
    /// gives it the `denyoom` command flag): it declared flags, and neither `allow-oom` nor
    /// `no-writes` among them.
    pub fn denies_oom(flags: u32) -> bool {
        flags & EVAL_COMPAT == 0 && flags & (ALLOW_OOM | NO_WRITES) == 0
    }
}

/// Whether the command `name` runs a script (EVAL, EVALSHA, FCALL and their `_RO` forms).
pub fn is_script_command(name: &str) -> bool {
    matches!(
        name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// SHA-1 of `bytes` as 40 lowercase hex digits (script names).
pub fn sha1hex(bytes: &[u8]) -> String {
    sha1_smol::Sha1::from(bytes).digest().to_string()
}

/// One cached EVAL script.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub body: Bytes,
    pub flags: u32,
}

/// Whether a script is running and whether it may be killed: shared with the node, whose
/// sessions answer -BUSY and whose SCRIPT KILL / FUNCTION KILL set `kill`. Node-local; a
/// killed script made no writes, so state stays a function of the log.
#[derive(Debug, Default)]
pub struct ScriptControl {
    /// A script is running.
    pub running: AtomicBool,
    /// The running script has written (SCRIPT KILL then answers UNKILLABLE).
    pub wrote: AtomicBool,
    /// The running script is an EVAL (not an FCALL).
    pub is_eval: AtomicBool,
    /// Set by SCRIPT KILL / FUNCTION KILL; checked by the instruction hook.
    pub kill: AtomicBool,
    /// The commands scripts called since the node last took them (its command statistics).
    calls: Mutex<Vec<ScriptCall>>,
}

/// A command a script called, and how it ended.
pub struct ScriptCall {
    pub spec: &'static crate::Spec,
    pub outcome: CallOutcome,
}

impl std::fmt::Debug for ScriptCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.spec.name, self.outcome)
    }
}

#[derive(Debug, PartialEq)]
pub enum CallOutcome {
    Done,
    /// It ran and answered this error.
    Failed(Bytes),
    /// Refused before it ran (arity, ACL, a write in a read-only script, OOM …) with this
    /// error.
    Rejected(Bytes),
}

impl ScriptControl {
    fn record(&self, spec: &'static crate::Spec, outcome: CallOutcome) {
        self.calls
            .lock()
            .expect("script calls lock")
            .push(ScriptCall { spec, outcome });
    }

    /// The commands scripts called since the last take.
    pub fn take_calls(&self) -> Vec<ScriptCall> {
        let mut calls = self.calls.lock().expect("script calls lock");
        if calls.is_empty() {
            return Vec::new();
        }
        std::mem::take(&mut *calls)
    }
}

/// Replicated scripting state plus the node's VMs.
pub struct Scripting {
    vm: OnceLock<Vm>,
    scripts: BTreeMap<String, Script>,
    pub(crate) libraries: Libraries,
    pub(crate) control: Arc<ScriptControl>,
}

impl Default for Scripting {
    fn default() -> Self {
        Scripting::new()
    }
}

impl Scripting {
    pub fn new() -> Scripting {
        Scripting {
            vm: OnceLock::new(),
            scripts: BTreeMap::new(),
            libraries: Libraries::default(),
            control: Arc::new(ScriptControl::default()),
        }
    }

    /// The EVAL VM, made on first use.
    pub fn vm(&self) -> &Vm {
        self.vm.get_or_init(|| {
            let vm = Vm::new().expect("the Lua VM initializes");
            let control = self.control.clone();
            vm.set_interrupt(Arc::new(move || control.kill.load(Ordering::Relaxed)));
            vm
        })
    }

    pub fn script(&self, sha: &str) -> Option<&Script> {
        self.scripts.get(sha)
    }

    /// The flags a script command (EVAL, EVALSHA, FCALL and their `_RO` forms) would run
    /// its script with; `None` when it names no script that can run (the command answers its
    /// own error).
    pub fn flags_of(&self, argv: &[Bytes]) -> Option<u32> {
        let name = argv.first()?.to_ascii_lowercase();
        let target = argv.get(1)?;
        match &name[..] {
            b"eval" | b"eval_ro" => shebang_flags(target).ok().map(|(flags, _)| flags),
            b"evalsha" | b"evalsha_ro" => {
                let sha = String::from_utf8_lossy(target).to_ascii_lowercase();
                self.script(&sha).map(|s| s.flags)
            }
            b"fcall" | b"fcall_ro" => {
                let name = std::str::from_utf8(target).ok()?;
                self.libraries.function(name).map(|(_, f)| f.flags)
            }
            _ => None,
        }
    }

    pub fn scripts(&self) -> impl Iterator<Item = (&String, &Script)> {
        self.scripts.iter()
    }

    pub fn libraries(&self) -> &Libraries {
        &self.libraries
    }

    pub fn control(&self) -> &Arc<ScriptControl> {
        &self.control
    }

    /// SCRIPT LOAD / EVAL: compiles `body` and caches it; its sha, or the error Redis gives.
    pub fn add_script(&mut self, body: &Bytes) -> Result<String, Reply> {
        let sha = sha1hex(body);
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, skip) = shebang_flags(body)?;
        let f = compile_script(self.vm(), body, skip)?;
        let _ = self
            .vm()
            .lua
            .set_named_registry_value(&format!("f_{sha}"), f);
        self.scripts.insert(
            sha.clone(),
            Script {
                body: body.clone(),
                flags,
            },
        );
        Ok(sha)
    }

    /// Puts a script back from a snapshot (compiled when first called).
    pub(crate) fn restore_script(&mut self, body: Bytes) -> Result<(), String> {
        let (flags, _) = shebang_flags(&body).map_err(|_| "a script's shebang".to_owned())?;
        self.scripts.insert(sha1hex(&body), Script { body, flags });
        Ok(())
    }

    /// The compiled function of a cached script.
    pub fn function(&self, sha: &str) -> Result<Function, Reply> {
        let vm = self.vm();
        let name = format!("f_{sha}");
        if let Ok(Some(f)) = vm.lua.named_registry_value::<Option<Function>>(&name) {
            return Ok(f);
        }
        let script = self.scripts.get(sha).ok_or_else(noscript)?;
        let (_, skip) = shebang_flags(&script.body)?;
        let f = compile_script(vm, &script.body, skip)?;
        let _ = vm.lua.set_named_registry_value(&name, f.clone());
        Ok(f)
    }

    /// SCRIPT FLUSH: forgets every script and starts a new VM, as Redis does.
    pub fn flush_scripts(&mut self) {
        self.scripts.clear();
        self.vm = OnceLock::new();
    }
}

pub fn noscript() -> Reply {
    Reply::error_static("NOSCRIPT No matching script. Please use EVAL.")
}

fn compile_script(vm: &Vm, body: &[u8], skip: usize) -> Result<Function, Reply> {
    // The shebang line is dropped but its newline kept, so line numbers stay the user's.
    vm.compile(&body[skip..], vm::USER_SCRIPT)
        .map_err(|message| {
            Reply::error(one_line(&format!(
                "ERR Error compiling script (new function): {message}"
            )))
        })
}

/// Parses a `#!lua flags=...` first line: the flags, and the length to skip. No shebang gives
/// `EVAL_COMPAT`.
pub fn shebang_flags(body: &[u8]) -> Result<(u32, usize), Reply> {
    if !body.starts_with(b"#!") {
        return Ok((sflag::EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err(Reply::error_static("ERR Invalid script shebang"));
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_ascii_whitespace();
    let Some(engine) = parts.next() else {
        return Err(Reply::error_static("ERR Invalid engine in script shebang"));
    };
    if engine != "#!lua" {
        return Err(Reply::error(format!(
            "ERR Unexpected engine in script shebang: {engine}"
        )));
    }
    let mut flags = 0;
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(Reply::error(format!(
                "ERR Unknown lua shebang option: {part}"
            )));
        };
        for name in list.split(',').filter(|n| !n.is_empty()) {
            match sflag::NAMES.iter().find(|(_, n)| *n == name) {
                Some((bit, _)) => flags |= bit,
                None => {
                    return Err(Reply::error(format!(
                        "ERR Unexpected flag in script shebang: {name}"
                    )));
                }
            }
        }
    }
    Ok((flags, end))
}

pub(crate) fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

// ---------------------------------------------------------------------------------------------
// Running a script

/// Where a script's commands run: inside a log entry (EVAL, FCALL) or against local state
/// (EVAL_RO, FCALL_RO, read-only scripts).
pub enum Caller<'a, 'b> {
    Write(&'a mut WriteCtx<'b>),
    Read(&'a mut ReadCtx<'b>),
}

struct RunState<'a, 'b, 'k> {
    caller: Caller<'a, 'b>,
    read_only: bool,
    /// `allow-key-locking`: the script may touch only the keys it declared.
    declared: Option<&'k [Bytes]>,
    /// `allow-oom`: the script may write although its node was over `maxmemory`.
    allow_oom: bool,
}

/// What to run and how.
pub struct Invocation<'k> {
    pub f: Function,
    /// The sha (EVAL) or function name (FCALL) errors name.
    pub name: String,
    pub keys: &'k [Bytes],
    pub args: &'k [Bytes],
    /// FCALL passes KEYS and ARGV as arguments; EVAL sets them as globals.
    pub is_eval: bool,
    pub read_only: bool,
    /// The script's flags (`sflag`).
    pub flags: u32,
    pub seed: u64,
}

/// Runs a script on `vm` and returns its reply.
pub fn run(vm: &Vm, control: &ScriptControl, caller: Caller, inv: Invocation) -> Reply {
    let state = RefCell::new(RunState {
        caller,
        read_only: inv.read_only,
        declared: (inv.flags & sflag::ALLOW_KEY_LOCKING != 0).then_some(inv.keys),
        allow_oom: inv.flags & sflag::EVAL_COMPAT == 0 && inv.flags & sflag::ALLOW_OOM != 0,
    });
    control.kill.store(false, Ordering::Relaxed);
    control.wrote.store(false, Ordering::Relaxed);
    control.is_eval.store(inv.is_eval, Ordering::Relaxed);
    control.running.store(true, Ordering::Relaxed);
    vm.begin(inv.seed);
    let lua = &vm.lua;
    let result = lua.scope(|scope| {
        let call = scope.create_function(|lua, args: MultiValue| {
            if let Some(Value::LightUserData(marker)) = args.front()
                && *marker == acl_check_marker()
            {
                let allowed = acl_check(&state.borrow(), &args);
                return Ok((Value::Boolean(allowed), false));
            }
            let resp3 = vm.hooks.raw_get::<Option<i64>>(&vm.names.resp)? == Some(3);
            let mut st = state.borrow_mut();
            match script_call(&mut st, control, lua, args) {
                Ok(reply) => {
                    let failed = reply.is_error();
                    Ok((convert::reply_to_lua(lua, &reply, resp3)?, failed))
                }
                Err(message) => Ok((Value::Table(convert::err(lua, message)?), true)),
            }
        })?;
        vm.hooks.raw_set(&vm.names.call, call)?;
        vm.hooks.raw_set(&vm.names.resp, 2)?;
        let keys = string_array(lua, inv.keys)?;
        let args = string_array(lua, inv.args)?;
        let outcome = if inv.is_eval {
            vm.globals.raw_set(&vm.names.keys, keys)?;
            vm.globals.raw_set(&vm.names.argv, args)?;
            vm.call(&inv.f, None, None)
        } else {
            vm.call(&inv.f, Some((keys, args)), None)
        };
        let resp3 = vm.hooks.raw_get::<Option<i64>>(&vm.names.resp)? == Some(3);
        vm.hooks.raw_set(&vm.names.call, Value::Nil)?;
        vm.hooks.raw_set(&vm.names.resp, Value::Nil)?;
        Ok(match outcome {
            Ok(value) => convert::lua_to_reply(&value, resp3),
            Err(error) => error_reply(&error, &inv.name),
        })
    });
    control.running.store(false, Ordering::Relaxed);
    control.kill.store(false, Ordering::Relaxed);
    result.unwrap_or_else(|e| Reply::error(one_line(&format!("ERR {e}"))))
}

fn string_array(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        t.raw_set(i + 1, lua.create_string(item)?)?;
    }
    Ok(t)
}

/// The reply for a script that raised `error` (the table the error handler built).
fn error_reply(error: &Value, name: &str) -> Reply {
    let Value::Table(t) = error else {
        let text = match error {
            Value::String(s) => s.to_string_lossy(),
            _ => "execution failure".to_owned(),
        };
        let text: String = text.chars().take(100).collect();
        return Reply::error(one_line(&format!(
            "ERR Error running script {name}, {text}\n"
        )));
    };
    let field = |key: &str| -> Option<String> {
        match t.raw_get::<Value>(key).ok()? {
            Value::String(s) => Some(s.to_string_lossy()),
            Value::Number(n) if n.fract() == 0.0 => Some((n as i64).to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::Integer(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let mut text = field("err").unwrap_or_default();
    if let (Some(source), Some(line)) = (field("source"), field("line")) {
        text.push_str(&format!(" script: {name}, on {source}:{line}."));
    }
    Reply::error(one_line(&text))
}

/// `redis.call`: one command from a script, with Redis's script rules. `Err` is a scripting
/// error's text (the caller prefixes `ERR`).
fn script_call(
    st: &mut RunState<'_, '_, '_>,
    control: &ScriptControl,
    _lua: &Lua,
    args: MultiValue,
) -> Result<Reply, &'static str> {
    if args.is_empty() {
        return Err("Please specify at least one argument for this redis lib call");
    }
    let mut argv = Vec::with_capacity(args.len());
    for arg in args {
        argv.push(match arg {
            Value::String(s) => Bytes::copy_from_slice(&s.as_bytes()),
            Value::Number(n) => Bytes::from(format_17g(n)),
            Value::Integer(n) => Bytes::from(n.to_string()),
            _ => return Err("Lua redis lib command arguments must be strings or integers"),
        });
    }
    let spec = match table::resolve(&argv) {
        Ok(spec) => spec,
        Err((Rejection::Arity, _)) => {
            if let Some(spec) = table::lookup(&argv[0]) {
                control.record(spec, CallOutcome::Rejected(Bytes::from_static(ARITY_ERROR)));
            }
            return Err("Wrong number of args calling Redis command from script");
        }
        Err(_) => return Err("Unknown Redis command called from script"),
    };
    let outcome = checked_call(st, control, spec, argv);
    control.record(
        spec,
        match &outcome {
            Ok(Reply::Error(text)) if &text[..] == OOM_ERROR.as_bytes() => {
                CallOutcome::Rejected(text.clone())
            }
            Ok(Reply::Error(text)) => CallOutcome::Failed(text.clone()),
            Ok(_) => CallOutcome::Done,
            Err(message) => CallOutcome::Rejected(Bytes::from(format!("ERR {message}"))),
        },
    );
    outcome
}

const ARITY_ERROR: &[u8] = b"ERR Wrong number of args calling Redis command from script";

/// The refusal of a command that may add data, while over `maxmemory`.
const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// `redis.call` of a known command: Redis's script rules, then the command.
fn checked_call(
    st: &mut RunState<'_, '_, '_>,
    control: &ScriptControl,
    spec: &'static crate::Spec,
    argv: Vec<Bytes>,
) -> Result<Reply, &'static str> {
    if spec.flags & flag::NOSCRIPT != 0 {
        return Err("This Redis command is not allowed from script");
    }
    if let Some(reply) = refuse_block_option(spec, &argv) {
        return Ok(reply);
    }
    if st.read_only && spec.flags & (flag::WRITE | flag::MAY_REPLICATE) != 0 {
        return Err("Write commands are not allowed from read-only scripts.");
    }
    // Accepted over `maxmemory`: a script that has not written yet may not start with a
    // command that can add data (Redis's `scriptVerifyOOM`); once it has, it runs to its end.
    if let Caller::Write(ctx) = &st.caller
        && ctx.engine.oom
        && !st.allow_oom
        && spec.flags & flag::DENYOOM != 0
        && !control.wrote.load(Ordering::Relaxed)
    {
        return Ok(Reply::error_static(OOM_ERROR));
    }
    if spec.flags & flag::WRITE != 0 {
        control.wrote.store(true, Ordering::Relaxed);
    }
    if let Some(declared) = st.declared {
        let mut undeclared = None;
        spec.keys_of(&argv, |i, _| {
            if declared.contains(&argv[i]) {
                return true;
            }
            undeclared = Some(i);
            false
        });
        if undeclared.is_some() {
            return Err(
                "Script with the allow-key-locking flag accessed a key it did not declare in KEYS",
            );
        }
    }
    if let Caller::Write(ctx) = &st.caller
        && let Some(name) = &ctx.engine.caller
    {
        acl_allows(ctx.engine, name, spec, &argv)?;
    }
    // MONITOR shows the call as the script made it, once it has run.
    let shown = st.tap().is_on().then(|| argv.clone());
    let argv = sort_in_script(&st.caller, spec.name, argv);
    let reply = match (spec.handler, &mut st.caller) {
        (Handler::Session(cmd), caller) => session_command(caller, cmd, &argv),
        (Handler::Read(read), Caller::Read(ctx)) => read(ctx, &argv),
        (_, Caller::Read(_)) => {
            return Err("Write commands are not allowed from read-only scripts.");
        }
        (_, Caller::Write(ctx)) => crate::exec::run_command(ctx, spec, &argv),
    };
    if let Some(argv) = shown {
        let db = match &st.caller {
            Caller::Write(ctx) => ctx.db,
            Caller::Read(ctx) => ctx.db,
        };
        st.tap().record(db, true, &argv);
    }
    Ok(reply)
}

impl RunState<'_, '_, '_> {
    fn tap(&self) -> &crate::tap::Tap {
        match &self.caller {
            Caller::Write(ctx) => &ctx.engine.tap,
            Caller::Read(ctx) => &ctx.engine.tap,
        }
    }
}

/// The first argument with which the `call` hook answers `redis.acl_check_cmd` instead of
/// running a command: a value no script can make (the only light userdata scripts see is
/// cjson's null, a null pointer).
pub(crate) fn acl_check_marker() -> mlua::LightUserData {
    mlua::LightUserData(std::ptr::dangling_mut())
}

/// `redis.acl_check_cmd`: whether the script's user may run the command in `args` (after
/// the marker; the command is known to exist). Scripts with no user (an unrestricted
/// caller) may run anything.
fn acl_check(st: &RunState<'_, '_, '_>, args: &MultiValue) -> bool {
    let argv: Vec<Bytes> = args
        .iter()
        .skip(1)
        .filter_map(|a| match a {
            Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
            _ => None,
        })
        .collect();
    let (Caller::Write(ctx), Ok(spec)) = (&st.caller, table::resolve(&argv)) else {
        return true;
    };
    match &ctx.engine.caller {
        Some(name) => acl_allows(ctx.engine, name, spec, &argv).is_ok(),
        None => true,
    }
}

/// XREAD and XREADGROUP with BLOCK answer an error in a script (Redis refuses rather than
/// run them without blocking, as MULTI does).
fn refuse_block_option(spec: &crate::Spec, argv: &[Bytes]) -> Option<Reply> {
    if !matches!(spec.name, "xread" | "xreadgroup") {
        return None;
    }
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let word = &argv[i];
        if word.eq_ignore_ascii_case(b"block") && more > 0 {
            return Some(Reply::error(format!(
                "ERR {} command is not allowed with BLOCK option from scripts",
                String::from_utf8_lossy(&argv[0])
            )));
        } else if word.eq_ignore_ascii_case(b"count") && more > 0 {
            i += 1;
        } else if word.eq_ignore_ascii_case(b"group") && more > 1 {
            i += 2;
        } else if !word.eq_ignore_ascii_case(b"noack") {
            break;
        }
        i += 1;
    }
    None
}

/// Checks a script's call against the rules of the user running the script (Redis's
/// `scriptVerifyACL`); a user deleted since the entry was made may run nothing.
fn acl_allows(
    engine: &crate::Engine,
    user: &[u8],
    spec: &'static crate::Spec,
    argv: &[Bytes],
) -> Result<(), &'static str> {
    use crate::acl::Denied;
    let Some(user) = engine.users().get(user) else {
        return Err("The user executing the script can't run this command or subcommand");
    };
    match user.check(spec, argv) {
        Ok(()) => Ok(()),
        Err(Denied::Command) => {
            Err("The user executing the script can't run this command or subcommand")
        }
        Err(Denied::Key(_)) => Err(
            "The user executing the script can't access at least one of the keys mentioned in the command",
        ),
        Err(Denied::Channel(_)) => Err(
            "The user executing the script can't publish to the channel mentioned in the command",
        ),
    }
}

/// Redis sorts a set that SORT would leave unsorted (`BY` a constant) when a script asks, so
/// that scripts see one order everywhere: the BY options go and ALPHA comes.
fn sort_in_script(caller: &Caller, name: &str, argv: Vec<Bytes>) -> Vec<Bytes> {
    if !matches!(name, "sort" | "sort_ro") {
        return argv;
    }
    let mut constant_by = false;
    let mut by_at = Vec::new();
    let mut j = 2;
    while j < argv.len() {
        let word = argv[j].to_ascii_lowercase();
        let left = argv.len() - j - 1;
        match word.as_slice() {
            b"limit" if left >= 2 => j += 2,
            b"get" | b"store" if left >= 1 => j += 1,
            b"by" if left >= 1 => {
                constant_by |= !argv[j + 1].contains(&b'*');
                by_at.push(j);
                j += 1;
            }
            _ => {}
        }
        j += 1;
    }
    let (db, now_ms, engine) = match caller {
        Caller::Write(ctx) => (ctx.db, ctx.now_ms, &*ctx.engine),
        Caller::Read(ctx) => (ctx.db, ctx.now_ms, ctx.engine),
    };
    let is_set = engine
        .db(db)
        .get(&argv[1], now_ms)
        .is_some_and(|slot| matches!(slot.value, crate::value::Value::Set(_)));
    if !constant_by || !is_set {
        return argv;
    }
    let mut out: Vec<Bytes> = argv
        .iter()
        .enumerate()
        .filter(|(i, _)| !by_at.iter().any(|b| *i == *b || *i == *b + 1))
        .map(|(_, a)| a.clone())
        .collect();
    out.push(Bytes::from_static(b"ALPHA"));
    out
}

/// `%.17g`, as Redis turns a Lua number argument into a string.
fn format_17g(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.to_owned();
    }
    cairn_resp::format_double(n)
}

/// The connection commands a script may call, with a meaning the engine gives
/// deterministically: PING, ECHO, TIME (the entry's time, frozen for the whole script),
/// SELECT (switches the script's own database). PUBLISH from a script delivers nothing and
/// answers 0 receivers (messages would need the origin node to publish them after applying).
fn session_command(caller: &mut Caller, cmd: SessionCmd, argv: &[Bytes]) -> Reply {
    let (now_ms, databases) = match caller {
        Caller::Write(ctx) => (ctx.now_ms, ctx.engine.databases()),
        Caller::Read(ctx) => (ctx.now_ms, ctx.engine.databases()),
    };
    match cmd {
        SessionCmd::Ping => match argv.get(1) {
            Some(msg) => Reply::Bulk(msg.clone()),
            None => Reply::simple("PONG"),
        },
        SessionCmd::Echo => Reply::Bulk(argv[1].clone()),
        SessionCmd::Time => Reply::Array(vec![
            Reply::bulk(Bytes::from((now_ms / 1000).to_string())),
            Reply::bulk(Bytes::from(((now_ms % 1000) * 1000).to_string())),
        ]),
        SessionCmd::Select => {
            let Some(index) = crate::commands::parse_i64(&argv[1]) else {
                return crate::commands::not_integer();
            };
            if index < 0 || index as usize >= databases {
                return Reply::error_static(crate::commands::DB_OUT_OF_RANGE);
            }
            match caller {
                Caller::Write(ctx) => ctx.db = index as usize,
                Caller::Read(ctx) => ctx.db = index as usize,
            }
            Reply::ok()
        }
        SessionCmd::Publish | SessionCmd::Spublish => Reply::Int(0),
        _ => Reply::error_static("ERR This Redis command is not allowed from script"),
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::entry::{Body, Entry, Origin};
    use crate::testing::{render, split_args};

    fn entry(line: &str, request: u64, time_ms: u64) -> Entry {
        Entry {
            db: 0,
            time_ms,
            seed: request.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            origin: Origin { node: 1, request },
            body: Body::Command(split_args(line).unwrap()),
        }
    }

    fn apply_all(engine: &mut Engine, lines: &[&str]) -> Vec<String> {
        lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                render(&engine.apply(&entry(line, i as u64 + 1, 1_000_000 + i as u64)))
            })
            .collect()
    }

    const WORKLOAD: &[&str] = &[
        "EVAL \"return redis.call('set', 'r', tostring(math.random()))\" 0",
        "EVAL \"local t = redis.call('time'); return redis.call('set', 't', t[1] .. '.' .. t[2])\" 0",
        "SCRIPT LOAD \"return redis.call('incrby', KEYS[1], math.random(1000))\"",
        "EVAL \"redis.call('set', 'e', 1, 'px', 5); return redis.call('exists', 'e')\" 0",
        "FUNCTION LOAD \"#!lua name=lib\\nredis.register_function('r', function(k) return redis.call('rpush', k[1], math.random(100)) end)\"",
        "FCALL r 1 l",
    ];

    /// Two engines applying the same entries agree, whatever the scripts draw; and an engine
    /// restored from a snapshot runs the cached script, the library and a following random
    /// script exactly as the original does.
    #[test]
    fn scripts_are_a_function_of_the_log_and_survive_snapshots() {
        let mut a = Engine::new(16);
        let mut b = Engine::new(16);
        let ra = apply_all(&mut a, WORKLOAD);
        let rb = apply_all(&mut b, WORKLOAD);
        assert_eq!(ra, rb);
        assert_eq!(a.digest(), b.digest());
        assert_eq!(
            ra[3], ":1",
            "the script's time is frozen: the key has not expired"
        );

        let mut restored = Engine::restore(&a.snapshot(), 16).unwrap();
        assert_eq!(restored.digest(), a.digest());
        let sha = super::sha1hex(b"return redis.call('incrby', KEYS[1], math.random(1000))");
        let next = [
            format!("EVALSHA {sha} 1 c"),
            "FCALL r 1 l".to_owned(),
            "EVAL \"return {math.random(), math.random(10)}\" 0".to_owned(),
        ];
        for (i, line) in next.iter().enumerate() {
            let e = entry(line, 100 + i as u64, 2_000_000);
            assert_eq!(render(&a.apply(&e)), render(&restored.apply(&e)), "{line}");
        }
        assert_eq!(a.digest(), restored.digest());
        assert_eq!(
            restored.scripting().libraries().len(),
            1,
            "the library came back from the snapshot"
        );
    }

    /// Different entries draw different numbers; one entry always draws the same.
    #[test]
    fn math_random_is_seeded_from_the_entry() {
        let mut engine = Engine::new(1);
        let line = "EVAL \"return tostring(math.random())\" 0";
        let first = render(&engine.apply(&entry(line, 1, 0)));
        let again = render(&engine.apply(&entry(line, 1, 0)));
        let other = render(&engine.apply(&entry(line, 2, 0)));
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    /// Redis's rand48: `math.randomseed(10)` gives the numbers Redis gives.
    #[test]
    fn rand48_matches_redis() {
        let mut engine = Engine::new(1);
        let line = "EVAL \"math.randomseed(10); return tostring(math.random())\" 0";
        // redis-server 7.0.15 answers this.
        assert_eq!(
            render(&engine.apply(&entry(line, 1, 0))),
            "\"0.87885112309775\""
        );
    }

    /// A FUNCTION LOAD that never ends is stopped after its instruction budget, on every node
    /// at the same instruction.
    #[test]
    fn a_library_that_loops_is_stopped() {
        let mut engine = Engine::new(1);
        let line = "FUNCTION LOAD \"#!lua name=x\\nwhile 1 do end\"";
        let reply = render(&engine.apply(&entry(line, 1, 0)));
        assert!(reply.contains("FUNCTION LOAD timeout"), "{reply}");
    }
}
