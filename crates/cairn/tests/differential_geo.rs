//! Differential tests of the geo family and of SORT/SORT_RO against redis-server 7.0.15
//! (harness: `common/differential.rs`), over RESP2 and RESP3.
//!
//! - Every command of the engine's geo and sort transcripts (`crates/engine/tests/transcripts/`).
//! - A large index (the skiplist form, past 128 members) searched with every shape and option.
//! - Seeded random sequences over a small key and member space, compared reply by reply.

mod common;

use common::differential::*;

// ---------------------------------------------------------------------------------------------
// The transcripts' commands
// ---------------------------------------------------------------------------------------------

/// The command lines of the transcripts whose names start with `prefix`.
fn transcript_scripts(prefix: &str) -> Vec<(String, Vec<String>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/transcripts");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".txt"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no {prefix}* transcripts");
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(&name)).unwrap();
            let cmds = text
                .lines()
                .filter_map(|l| l.strip_prefix("> "))
                .map(str::to_owned)
                .collect();
            (name, cmds)
        })
        .collect()
}

fn check_scripts(scripts: &[(String, Vec<String>)]) {
    let lines: Vec<Vec<&str>> = scripts
        .iter()
        .map(|(_, cmds)| cmds.iter().map(String::as_str).collect())
        .collect();
    let named: Vec<(&str, &[&str])> = scripts
        .iter()
        .zip(&lines)
        .map(|((name, _), lines)| (name.as_str(), lines.as_slice()))
        .collect();
    check_both_protocols(&named);
}

#[test]
fn geo_transcripts_match_redis() {
    check_scripts(&transcript_scripts("geo-"));
}

// ---------------------------------------------------------------------------------------------
// A large index
// ---------------------------------------------------------------------------------------------

/// Deterministic points spread over a region around (lon, lat), `spread` degrees wide.
fn points(rng: &mut fastrand::Rng, n: usize, lon: f64, lat: f64, spread: f64) -> Vec<(f64, f64)> {
    (0..n)
        .map(|_| {
            let x = lon + (rng.f64() - 0.5) * spread;
            let y = lat + (rng.f64() - 0.5) * spread;
            (x.clamp(-180.0, 180.0), y.clamp(-85.0, 85.0))
        })
        .collect()
}

fn large_index_script() -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(0x6e0);
    let mut s = Vec::new();
    for (key, lon, lat, spread) in [
        ("big", 13.0, 38.0, 4.0),
        ("world", 0.0, 0.0, 360.0),
        ("north", 10.0, 80.0, 12.0),
        ("dateline", 180.0, -20.0, 6.0),
    ] {
        let pts = points(&mut rng, 300, lon, lat, spread);
        for chunk in pts.chunks(50).enumerate() {
            let mut line = format!("GEOADD {key}");
            for (i, (x, y)) in chunk.1.iter().enumerate() {
                line.push_str(&format!(" {x:.6} {y:.6} p{}", chunk.0 * 50 + i));
            }
            s.push(line);
        }
        s.push(format!("OBJECT ENCODING {key}"));
        s.push(format!("ZRANGE {key} 0 20 WITHSCORES"));
        s.push(format!("GEOPOS {key} p0 p1 p150 p299 nope"));
        s.push(format!("GEOHASH {key} p0 p17 p222"));
        s.push(format!("GEODIST {key} p3 p4 km"));
        let (cx, cy) = (lon, lat);
        for radius in [
            "1 km", "50 km", "150 km", "500 mi", "3000 km", "20000 km", "0 m",
        ] {
            s.push(format!(
                "GEORADIUS {key} {cx} {cy} {radius} ASC WITHDIST WITHHASH WITHCOORD"
            ));
            s.push(format!(
                "GEORADIUS_RO {key} {cx} {cy} {radius} COUNT 7 DESC WITHDIST"
            ));
            s.push(format!(
                "GEORADIUSBYMEMBER {key} p5 {radius} ASC COUNT 10 WITHDIST"
            ));
            s.push(format!(
                "GEOSEARCH {key} FROMMEMBER p9 BYRADIUS {radius} ASC"
            ));
            s.push(format!(
                "sort: GEOSEARCH {key} FROMLONLAT {cx} {cy} BYRADIUS {radius}"
            ));
            s.push(format!(
                "GEORADIUS {key} {cx} {cy} {radius} STOREDIST d{key}"
            ));
            s.push(format!("ZRANGE d{key} 0 -1 WITHSCORES"));
        }
        for bx in [
            "10 10 km",
            "200 50 km",
            "50 400 km",
            "1000 1000 mi",
            "40000 40000 km",
        ] {
            s.push(format!(
                "GEOSEARCH {key} FROMLONLAT {cx} {cy} BYBOX {bx} ASC WITHDIST WITHCOORD"
            ));
            s.push(format!(
                "GEOSEARCH {key} FROMMEMBER p1 BYBOX {bx} DESC COUNT 5 WITHHASH"
            ));
            s.push(format!(
                "GEOSEARCHSTORE s{key} {key} FROMMEMBER p2 BYBOX {bx} COUNT 20"
            ));
            s.push(format!("ZRANGE s{key} 0 -1 WITHSCORES"));
            s.push(format!("OBJECT ENCODING s{key}"));
        }
        // ANY stops at the first points found, in the boxes' order.
        s.push(format!(
            "GEOSEARCH {key} FROMLONLAT {cx} {cy} BYRADIUS 5000 km COUNT 5 ANY"
        ));
        s.push(format!(
            "GEORADIUS {key} {cx} {cy} 5000 km COUNT 3 ANY DESC WITHDIST"
        ));
    }
    s
}

