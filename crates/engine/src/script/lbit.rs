//! The `bit` library (LuaBitOp 1.0, as Redis ships it): 32-bit operations on Lua numbers.
//! Numbers are reduced to 32 bits the way LuaBitOp does it (the low word of `x + 2^52 + 2^51`),
//! and results are signed 32-bit integers.

use mlua::{Lua, MultiValue, Table, Value};

use super::args::{self, one, register};

type Res = Result<MultiValue, String>;
/// A library function as registered.
type LibFn = fn(&Lua, &[Value]) -> Res;

/// LuaBitOp's `barg`: any number to its 32-bit pattern.
fn tobit_f(x: f64) -> i32 {
    let b = x + 6_755_399_441_055_744.0;
    b.to_bits() as u32 as i32
}

fn arg(a: &[Value], i: usize, fname: &str) -> Result<i32, String> {
    args::number(a, i, fname).map(tobit_f)
}

fn ret(v: i32) -> Res {
    Ok(one(Value::Number(f64::from(v))))
}

fn tobit(_: &Lua, a: &[Value]) -> Res {
    ret(arg(a, 0, "tobit")?)
}

fn bnot(_: &Lua, a: &[Value]) -> Res {
    ret(!arg(a, 0, "bnot")?)
}

fn fold(a: &[Value], fname: &str, op: fn(i32, i32) -> i32) -> Res {
    let mut acc = arg(a, 0, fname)?;
    for i in 1..a.len() {
        acc = op(acc, arg(a, i, fname)?);
    }
    ret(acc)
}

fn band(_: &Lua, a: &[Value]) -> Res {
    fold(a, "band", |x, y| x & y)
}

fn bor(_: &Lua, a: &[Value]) -> Res {
    fold(a, "bor", |x, y| x | y)
}

fn bxor(_: &Lua, a: &[Value]) -> Res {
    fold(a, "bxor", |x, y| x ^ y)
}

fn shift(a: &[Value], fname: &str, op: fn(u32, u32) -> u32) -> Res {
    let x = arg(a, 0, fname)? as u32;
    let n = (arg(a, 1, fname)? as u32) & 31;
    ret(op(x, n) as i32)
}

fn lshift(_: &Lua, a: &[Value]) -> Res {
    shift(a, "lshift", |x, n| x << n)
}

fn rshift(_: &Lua, a: &[Value]) -> Res {
    shift(a, "rshift", |x, n| x >> n)
}

fn arshift(_: &Lua, a: &[Value]) -> Res {
    shift(a, "arshift", |x, n| ((x as i32) >> n) as u32)
}

fn rol(_: &Lua, a: &[Value]) -> Res {
    shift(a, "rol", |x, n| x.rotate_left(n))
}

fn ror(_: &Lua, a: &[Value]) -> Res {
    shift(a, "ror", |x, n| x.rotate_right(n))
}

fn bswap(_: &Lua, a: &[Value]) -> Res {
    ret((arg(a, 0, "bswap")? as u32).swap_bytes() as i32)
}

fn tohex(lua: &Lua, a: &[Value]) -> Res {
    let mut b = arg(a, 0, "tohex")? as u32;
    let mut n = match a.get(1) {
        None | Some(Value::Nil) => 8,
        _ => arg(a, 1, "tohex")?,
    };
    let upper = n < 0;
    if upper {
        n = n.wrapping_neg();
    }
    let n = n.clamp(0, 8) as usize;
    if n < 8 {
        b &= (1u32 << (4 * n)) - 1;
    }
    let text = if upper {
        format!("{b:0width$X}", width = n)
    } else {
        format!("{b:0width$x}", width = n)
    };
    let text = &text[text.len() - n.min(text.len())..];
    Ok(one(Value::String(
        lua.create_string(text).map_err(|e| e.to_string())?,
    )))
}

pub fn open(lua: &Lua) -> mlua::Result<Table> {
    let lib = lua.create_table()?;
    let fns: &[(&'static str, LibFn)] = &[
        ("tobit", tobit),
        ("bnot", bnot),
        ("band", band),
        ("bor", bor),
        ("bxor", bxor),
        ("lshift", lshift),
        ("rshift", rshift),
        ("arshift", arshift),
        ("rol", rol),
        ("ror", ror),
        ("bswap", bswap),
        ("tohex", tohex),
    ];
    for (name, f) in fns {
        register(lua, &lib, name, *f)?;
    }
    Ok(lib)
}

#[cfg(test)]
mod tests {
    use super::tobit_f;

    #[test]
    fn numbers_reduce_to_32_bits_as_luabitop() {
        assert_eq!(tobit_f(0xffff_ffff_u32 as f64), -1);
        assert_eq!(tobit_f(4_294_967_296.0 + 5.0), 5);
        assert_eq!(tobit_f(-1.0), -1);
        assert_eq!(tobit_f(2.5), 2);
    }
}
