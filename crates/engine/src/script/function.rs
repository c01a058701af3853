//! FUNCTION libraries: `#!lua name=<lib>` code whose loading registers functions with
//! `redis.register_function`. Libraries are replicated state (FUNCTION LOAD, DELETE, FLUSH and
//! RESTORE are log entries; snapshots carry each library's code) and run in a VM of their own,
//! separate from EVAL's, as in Redis.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use cairn_resp::Reply;
use mlua::{Function, MultiValue, Value};

use super::{Scripting, Vm, sflag};

/// One registered function.
#[derive(Clone, Debug)]
pub struct FunctionInfo {
    pub name: String,
    pub description: Option<Bytes>,
    pub flags: u32,
}

/// One library: its code (shebang included, as loaded) and its functions by name.
#[derive(Clone, Debug)]
pub struct Library {
    pub name: String,
    pub code: Bytes,
    pub functions: BTreeMap<String, FunctionInfo>,
}

#[derive(Default)]
pub struct Libraries {
    libs: BTreeMap<String, Library>,
    /// Function name → library name.
    functions: BTreeMap<String, String>,
    vm: OnceLock<Vm>,
}

const NAME_RULE: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The `#!<engine> name=<lib>` line: (engine, library name, code offset of the newline).
fn metadata(code: &[u8]) -> Result<(String, String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".to_owned());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("Missing library metadata".to_owned());
    };
    // As sdssplitargs reads it: double quotes group, and are not part of the value.
    let line = String::from_utf8_lossy(&code[..end]).replace('"', "");
    let mut parts = line.split_ascii_whitespace();
    let engine = parts.next().unwrap_or("#!")[2..].to_owned();
    let mut name = None;
    for part in parts {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case("name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".to_owned(),
                );
            }
            name = Some(part[5..].to_owned());
            continue;
        }
        return Err(format!("Invalid metadata value given: {part}"));
    }
    let name = name.ok_or("Library name was not given")?;
    Ok((engine, name, end))
}

impl Libraries {
    pub fn vm(&self) -> &Vm {
        self.vm.get_or_init(|| {
            let vm = Vm::new().expect("the Lua VM initializes");
            vm.set_interrupt(Arc::new(|| false));
            vm
        })
    }

    pub fn codes(&self) -> impl Iterator<Item = &Bytes> {
        self.libs.values().map(|l| &l.code)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Library> {
        self.libs.values()
    }

    pub fn library(&self, name: &str) -> Option<&Library> {
        self.libs.get(&name.to_ascii_lowercase())
    }

    /// A function by name, case-insensitively (as Redis's function dictionary).
    pub fn function(&self, name: &str) -> Option<(&Library, &FunctionInfo)> {
        let key = name.to_ascii_lowercase();
        let lib = self.libs.get(self.functions.get(&key)?)?;
        lib.functions
            .values()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| (lib, f))
    }

    pub fn function_count(&self) -> usize {
        self.functions.len()
    }

    pub fn len(&self) -> usize {
        self.libs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.libs.is_empty()
    }

    /// The compiled callback of a function.
    pub fn callback(&self, name: &str) -> Option<Function> {
        self.vm()
            .lua
            .named_registry_value::<Option<Function>>(&format!("fn_{}", name.to_ascii_lowercase()))
            .ok()
            .flatten()
    }

    /// FUNCTION LOAD: runs the library's code, which registers its functions. The library's
    /// name, or Redis's error text (without `ERR`).
    pub fn load(&mut self, code: &Bytes, replace: bool) -> Result<String, String> {
        let (engine, name, newline) = metadata(code)?;
        if !valid_name(&name) {
            return Err(NAME_RULE.to_owned());
        }
        if !engine.eq_ignore_ascii_case("lua") {
            return Err(format!("Engine '{engine}' not found"));
        }
        let key = name.to_ascii_lowercase();
        if self.libs.contains_key(&key) && !replace {
            return Err(format!("Library '{name}' already exists"));
        }
        let registered = self.run_library(&code[newline..])?;
        if registered.is_empty() {
            return Err("No functions registered".to_owned());
        }
        for (info, _) in &registered {
            if let Some(owner) = self.functions.get(&info.name.to_ascii_lowercase())
                && *owner != key
            {
                return Err(format!("Function {} already exists", info.name));
            }
        }
        self.delete(&key);
        let lua = self.vm().lua.clone();
        let mut functions = BTreeMap::new();
        for (info, callback) in registered {
            let fkey = info.name.to_ascii_lowercase();
            let _ = lua.set_named_registry_value(&format!("fn_{fkey}"), callback);
            self.functions.insert(fkey.clone(), key.clone());
            functions.insert(fkey, info);
        }
        self.libs.insert(
            key,
            Library {
                name: name.clone(),
                code: code.clone(),
                functions,
            },
        );
        Ok(name)
    }

    /// Runs library code with `redis.register_function` enabled; what it registered.
    fn run_library(&self, body: &[u8]) -> Result<Vec<(FunctionInfo, Function)>, String> {
        let vm = self.vm();
        let f = vm
            .compile_library(body)
            .map_err(|m| format!("Error compiling function: {m}"))?;
        let registered: RefCell<Vec<(FunctionInfo, Function)>> = RefCell::new(Vec::new());
        let result = vm.lua.scope(|scope| {
            let register = scope.create_function(|lua, args: MultiValue| {
                let mut list = registered.borrow_mut();
                match register_args(args) {
                    Ok((info, callback)) => {
                        if list
                            .iter()
                            .any(|(i, _)| i.name.eq_ignore_ascii_case(&info.name))
                        {
                            return Ok((
                                false,
                                Value::String(
                                    lua.create_string("Function already exists in the library")?,
                                ),
                            ));
                        }
                        list.push((info, callback));
                        Ok((true, Value::Nil))
                    }
                    Err(message) => Ok((false, Value::String(lua.create_string(message)?))),
                }
            })?;
            vm.hooks.raw_set("register", register)?;
            vm.start_budget(true);
            let outcome = vm.call(&f, None, None);
            vm.hooks.raw_set("register", Value::Nil)?;
            Ok(outcome)
        });
        match result {
            Ok(Ok(_)) => Ok(registered.into_inner()),
            Ok(Err(Value::Table(t))) => {
                let text: String = t.raw_get("err").unwrap_or_default();
                Err(format!("Error registering functions: {text}"))
            }
            Ok(Err(_)) => Err("Error registering functions: execution failure".to_owned()),
            Err(e) => Err(format!("Error registering functions: {e}")),
        }
    }