#[test]
fn large_index_matches_redis() {
    let script = large_index_script();
    let lines: Vec<&str> = script.iter().map(String::as_str).collect();
    check_both_protocols(&[("large-index", &lines)]);
}

// ---------------------------------------------------------------------------------------------
// A seeded random geo sequence
// ---------------------------------------------------------------------------------------------

struct GeoGen {
    rng: fastrand::Rng,
}

impl GeoGen {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.usize(..items.len())]
    }

    fn coord(&mut self) -> String {
        match self.rng.u8(..20) {
            0 => "181".into(),
            1 => "x".into(),
            _ => format!(
                "{:.5} {:.5}",
                12.0 + self.rng.f64() * 4.0,
                36.0 + self.rng.f64() * 4.0
            ),
        }
    }

    fn member(&mut self) -> String {
        format!("m{}", self.rng.u8(..20))
    }

    fn unit(&mut self) -> &'static str {
        self.pick(&["m", "km", "mi", "ft", "KM", "furlong"])
    }

    fn options(&mut self) -> String {
        let mut out = String::new();
        for _ in 0..self.rng.u8(..4) {
            let opt = match self.rng.u8(..9) {
                0 => "WITHDIST".into(),
                1 => "WITHCOORD".into(),
                2 => "WITHHASH".into(),
                3 => "ASC".into(),
                4 => "DESC".into(),
                5 => format!("COUNT {}", self.rng.i8(-1..6)),
                6 => format!("COUNT {} ANY", self.rng.u8(1..4)),
                7 => "ANY".into(),
                _ => "BOGUS".into(),
            };
            out.push(' ');
            out.push_str(&opt);
        }
        out
    }

    fn command(&mut self) -> String {
        let key = self.pick(&["g0", "g1", "g0", "s"]);
        let radius = format!("{} {}", self.rng.u16(..400), self.unit());
        match self.rng.u8(..12) {
            0..=3 => {
                let flags = self.pick(&["", " NX", " XX", " CH", " XX CH", " NX XX"]);
                let mut line = format!("GEOADD {key}{flags}");
                for _ in 0..self.rng.u8(1..4) {
                    let (c, m) = (self.coord(), self.member());
                    line.push_str(&format!(" {c} {m}"));
                }
                line
            }
            4 => format!("GEOPOS {key} {} {}", self.member(), self.member()),
            5 => format!("GEOHASH {key} {} {}", self.member(), self.member()),
            6 => format!(
                "GEODIST {key} {} {} {}",
                self.member(),
                self.member(),
                self.unit()
            ),
            7 => format!(
                "GEORADIUS {key} {} {radius}{}",
                self.coord(),
                self.options()
            ),
            8 => format!(
                "GEORADIUSBYMEMBER_RO {key} {} {radius}{}",
                self.member(),
                self.options()
            ),
            9 => {
                let from = if self.rng.bool() {
                    format!("FROMMEMBER {}", self.member())
                } else {
                    format!("FROMLONLAT {}", self.coord())
                };
                let by = if self.rng.bool() {
                    format!("BYRADIUS {radius}")
                } else {
                    format!(
                        "BYBOX {} {} {}",
                        self.rng.u16(..400),
                        self.rng.u16(..400),
                        self.unit()
                    )
                };
                format!("GEOSEARCH {key} {from} {by}{}", self.options())
            }
            10 => {
                let dist = if self.rng.bool() { " STOREDIST" } else { "" };
                format!(
                    "GEOSEARCHSTORE d {key} FROMMEMBER {} BYRADIUS {radius}{dist}",
                    self.member()
                )
            }
            _ => match self.rng.u8(..4) {
                0 => format!("ZREM {key} {}", self.member()),
                1 => "ZRANGE d 0 -1 WITHSCORES".into(),
                2 => format!("SET {key} v"),
                _ => format!("DEL {key}"),
            },
        }
    }
}

