//! The `struct` library (Roberto Ierusalimschy's lua-struct as Redis ships it), in Rust:
//! `pack`, `unpack`, `size` with its format language (`<` `>` `!n` endianness and alignment,
//! `b B h H l L T i[n] I[n]` integers, `f d` floats, `c[n] s x` strings and padding). The
//! native layout is x86-64's: little-endian, 8-byte `long` and `size_t`, 4-byte `int`.

use mlua::{Lua, MultiValue, Value};

use super::args::{self, register};

type Res = Result<MultiValue, String>;

const MAXINTSIZE: usize = 32;
/// `MAXALIGN`: the padding before a double in a struct (8 on x86-64).
const MAXALIGN: usize = 8;

#[derive(Clone, Copy)]
struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            little: true,
            align: 1,
        }
    }
}

struct Fmt<'a> {
    s: &'a [u8],
    i: usize,
    fname: &'static str,
}

impl Fmt<'_> {
    fn getnum(&mut self, default: usize) -> Result<usize, String> {
        if !self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut a: usize = 0;
        while let Some(&d) = self.s.get(self.i).filter(|d| d.is_ascii_digit()) {
            a = a
                .checked_mul(10)
                .and_then(|a| a.checked_add(usize::from(d - b'0')))
                .filter(|a| *a <= i32::MAX as usize)
                .ok_or("integral size overflow")?;
            self.i += 1;
        }
        Ok(a)
    }

    fn optsize(&mut self, opt: u8) -> Result<usize, String> {
        Ok(match opt {
            b'B' | b'b' => 1,
            b'H' | b'h' => 2,
            b'L' | b'l' | b'T' | b'd' => 8,
            b'f' => 4,
            b'x' => 1,
            b'c' => self.getnum(1)?,
            b'i' | b'I' => {
                let size = self.getnum(4)?;
                if size > MAXINTSIZE {
                    return Err(format!(
                        "integral size {size} is larger than limit of {MAXINTSIZE}"
                    ));
                }
                size
            }
            _ => 0,
        })
    }

    fn control(&mut self, opt: u8, h: &mut Header) -> Result<(), String> {
        match opt {
            b' ' => {}
            b'>' => h.little = false,
            b'<' => h.little = true,
            b'!' => {
                let a = self.getnum(MAXALIGN)?;
                if !a.is_power_of_two() {
                    return Err(format!("alignment {a} is not a power of 2"));
                }
                h.align = a;
            }
            _ => {
                return Err(args::bad_arg(
                    1,
                    self.fname,
                    &format!("invalid format option '{}'", opt as char),
                ));
            }
        }
        Ok(())
    }
}

