//! One Lua 5.1 VM, sandboxed as Redis 7 sandboxes its own: only the base, table, string and
//! math libraries plus Redis's (`redis`, `cjson`, `cmsgpack`, `struct`, `bit`), no `os`, `io`,
//! `debug`, `require`, `loadfile` or `dofile`, bytecode refused, globals and libraries
//! read-only, and a memory limit. The `redis` API and the guards are Lua (`prelude.lua`); what
//! touches the keyspace is Rust, set per invocation by `run`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use mlua::{
    Function, HookTriggers, LightUserData, Lua, LuaOptions, MultiValue, StdLib, Table, Value,
    VmState,
};

use mlua::chunk::ChunkMode;

use super::args::{self, raise_err};
use super::{cjson, cmsgpack, lbit, lstruct};

/// How much memory one VM may hold (scripts, their data, cached functions). Redis sets no
/// limit; one keeps a runaway script from taking the node down.
pub const MEMORY_LIMIT_BYTES: usize = 1 << 30;

/// Instructions between two checks of the kill flag (Redis checks every 100,000 too).
pub const HOOK_INSTRUCTIONS: u32 = 100_000;

/// Chunk name of user scripts: errors read `user_script:1: ...`, as in Redis.
pub const USER_SCRIPT: &str = "@user_script";

#[derive(Clone)]
pub struct Vm {
    pub lua: Lua,
    /// What the running script may reach, set per invocation: `call` (the keyspace),
    /// `resp` (2 or 3, `redis.setresp`), `register` (FUNCTION LOAD only).
    pub hooks: Table,
    runner: Function,
    handler: Function,
    rand48: Arc<AtomicU64>,
    cjson: cjson::Shared,
    /// The environment of FUNCTION libraries (the load API while loading).
    library_env: Table,
    /// The table behind the read-only globals (where KEYS and ARGV go).
    pub globals: Table,
    budget: Arc<Budget>,
    /// The hook and global names a script invocation sets, made once (pushing a Rust `&str`
    /// as a key interns it again on every use).
    pub names: Names,
}

#[derive(Clone)]
pub struct Names {
    /// `hooks.call`: the running invocation's command function.
    pub call: mlua::LuaString,
    /// `hooks.resp`: the protocol `redis.setresp` chose.
    pub resp: mlua::LuaString,
    pub keys: mlua::LuaString,
    pub argv: mlua::LuaString,
}

impl Names {
    fn new(lua: &Lua) -> mlua::Result<Names> {
        Ok(Names {
            call: lua.create_string("call")?,
            resp: lua.create_string("resp")?,
            keys: lua.create_string("KEYS")?,
            argv: lua.create_string("ARGV")?,
        })
    }
}

/// Instruction budget of the running invocation, counted in hook ticks
/// (`HOOK_INSTRUCTIONS` each): deterministic, unlike a wall-clock limit, so every node stops a
/// runaway script at the same instruction.
#[derive(Debug, Default)]
struct Budget {
    ticks: AtomicU64,
    ticks_max: AtomicU64,
    /// Loading a FUNCTION library (the error is Redis's load timeout).
    loading: std::sync::atomic::AtomicBool,
}

/// A FUNCTION LOAD may run 50 million instructions (Redis gives it 500 ms of wall time).
pub const LOAD_TICKS_MAX: u64 = 500;
/// A script may run 20 billion instructions (minutes of CPU) before it is stopped: the node
/// runs scripts on its event loop, so a script that never ends would stop it for good, and
/// replaying its log entry would stop it again.
pub const SCRIPT_TICKS_MAX: u64 = 200_000;

/// Redis's rand48 (the 48-bit linear congruential generator of `rand.c`).
pub mod rand48 {
    const A: u64 = 0x5_DEEC_E66D;
    const C: u64 = 0xB;
    const MASK: u64 = (1 << 48) - 1;

    /// The state `srand48(seed)` gives.
    pub fn seeded(seed: i32) -> u64 {
        ((seed as u32 as u64) << 16) | 0x330E
    }