    /// FUNCTION DELETE: whether the library existed.
    pub fn delete(&mut self, name: &str) -> bool {
        let Some(lib) = self.libs.remove(&name.to_ascii_lowercase()) else {
            return false;
        };
        for f in lib.functions.keys() {
            self.functions.remove(f);
            let _ = self.vm().lua.unset_named_registry_value(&format!("fn_{f}"));
        }
        true
    }

    /// FUNCTION FLUSH: every library gone, a fresh VM.
    pub fn flush(&mut self) {
        self.libs.clear();
        self.functions.clear();
        self.vm = OnceLock::new();
    }

    /// The libraries' code, to put back with `restore` (FUNCTION RESTORE's failure path).
    pub fn snapshot_codes(&self) -> Vec<Bytes> {
        self.codes().cloned().collect()
    }
}

/// `redis.register_function(name, callback)` or `redis.register_function{...}`.
fn register_args(args: MultiValue) -> Result<(FunctionInfo, Function), String> {
    let args: Vec<Value> = args.into_iter().collect();
    match args.len() {
        1 => {
            let Value::Table(t) = &args[0] else {
                return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).".to_owned());
            };
            let (mut name, mut description, mut callback, mut flags) = (None, None, None, 0);
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, v) = pair.map_err(|e| e.to_string())?;
                let key = match &k {
                    Value::String(s) => s.to_string_lossy(),
                    Value::Number(n) => n.to_string(),
                    Value::Integer(n) => n.to_string(),
                    _ => {
                        return Err(
                            "named argument key given to redis.register_function is not a string"
                                .to_owned(),
                        );
                    }
                };
                match key.to_ascii_lowercase().as_str() {
                    "function_name" => match v {
                        Value::String(s) => name = Some(s.to_string_lossy()),
                        Value::Number(n) => name = Some(n.to_string()),
                        _ => return Err("function_name argument given to redis.register_function must be a string".to_owned()),
                    },
                    "description" => match v {
                        Value::String(s) => description = Some(Bytes::copy_from_slice(&s.as_bytes())),
                        _ => return Err("description argument given to redis.register_function must be a string".to_owned()),
                    },
                    "callback" => match v {
                        Value::Function(f) => callback = Some(f),
                        _ => return Err("callback argument given to redis.register_function must be a function".to_owned()),
                    },
                    "flags" => {
                        let Value::Table(list) = v else {
                            return Err("flags argument to redis.register_function must be a table representing function flags".to_owned());
                        };
                        for item in list.sequence_values::<Value>() {
                            let Ok(Value::String(s)) = item else {
                                return Err("unknown flag given".to_owned());
                            };
                            let s = s.to_string_lossy();
                            match sflag::NAMES.iter().find(|(_, n)| n.eq_ignore_ascii_case(&s)) {
                                Some((bit, _)) => flags |= bit,
                                None => return Err("unknown flag given".to_owned()),
                            }
                        }
                    }
                    _ => return Err("unknown argument given to redis.register_function".to_owned()),
                }
            }
            let name = name.ok_or("redis.register_function must get a function name argument")?;
            let callback =
                callback.ok_or("redis.register_function must get a callback argument")?;
            checked(name, description, flags, callback)
        }
        2 => {
            let name = match &args[0] {
                Value::String(s) => s.to_string_lossy(),
                Value::Number(n) => n.to_string(),
                _ => {
                    return Err(
                        "first argument to redis.register_function must be a string".to_owned()
                    );
                }
            };
            let Value::Function(callback) = &args[1] else {
                return Err(
                    "second argument to redis.register_function must be a function".to_owned(),
                );
            };
            checked(name, None, 0, callback.clone())
        }
        _ => Err("wrong number of arguments to redis.register_function".to_owned()),
    }
}

fn checked(
    name: String,
    description: Option<Bytes>,
    flags: u32,
    callback: Function,
) -> Result<(FunctionInfo, Function), String> {
    if !valid_name(&name) {
        return Err(NAME_RULE.to_owned());
    }
    Ok((
        FunctionInfo {
            name,
            description,
            flags,
        },
        callback,
    ))
}

impl Scripting {
    /// Puts libraries back from a snapshot (their code runs again to register functions).
    pub(crate) fn restore_libraries(&mut self, codes: Vec<Bytes>) -> Result<(), String> {
        for code in codes {
            self.libraries.load(&code, false)?;
        }
        Ok(())
    }

    pub fn libraries_mut(&mut self) -> &mut Libraries {
        &mut self.libraries
    }

    /// The functions VM's kill switch is the same as EVAL's.
    pub(crate) fn functions_vm(&self) -> &Vm {
        let vm = self.libraries.vm();
        let control = self.control.clone();
        vm.set_interrupt(Arc::new(move || {
            control.kill.load(std::sync::atomic::Ordering::Relaxed)
        }));
        vm
    }
}

/// A reply for a library error text.
pub fn error(text: String) -> Reply {
    Reply::error(super::one_line(&format!("ERR {text}")))
}