#[test]
fn random_geo_sequence_matches_redis() {
    let mut generator = GeoGen {
        rng: fastrand::Rng::with_seed(0x06e0_5eed),
    };
    let script: Vec<String> = (0..3000).map(|_| generator.command()).collect();
    let lines: Vec<&str> = script.iter().map(String::as_str).collect();
    check_both_protocols(&[("random-geo", &lines)]);
}

// ---------------------------------------------------------------------------------------------
// SORT
// ---------------------------------------------------------------------------------------------

#[test]
fn sort_transcripts_match_redis() {
    check_scripts(&transcript_scripts("sort-"));
}

/// Random SORT commands over lists, sorted sets and small integer sets (whose order Redis
/// defines), with weights and names in string keys and hash fields.
fn sort_command(rng: &mut fastrand::Rng) -> String {
    let pick = |rng: &mut fastrand::Rng, items: &[&'static str]| items[rng.usize(..items.len())];
    let value = |rng: &mut fastrand::Rng| match rng.u8(..8) {
        0 => "x".to_string(),
        1 => format!("{}.5", rng.i8(-3..3)),
        _ => rng.u8(..12).to_string(),
    };
    match rng.u8(..10) {
        0 => format!("RPUSH l {} {}", value(rng), value(rng)),
        1 => format!("ZADD z {} {}", rng.u8(..5), value(rng)),
        2 => format!("SADD s {}", rng.u8(..12)),
        3 => format!("SET w_{} {}", rng.u8(..12), value(rng)),
        4 => format!("HSET h_{} f {}", rng.u8(..12), value(rng)),
        5 => format!("DEL {}", pick(rng, &["l", "z", "s", "w_3", "h_5"])),
        _ => {
            let mut line = String::from(pick(rng, &["SORT", "SORT", "SORT_RO"]));
            line.push(' ');
            line.push_str(pick(rng, &["l", "z", "s", "nokey"]));
            for _ in 0..rng.u8(..4) {
                let opt = match rng.u8(..9) {
                    0 => "BY w_*",
                    1 => "BY h_*->f",
                    2 => "BY nosort",
                    3 => "GET #",
                    4 => "GET w_*",
                    5 => "GET h_*->f",
                    6 => "ALPHA",
                    7 => "DESC",
                    _ => "LIMIT 1 3",
                };
                line.push(' ');
                line.push_str(opt);
            }
            // Equal ALPHA weights from BY leave Redis's order to its hash table (sorted sets)
            // and to an unstable partial sort (LIMIT): such ties are not compared.
            if line.contains("BY w_*") || line.contains("BY h_*") {
                line = line.replace(" ALPHA", "");
            }
            if line.starts_with("SORT ") && rng.u8(..4) == 0 {
                line.push_str(" STORE dst");
            }
            line
        }
    }
}

#[test]
fn random_sort_sequence_matches_redis() {
    let mut rng = fastrand::Rng::with_seed(0x5027);
    let mut script: Vec<String> = (0..2500).map(|_| sort_command(&mut rng)).collect();
    script.push("LRANGE dst 0 -1".into());
    let lines: Vec<&str> = script.iter().map(String::as_str).collect();
    check_both_protocols(&[("random-sort", &lines)]);
}