    /// Advances `state` and returns the next value (31 bits).
    pub fn next(state: u64) -> (u64, i32) {
        let x = (A.wrapping_mul(state).wrapping_add(C)) & MASK;
        (x, (x >> 17) as i32)
    }
}

/// `(int)` of a Lua number, as `luaL_checkint` truncates.
fn to_int(n: f64) -> i64 {
    if n.is_finite() && n.abs() < 9.2e18 {
        n as i64
    } else {
        i64::MIN
    }
}

fn in_script(hooks: &Table, names: &Names, what: &str) -> mlua::Result<()> {
    match hooks.raw_get::<Value>(&names.call)? {
        Value::Nil => Err(raise_err(&format!(
            "{what} can only be called inside a script invocation"
        ))),
        _ => Ok(()),
    }
}

/// `lua_tonumber` of an argument: numbers and numeric strings, else 0.
fn tonumber(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => Some(*n),
        Value::Integer(n) => Some(*n as f64),
        Value::String(s) => args::parse_number(&s.as_bytes()),
        _ => None,
    }
}

/// The `redis` functions that may raise, and math.random/randomseed.
fn api(
    lua: &Lua,
    hooks: &Table,
    names: &Names,
    rand48: &Arc<AtomicU64>,
    raw: &Table,
) -> mlua::Result<()> {
    let (h, n) = (hooks.clone(), names.clone());
    raw.set(
        "call",
        lua.create_function(move |_, args: MultiValue| {
            in_script(&h, &n, "redis.call/pcall")?;
            let call: Function = h.raw_get(&n.call)?;
            let (value, failed): (Value, bool) = call.call(args)?;
            if failed {
                let Value::Table(t) = &value else {
                    return Err(raise_err("redis.call failed"));
                };
                let text: String = t.raw_get("err").unwrap_or_default();
                return Err(mlua::Error::external(args::Raised::Table(text)));
            }
            Ok(value)
        })?,
    )?;
    let (h, n) = (hooks.clone(), names.clone());
    raw.set(
        "pcall",
        lua.create_function(move |_, args: MultiValue| {
            in_script(&h, &n, "redis.call/pcall")?;
            let call: Function = h.raw_get(&n.call)?;
            let (value, _): (Value, bool) = call.call(args)?;
            Ok(value)
        })?,
    )?;
    raw.set(
        "sha1hex",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return Err(raise_err("wrong number of arguments"));
            }
            let text = match &args[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                v @ (Value::Number(_) | Value::Integer(_)) => lua
                    .coerce_string(v.clone())?
                    .map(|s| s.as_bytes().to_vec())
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            Ok(super::sha1hex(&text))
        })?,
    )?;
    raw.set(
        "log",
        lua.create_function(|_, args: MultiValue| {
            if args.len() < 2 {
                return Err(raise_err("redis.log() requires two arguments or more."));
            }
            let Some(level) = tonumber(args.front()) else {
                return Err(raise_err("First argument must be a number (log level)."));
            };
            if !(0..=3).contains(&to_int(level)) {
                return Err(raise_err("Invalid debug level."));
            }
            // The engine does no I/O: script logs are not written anywhere.
            Ok(())
        })?,
    )?;
    let (h, n) = (hooks.clone(), names.clone());
    raw.set(
        "setresp",
        lua.create_function(move |_, args: MultiValue| {
            in_script(&h, &n, "redis.setresp")?;
            if args.len() != 1 {
                return Err(raise_err("redis.setresp() requires one argument."));
            }
            let resp = to_int(tonumber(args.front()).unwrap_or(0.0));
            if resp != 2 && resp != 3 {
                return Err(raise_err("RESP version must be 2 or 3."));
            }
            h.raw_set(&n.resp, resp)
        })?,
    )?;
    let (h, n) = (hooks.clone(), names.clone());
    raw.set(
        "set_repl",
        lua.create_function(move |_, args: MultiValue| {
            in_script(&h, &n, "redis.set_repl")?;
            if args.len() != 1 {
                return Err(raise_err("redis.set_repl() requires two arguments."));
            }
            let flags = to_int(tonumber(args.front()).unwrap_or(0.0));
            if !(0..=3).contains(&flags) {
                return Err(raise_err(
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                ));
            }
            Ok(())
        })?,
    )?;
    let (h, n) = (hooks.clone(), names.clone());
    raw.set(
        "acl_check_cmd",
        lua.create_function(move |lua, args: MultiValue| {
            in_script(&h, &n, "redis.acl_check_cmd")?;
            let mut argv = Vec::new();
            for arg in args {
                match arg {
                    Value::String(s) => argv.push(bytes::Bytes::copy_from_slice(&s.as_bytes())),
                    Value::Number(n) => argv.push(bytes::Bytes::from(cairn_resp::format_double(n))),
                    Value::Integer(n) => argv.push(bytes::Bytes::from(n.to_string())),
                    _ => {
                        return Err(raise_err(
                            "Lua redis lib command arguments must be strings or integers",
                        ));
                    }
                }
            }
            if argv.is_empty() {
                return Err(raise_err(
                    "Please specify at least one argument for this redis lib call",
                ));
            }
            if crate::table::resolve(&argv).is_err() {
                return Err(raise_err("Invalid command passed to redis.acl_check_cmd()"));
            }
            // The running invocation knows its user: its `call` hook answers for it.
            let Value::Function(call) = h.raw_get::<Value>(&n.call)? else {
                return Ok(true);
            };
            let mut args = vec![Value::LightUserData(super::acl_check_marker())];
            for a in argv {
                args.push(Value::String(lua.create_string(&a)?));
            }
            let (allowed, _) = call.call::<(Value, bool)>(MultiValue::from_iter(args))?;
            Ok(matches!(allowed, Value::Boolean(true)))
        })?,
    )?;
    let h = hooks.clone();
    raw.set(
        "register_function",
        lua.create_function(move |_, args: MultiValue| {
            let register = match h.raw_get::<Value>("register")? {
                Value::Function(f) => f,
                _ => {
                    return Err(raise_err(
                        "redis.register_function can only be called on FUNCTION LOAD command",
                    ));
                }
            };
            let (ok, message): (bool, Value) = register.call(args)?;
            if ok {
                Ok(())
            } else {
                let text = match message {
                    Value::String(s) => s.to_string_lossy(),
                    _ => String::new(),
                };
                Err(raise_err(&text))
            }
        })?,
    )?;
    let state = rand48.clone();
    raw.set(
        "random",
        lua.create_function(move |lua, args: MultiValue| {
            let (next, value) = rand48::next(state.load(Ordering::Relaxed));
            state.store(next, Ordering::Relaxed);
            // RAND48_MAX is i32::MAX; the modulo avoids r == 1, as in Redis.
            let max = f64::from(i32::MAX);
            let r = f64::from(value % i32::MAX) / max;
            let a: Vec<Value> = args.into_iter().collect();
            let int = |i: usize| -> mlua::Result<i64> {
                args::number(&a, i, "random")
                    .map(to_int)
                    .map_err(|m| args::raise(lua, m))
            };
            match a.len() {
                0 => Ok(r),
                1 => {
                    let u = int(0)?;
                    if u < 1 {
                        return Err(args::raise(
                            lua,
                            args::bad_arg(1, "random", "interval is empty"),
                        ));
                    }
                    Ok((r * u as f64).floor() + 1.0)
                }
                2 => {
                    let (l, u) = (int(0)?, int(1)?);
                    if l > u {
                        return Err(args::raise(
                            lua,
                            args::bad_arg(2, "random", "interval is empty"),
                        ));
                    }
                    Ok((r * (u - l + 1) as f64).floor() + l as f64)
                }
                _ => Err(args::raise(lua, "wrong number of arguments".to_owned())),
            }
        })?,
    )?;
    let state = rand48.clone();
    raw.set(
        "randomseed",
        lua.create_function(move |lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            let seed = args::number(&a, 0, "randomseed").map_err(|m| args::raise(lua, m))?;
            state.store(rand48::seeded(to_int(seed) as i32), Ordering::Relaxed);
            Ok(())
        })?,
    )?;
    raw.set(
        "errvalue",
        lua.create_function(|lua, (e, as_table): (Value, bool)| error_value(lua, e, as_table))?,
    )?;
    Ok(())
}