fn toalign(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

fn is_int(opt: u8) -> bool {
    matches!(
        opt,
        b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I'
    )
}

fn put_int(out: &mut Vec<u8>, n: f64, little: bool, size: usize) {
    let mut value: u64 = if n < 0.0 { n as i64 as u64 } else { n as u64 };
    let mut buf = vec![0u8; size];
    for i in 0..size {
        let at = if little { i } else { size - 1 - i };
        buf[at] = (value & 0xff) as u8;
        value = value.checked_shr(8).unwrap_or(0);
    }
    out.extend_from_slice(&buf);
}

fn get_int(data: &[u8], little: bool, signed: bool) -> f64 {
    let size = data.len();
    let mut l: u64 = 0;
    for i in 0..size {
        let b = if little { data[size - 1 - i] } else { data[i] };
        l = (l << 8) | u64::from(b);
    }
    if !signed {
        return l as f64;
    }
    let mask = (!0u64)
        .checked_shl((size * 8).saturating_sub(1) as u32)
        .unwrap_or(0);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn pack(lua: &Lua, a: &[Value]) -> Res {
    let fmt = args::string(lua, a, 0, "pack")?;
    let mut f = Fmt {
        s: &fmt,
        i: 0,
        fname: "pack",
    };
    let mut h = Header::default();
    let mut arg = 1;
    let mut out = Vec::new();
    while f.i < f.s.len() {
        let opt = f.s[f.i];
        f.i += 1;
        let mut size = f.optsize(opt)?;
        let pad = toalign(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            o if is_int(o) => {
                let n = args::number(a, arg, "pack")?;
                arg += 1;
                put_int(&mut out, n, h.little, size);
            }
            b'x' => out.push(0),
            b'f' => {
                let v = args::number(a, arg, "pack")? as f32;
                arg += 1;
                if h.little {
                    out.extend_from_slice(&v.to_le_bytes());
                } else {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            b'd' => {
                let v = args::number(a, arg, "pack")?;
                arg += 1;
                if h.little {
                    out.extend_from_slice(&v.to_le_bytes());
                } else {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            b'c' | b's' => {
                let s = args::string(lua, a, arg, "pack")?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    return Err(args::bad_arg(arg + 1, "pack", "string too short"));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => f.control(opt, &mut h)?,
        }
    }
    let s = lua.create_string(&out).map_err(|e| e.to_string())?;
    Ok(args::one(Value::String(s)))
}

fn unpack(lua: &Lua, a: &[Value]) -> Res {
    let fmt = args::string(lua, a, 0, "unpack")?;
    let data = args::string(lua, a, 1, "unpack")?;
    let ld = data.len();
    let pos = match a.get(2) {
        None | Some(Value::Nil) => 1,
        _ => args::number(a, 2, "unpack")? as i64,
    };
    if pos <= 0 {
        return Err(args::bad_arg(3, "unpack", "offset must be 1 or greater"));
    }
    let mut pos = (pos - 1) as usize;
    let mut f = Fmt {
        s: &fmt,
        i: 0,
        fname: "unpack",
    };
    let mut h = Header::default();
    let mut out: Vec<Value> = Vec::new();
    let too_short = || args::bad_arg(2, "unpack", "data string too short");
    while f.i < f.s.len() {
        let opt = f.s[f.i];
        f.i += 1;
        let mut size = f.optsize(opt)?;
        pos += toalign(pos, &h, opt, size);
        if size > ld || pos > ld - size {
            return Err(too_short());
        }
        match opt {
            o if is_int(o) => {
                let signed = o.is_ascii_lowercase();
                out.push(Value::Number(get_int(
                    &data[pos..pos + size],
                    h.little,
                    signed,
                )));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = data[pos..pos + 4].try_into().expect("4 bytes");
                let v = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                out.push(Value::Number(f64::from(v)));
            }
            b'd' => {
                let b: [u8; 8] = data[pos..pos + 8].try_into().expect("8 bytes");
                let v = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                out.push(Value::Number(v));
            }
            b'c' => {
                if size == 0 {
                    let Some(Value::Number(n)) = out.pop() else {
                        return Err("format 'c0' needs a previous size".to_owned());
                    };
                    size = n as usize;
                    if size > ld || pos > ld - size {
                        return Err(too_short());
                    }
                }
                let s = lua
                    .create_string(&data[pos..pos + size])
                    .map_err(|e| e.to_string())?;
                out.push(Value::String(s));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err("unfinished string in data".to_owned());
                };
                size = end + 1;
                let s = lua
                    .create_string(&data[pos..pos + end])
                    .map_err(|e| e.to_string())?;
                out.push(Value::String(s));
            }
            _ => f.control(opt, &mut h)?,
        }
        pos += size;
    }
    out.push(Value::Number((pos + 1) as f64));
    Ok(MultiValue::from_vec(out))
}

fn size(lua: &Lua, a: &[Value]) -> Res {
    let fmt = args::string(lua, a, 0, "size")?;
    let mut f = Fmt {
        s: &fmt,
        i: 0,
        fname: "size",
    };
    let mut h = Header::default();
    let mut pos = 0usize;
    while f.i < f.s.len() {
        let opt = f.s[f.i];
        f.i += 1;
        let size = f.optsize(opt)?;
        pos += toalign(pos, &h, opt, size);
        if opt == b's' {
            return Err(args::bad_arg(1, "size", "option 's' has no fixed size"));
        }
        if opt == b'c' && size == 0 {
            return Err(args::bad_arg(1, "size", "option 'c0' has no fixed size"));
        }
        if !opt.is_ascii_alphanumeric() {
            f.control(opt, &mut h)?;
        }
        pos += size;
    }
    Ok(args::one(Value::Number(pos as f64)))
}

pub fn open(lua: &Lua) -> mlua::Result<mlua::Table> {
    let lib = lua.create_table()?;
    register(lua, &lib, "pack", pack)?;
    register(lua, &lib, "unpack", unpack)?;
    register(lua, &lib, "size", size)?;
    Ok(lib)
}
