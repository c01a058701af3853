-- Built once per Lua VM, before the sandbox closes: Redis's `redis` API, the library proxies
-- and the global-table guard. Argument: `raw`, the functions and libraries written in Rust.
local raw, hooks = ...

local error, type, tostring, tonumber, select, unpack = error, type, tostring, tonumber, select, unpack
local setmetatable, rawget, rawset, pairs = setmetatable, rawget, rawset, pairs
local sub, find, byte = string.sub, string.find, string.byte
local G = _G

local function pack(...)
  return { n = select('#', ...), ... }
end

-- The error table Redis builds from an error text ("-CODE msg" or "msg").
local function trim(s)
  local first, last = 1, #s
  while first <= last and (byte(s, first) == 13 or byte(s, first) == 10) do first = first + 1 end
  while last >= first and (byte(s, last) == 13 or byte(s, last) == 10) do last = last - 1 end
  return sub(s, first, last)
end

local function err_table(s)
  local code, msg
  if sub(s, 1, 1) == '-' then
    local space = find(s, ' ', 1, true)
    if space then
      code, msg = sub(s, 2, space - 1), sub(s, space + 1)
    else
      code, msg = 'ERR', sub(s, 2)
    end
  else
    code, msg = 'ERR', s
  end
  return { err = code .. ' ' .. trim(msg) }
end

-- Functions that may raise are Rust (`raw`): a Lua wrapper would lose the caller's frame to a
-- tail call, and with it the line Redis names in the error.
local redis = {
  call = raw.call, pcall = raw.pcall, sha1hex = raw.sha1hex, log = raw.log,
  setresp = raw.setresp, set_repl = raw.set_repl, acl_check_cmd = raw.acl_check_cmd,
}

redis.error_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return err_table('wrong number or type of arguments')
  end
  if sub(s, 1, 1) ~= '-' then s = '-' .. s end
  return err_table(s)
end

redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return err_table('wrong number or type of arguments')
  end
  return { ok = s }
end

redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.REDIS_VERSION = '7.0.15'
redis.REDIS_VERSION_NUM = 458767

-- Redis 7's pcall: an error table becomes its message; errors raised from Rust become what
-- Redis would have raised (a table, or a string).
local real_pcall, real_xpcall, errvalue = pcall, xpcall, raw.errvalue
local function pcall_result(ok, ...)
  if ok then return ok, ... end
  local e = errvalue((...), false)
  if type(e) == 'table' and type(rawget(e, 'err')) == 'string' then e = rawget(e, 'err') end
  return false, e
end
local redis_pcall = function(f, ...)
  return pcall_result(real_pcall(f, ...))
end
local redis_xpcall = function(f, handler)
  return real_xpcall(f, function(e) return handler(errvalue(e, true)) end)
end

-- Bytecode is refused: a binary chunk can break out of the sandbox.
local real_loadstring, real_load = loadstring, load
local function text_only(s, name)
  if type(s) == 'string' and byte(s, 1) == 27 then
    return nil, 'loading binary chunks is not allowed'
  end
  return real_loadstring(s, name)
end
local function load_text(f, name)
  if type(f) ~= 'function' then return real_load(f, name) end
  local parts = {}
  while true do
    local piece = f()
    if piece == nil or piece == '' then break end
    if type(piece) ~= 'string' then return nil, 'reader function must return a string' end
    parts[#parts + 1] = piece
  end
  return text_only(table.concat(parts), name)
end

local libs = {
  string = string, table = table, math = math, coroutine = coroutine,
  cjson = raw.cjson, bit = raw.bit, struct = raw.struct, cmsgpack = raw.cmsgpack,
}
libs.math.random = raw.random
libs.math.randomseed = raw.randomseed
libs.redis = redis

-- Read-only views: writes raise Redis's error; the tables behind them stay private. Lua calls
-- __newindex only for absent keys, so every protected table is an empty view over a private
-- table, and rawset, setmetatable and setfenv refuse to touch them.
local protected = setmetatable({}, { __mode = 'k' })
local function readonly_error() error('Attempt to modify a readonly table', 2) end
local function readonly(t)
  local view = setmetatable({}, { __index = t, __newindex = readonly_error, __metatable = false })
  protected[view] = true
  return view
end
-- A view whose nested tables are views too (what getmetatable hands out).
local function deep_readonly(t)
  local view = setmetatable({}, {
    __index = function(_, k)
      local v = t[k]
      if type(v) == 'table' and not protected[v] then return deep_readonly(v) end
      return v
    end,
    __newindex = readonly_error,
    __metatable = false,
  })
  protected[view] = true
  return view
end

local real_rawset, real_setmetatable, real_setfenv = rawset, setmetatable, setfenv
local function safe_rawset(t, k, v)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return real_rawset(t, k, v)
end
local function safe_setmetatable(t, mt)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return real_setmetatable(t, mt)
end
local function safe_setfenv(f, env)
  if f == 0 or protected[f] then error('Attempt to modify a readonly table', 2) end
  return real_setfenv(f, env)
end

for name, lib in pairs(libs) do
  rawset(G, name, readonly(lib))
end
local string_mt = getmetatable('')
string_mt.__index = G.string
string_mt.__metatable = deep_readonly(string_mt)

rawset(G, 'loadstring', text_only)
rawset(G, 'load', load_text)
rawset(G, 'pcall', redis_pcall)
rawset(G, 'xpcall', redis_xpcall)
rawset(G, 'rawset', safe_rawset)
rawset(G, 'setmetatable', safe_setmetatable)
rawset(G, 'setfenv', safe_setfenv)
for _, name in pairs({ 'print', 'dofile', 'loadfile', 'module', 'require', 'package', 'os', 'io', 'debug' }) do
  rawset(G, name, nil)
end

-- The globals: everything moves to a private table behind the (now empty) global table.
local nonexistent = function(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
local backing = {}
for k, v in pairs(G) do backing[k] = v end
for k in pairs(backing) do rawset(G, k, nil) end
backing._G = G
setmetatable(backing, { __index = nonexistent, __newindex = readonly_error })
local globals_mt = { __index = backing, __newindex = readonly_error }
globals_mt.__metatable = deep_readonly(globals_mt)
setmetatable(G, globals_mt)
protected[G] = true

-- FUNCTION LOAD's environment: while a library loads (`hooks.register` set) only the load API
-- is visible (`redis.register_function`, `redis.log`, the versions); afterwards the functions it
-- registered see the normal globals.
local load_redis = readonly(setmetatable({
  register_function = raw.register_function, log = raw.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
}, { __index = nonexistent }))
local library_env = setmetatable({}, {
  __index = function(_, k)
    if hooks.register then
      if k == 'redis' then return load_redis end
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    local v = rawget(backing, k)
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = readonly_error,
  __metatable = false,
})
protected[library_env] = true

-- Runs `f` under the error handler: EVAL passes no arguments, FCALL the KEYS and ARGV tables.
-- Afterwards `f` gets its environment back, whatever the script did with setfenv.
return function(f, handler, keys, args)
  local r
  if keys then
    r = pack(real_xpcall(function() return f(keys, args) end, handler))
    real_setfenv(f, library_env)
  else
    r = pack(real_xpcall(f, handler))
    real_setfenv(f, G)
  end
  return unpack(r, 1, r.n)
end, library_env, backing