/// An error value as Redis's scripts see it: errors raised from Rust become the `{err=...}`
/// table or the string Redis would have raised (`as_table`: a Text error as a table, as the
/// error handler needs).
fn error_value(lua: &Lua, e: Value, as_table: bool) -> mlua::Result<Value> {
    let Value::Error(err) = &e else {
        return Ok(e);
    };
    let (text, table) = match err.downcast_ref::<args::Raised>() {
        Some(args::Raised::Table(text)) => (text.clone(), true),
        Some(args::Raised::Text(text)) => (text.clone(), false),
        None => (error_text(err), false),
    };
    if table || as_table {
        let t = lua.create_table()?;
        let text = if table { text } else { format!("ERR {text}") };
        t.raw_set("err", text)?;
        return Ok(Value::Table(t));
    }
    Ok(Value::String(lua.create_string(text)?))
}

impl Vm {
    pub fn new() -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        lua.set_memory_limit(MEMORY_LIMIT_BYTES)?;
        let hooks = lua.create_table()?;
        let rand48 = Arc::new(AtomicU64::new(rand48::seeded(0)));
        let raw = lua.create_table()?;
        let names = Names::new(&lua)?;
        api(&lua, &hooks, &names, &rand48, &raw)?;
        let cjson_config = cjson::Shared::default();
        let cjson_table = cjson::open(&lua, &cjson_config)?;
        cjson_table.set(
            "null",
            Value::LightUserData(LightUserData(std::ptr::null_mut())),
        )?;
        raw.set("cjson", cjson_table)?;
        raw.set("bit", lbit::open(&lua)?)?;
        raw.set("struct", lstruct::open(&lua)?)?;
        raw.set("cmsgpack", cmsgpack::open(&lua)?)?;
        let (runner, library_env, globals): (Function, Table, Table) = lua
            .load(include_str!("prelude.lua"))
            .set_name("=cairn")
            .set_mode(ChunkMode::Text)
            .call((raw, hooks.clone()))?;
        let handler = lua.create_function(error_handler)?;
        Ok(Vm {
            lua,
            hooks,
            names,
            runner,
            handler,
            rand48,
            cjson: cjson_config,
            library_env,
            globals,
            budget: Arc::new(Budget::default()),
        })
    }

    /// Compiles a script body (text only) as Redis names it, for `user_script:N` errors.
    pub fn compile(&self, body: &[u8], name: &str) -> Result<Function, String> {
        self.lua
            .load(body)
            .set_name(name)
            .set_mode(ChunkMode::Text)
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })
    }

    /// Compiles a FUNCTION library's code in the library environment.
    pub fn compile_library(&self, body: &[u8]) -> Result<Function, String> {
        self.lua
            .load(body)
            .set_name("@user_function")
            .set_mode(ChunkMode::Text)
            .set_environment(self.library_env.clone())
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })
    }

    /// Starts an invocation: math.random seeded from the entry, cjson's defaults back.
    pub fn begin(&self, seed: u64) {
        *self.cjson.lock().expect("cjson config") = cjson::Config::default();
        self.start_budget(false);
        self.seed_random(seed);
    }

    /// Seeds math.random for one invocation.
    pub fn seed_random(&self, seed: u64) {
        self.rand48
            .store(rand48::seeded(seed as i32), Ordering::Relaxed);
    }

    /// Calls `f` under the error handler (with `keys` and `args` for FCALL); `Ok(value)` or
    /// `Err(error value)`. `kill` is polled by an instruction-count hook.
    pub fn call(
        &self,
        f: &Function,
        keys_args: Option<(Table, Table)>,
        interrupt: Option<&(dyn Fn() -> bool + Send + Sync)>,
    ) -> Result<Value, Value> {
        let _ = interrupt;
        let result: mlua::Result<MultiValue> = match keys_args {
            Some((keys, args)) => self.runner.call((f, &self.handler, keys, args)),
            None => self.runner.call((f, &self.handler)),
        };
        match result {
            Ok(values) => {
                let mut values = values.into_iter();
                let ok = matches!(values.next(), Some(Value::Boolean(true)));
                let value = values.next().unwrap_or(Value::Nil);
                if ok { Ok(value) } else { Err(value) }
            }
            Err(e) => Err(Value::String(
                self.lua
                    .create_string(e.to_string())
                    .expect("string creation"),
            )),
        }
    }

    /// Installs the instruction-count hook: it stops the running script when `stop` says so
    /// (SCRIPT KILL) or when the invocation's instruction budget is spent.
    pub fn set_interrupt(&self, stop: Arc<dyn Fn() -> bool + Send + Sync>) {
        let triggers = HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS);
        let budget = self.budget.clone();
        let _ = self.lua.set_hook(triggers, move |_, _| {
            let ticks = budget.ticks.fetch_add(1, Ordering::Relaxed) + 1;
            if ticks > budget.ticks_max.load(Ordering::Relaxed) {
                return Err(if budget.loading.load(Ordering::Relaxed) {
                    raise_err("FUNCTION LOAD timeout")
                } else {
                    raise_err("Script exceeded the instruction limit and was stopped")
                });
            }
            if stop() {
                Err(raise_err("Script killed by user with SCRIPT KILL..."))
            } else {
                Ok(VmState::Continue)
            }
        });
    }

    /// Starts the instruction budget of an invocation (`loading`: a FUNCTION LOAD).
    pub fn start_budget(&self, loading: bool) {
        let max = if loading {
            LOAD_TICKS_MAX
        } else {
            SCRIPT_TICKS_MAX
        };
        self.budget.ticks.store(0, Ordering::Relaxed);
        self.budget.ticks_max.store(max, Ordering::Relaxed);
        self.budget.loading.store(loading, Ordering::Relaxed);
    }

    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }
}

/// Redis's `__redis__err__handler`: an error becomes a table `{err=..., source=..., line=...}`
/// naming the user frame it came from (C functions and Cairn's own Lua are skipped).
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let table = match error_value(lua, err, true)? {
        Value::Table(t) => t,
        other => {
            let text = match &other {
                Value::String(s) => s.to_string_lossy(),
                Value::Nil => "nil".to_owned(),
                Value::Boolean(b) => b.to_string(),
                Value::Number(n) => lua
                    .coerce_string(Value::Number(*n))?
                    .map(|s| s.to_string_lossy())
                    .unwrap_or_default(),
                Value::Integer(n) => n.to_string(),
                v => format!("{}: {:p}", v.type_name(), v.to_pointer()),
            };
            let t = lua.create_table()?;
            t.raw_set("err", format!("ERR {text}"))?;
            t
        }
    };
    for level in 1..64 {
        let found = lua.inspect_stack(level, |debug| {
            let source = debug.source();
            if source.what == "C" || source.source.as_deref() == Some("=cairn") {
                return None;
            }
            Some((source.source.map(|s| s.into_owned()), debug.current_line()))
        });
        match found {
            None => break,
            Some(None) => continue,
            Some(Some((source, line))) => {
                if let Some(source) = source {
                    table.raw_set("source", source)?;
                }
                if let Some(line) = line {
                    table.raw_set("line", line)?;
                }
                break;
            }
        }
    }
    Ok(table)
}

/// The text of an error raised from Rust (a hook's kill, a memory error): without mlua's
/// traceback.
fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        mlua::Error::RuntimeError(text) => text.clone(),
        mlua::Error::MemoryError(text) => text.clone(),
        other => other.to_string(),
    }
}
