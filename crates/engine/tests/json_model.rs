//! JSON documents against a plain model: random sequences of array, object and number
//! commands on one document, compared reply by reply and document by document with a `Vec`
//! (the array) and a vector of pairs (the object, which keeps insertion order). Every few
//! steps the engine is replaced by one restored from its snapshot, which must hold the same
//! document and digest. Also: the keyspace events JSON writes notify.

use bytes::Bytes;
use cairn_engine::Engine;
use cairn_engine::notify;
use cairn_engine::testing::{Harness, render};
use cairn_resp::Reply;

fn run(h: &mut Harness, args: &[&str]) -> Reply {
    let argv: Vec<Bytes> = args
        .iter()
        .map(|a| Bytes::copy_from_slice(a.as_bytes()))
        .collect();
    h.run(&argv)
}

fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

#[derive(Default)]
struct Model {
    arr: Vec<i64>,
    obj: Vec<(String, i64)>,
}

impl Model {
    fn text(&self) -> String {
        let arr: Vec<String> = self.arr.iter().map(i64::to_string).collect();
        let obj: Vec<String> = self
            .obj
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        format!(
            "{{\"arr\":[{}],\"obj\":{{{}}}}}",
            arr.join(","),
            obj.join(",")
        )
    }
}

/// RedisJSON's start index for ARRPOP and ARRINDEX: negative from the end, clamped.
fn start_index(i: i64, len: i64) -> i64 {
    if i < 0 {
        (len + i).max(0)
    } else {
        i.min(len - 1)
    }
}

/// One random step: the command, and the reply the model expects.
fn step(rng: &mut fastrand::Rng, m: &mut Model) -> (Vec<String>, Reply) {
    let key = || "d".to_owned();
    let small = |rng: &mut fastrand::Rng| rng.i64(-4..8);
    let name = |rng: &mut fastrand::Rng| ["a", "b", "c", "d"][rng.usize(..4)].to_owned();
    let len = m.arr.len() as i64;
    match rng.u8(..9) {
        0 => {
            let vals: Vec<i64> = (0..rng.usize(1..4)).map(|_| small(rng)).collect();
            m.arr.extend(&vals);
            let mut argv = vec!["JSON.ARRAPPEND".into(), key(), "$.arr".into()];
            argv.extend(vals.iter().map(i64::to_string));
            (argv, Reply::Array(vec![Reply::Int(m.arr.len() as i64)]))
        }
        1 => {
            let index = rng.i64(-6..6);
            let v = small(rng);
            let at = if index < 0 { len + index } else { index };
            let argv = vec![
                "JSON.ARRINSERT".into(),
                key(),
                ".arr".into(),
                index.to_string(),
                v.to_string(),
            ];
            if !(0..=len).contains(&at) {
                return (argv, Reply::error("ERR index out of bounds"));
            }
            m.arr.insert(at as usize, v);
            (argv, Reply::Int(m.arr.len() as i64))
        }
        2 => {
            let index = rng.i64(-6..6);
            let argv = vec![
                "JSON.ARRPOP".into(),
                key(),
                "$.arr".into(),
                index.to_string(),
            ];
            if m.arr.is_empty() {
                return (argv, Reply::Array(vec![Reply::Nil]));
            }
            let v = m.arr.remove(start_index(index, len) as usize);
            (argv, Reply::Array(vec![bulk(&v.to_string())]))
        }
        3 => {
            let (start, stop) = (rng.i64(-6..6), rng.i64(-6..6));
            let argv = vec![
                "JSON.ARRTRIM".into(),
                key(),
                ".arr".into(),
                start.to_string(),
                stop.to_string(),
            ];
            let norm = |i: i64| {
                if i < 0 {
                    (len + i).max(0)
                } else {
                    i.min(len - 1)
                }
            };
            let stop_n = norm(stop);
            let start_n = if start < 0 || start < len {
                norm(start)
            } else {
                stop_n + 1
            };
            m.arr = if start_n > stop_n || len == 0 {
                Vec::new()
            } else {
                m.arr[start_n as usize..=stop_n as usize].to_vec()
            };
            (argv, Reply::Int(m.arr.len() as i64))
        }
        4 => {
            let v = small(rng);
            let found = m.arr.iter().position(|&x| x == v).map_or(-1, |i| i as i64);
            let argv = vec!["JSON.ARRINDEX".into(), key(), ".arr".into(), v.to_string()];
            (argv, Reply::Int(found))
        }
        5 => {
            let (k, v) = (name(rng), small(rng));
            match m.obj.iter_mut().find(|(n, _)| *n == k) {
                Some((_, old)) => *old = v,
                None => m.obj.push((k.clone(), v)),
            }
            let argv = vec![
                "JSON.SET".into(),
                key(),
                format!("$.obj.{k}"),
                v.to_string(),
            ];
            (argv, Reply::ok())
        }
        6 => {
            let k = name(rng);
            let before = m.obj.len();
            m.obj.retain(|(n, _)| *n != k);
            let argv = vec!["JSON.DEL".into(), key(), format!("$.obj.{k}")];
            (argv, Reply::Int((before - m.obj.len()) as i64))
        }
        7 => {
            let (k, by) = (name(rng), small(rng));
            let argv = vec![
                "JSON.NUMINCRBY".into(),
                key(),
                format!("$.obj.{k}"),
                by.to_string(),
            ];
            let reply = match m.obj.iter_mut().find(|(n, _)| *n == k) {
                Some((_, v)) => {
                    *v = v.wrapping_add(by);
                    format!("[{v}]")
                }
                None => "[]".into(),
            };
            (argv, bulk(&reply))
        }
        _ => {
            let keys: Vec<Reply> = m.obj.iter().map(|(k, _)| bulk(k)).collect();
            let argv = vec!["JSON.OBJKEYS".into(), key(), "$.obj".into()];
            (argv, Reply::Array(vec![Reply::Array(keys)]))
        }
    }
}

#[test]
fn documents_follow_the_model_and_survive_snapshots() {
    for seed in 0..40u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut h = Harness::new();
        let mut m = Model::default();
        assert_eq!(run(&mut h, &["JSON.SET", "d", "$", &m.text()]), Reply::ok());
        for i in 0..300 {
            let (argv, expected) = step(&mut rng, &mut m);
            let args: Vec<&str> = argv.iter().map(String::as_str).collect();
            let got = run(&mut h, &args);
            assert_eq!(
                render(&got),
                render(&expected),
                "seed {seed} step {i}: {argv:?}"
            );
            assert_eq!(
                run(&mut h, &["JSON.GET", "d"]),
                bulk(&m.text()),
                "seed {seed} step {i}: {argv:?}"
            );
            if i % 50 == 49 {
                let restored = Engine::restore(&h.engine.snapshot(), 16).expect("restores");
                assert_eq!(restored.digest(), h.engine.digest(), "seed {seed} step {i}");
                h.engine = restored;
            }
        }
    }
}

#[test]
fn json_writes_notify_module_events() {
    let mut h = Harness::new();
    h.engine.set_notify(notify::parse("KEd").expect("flags"));
    let events = |h: &mut Harness, args: &[&str]| -> Vec<String> {
        let reply = run(h, args);
        assert!(!matches!(reply, Reply::Error(_)), "{args:?}: {reply:?}");
        h.engine
            .events()
            .iter()
            .map(|e| format!("{} {}", String::from_utf8_lossy(&e.key), e.event))
            .collect()
    };
    let none: [&str; 0] = [];
    assert_eq!(
        events(&mut h, &["JSON.SET", "k", "$", r#"{"a":[1],"b":true}"#]),
        ["k json.set"]
    );
    assert_eq!(events(&mut h, &["JSON.SET", "k", "$.a", "1", "NX"]), none);
    assert_eq!(
        events(&mut h, &["JSON.ARRAPPEND", "k", "$.a", "2"]),
        ["k json.arrappend"]
    );
    assert_eq!(events(&mut h, &["JSON.ARRAPPEND", "k", "$.b", "2"]), none);
    assert_eq!(
        events(&mut h, &["JSON.TOGGLE", "k", "$.b"]),
        ["k json.toggle"]
    );
    assert_eq!(
        events(&mut h, &["JSON.NUMINCRBY", "k", "$.a[0]", "1"]),
        ["k json.numincrby"]
    );
    assert_eq!(
        events(&mut h, &["JSON.MERGE", "k", "$", r#"{"c":1}"#]),
        ["k json.merge"]
    );
    assert_eq!(
        events(&mut h, &["JSON.MSET", "k", "$.c", "2", "j", "$", "1"]),
        ["k json.mset", "j json.mset"]
    );
    assert_eq!(
        events(&mut h, &["JSON.CLEAR", "k", "$.a"]),
        ["k json.clear"]
    );
    assert_eq!(events(&mut h, &["JSON.DEL", "k", "$.nothing"]), none);
    assert_eq!(events(&mut h, &["JSON.DEL", "k"]), ["k json.del"]);
    // The module class only: a node that asked for generic events hears nothing.
    h.engine.set_notify(notify::parse("KEg").expect("flags"));
    assert_eq!(events(&mut h, &["JSON.SET", "k", "$", "1"]), none);
}

#[test]
fn documents_nest_up_to_the_limit_and_restore_from_snapshots() {
    let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let mut h = Harness::new();
    assert_eq!(
        run(&mut h, &["JSON.SET", "d", "$", &nest(100)]),
        Reply::ok()
    );
    // An argument nested deeper than 128 levels is refused by the parser.
    assert!(matches!(
        run(&mut h, &["JSON.SET", "e", "$", &nest(129)]),
        Reply::Error(_)
    ));
    // `path_len` [0]s reach the innermost (empty) array; each append nests 99 levels more.
    let mut path_len = 99;
    loop {
        let path = format!("${}", "[0]".repeat(path_len));
        let reply = run(&mut h, &["JSON.ARRAPPEND", "d", &path, &nest(99)]);
        if path_len + 99 > 1024 {
            assert_eq!(
                reply,
                Reply::error("ERR the document would be nested deeper than 1024 levels")
            );
            assert!(matches!(
                run(&mut h, &["JSON.SET", "d", &format!("{path}[0]"), &nest(99)]),
                Reply::Error(_)
            ));
            break;
        }
        assert_eq!(reply, Reply::Array(vec![Reply::Int(1)]), "at {path_len}");
        path_len += 99;
    }
    let text = run(&mut h, &["JSON.GET", "d"]);
    let restored = Engine::restore(&h.engine.snapshot(), 16).expect("a deep document restores");
    assert_eq!(restored.digest(), h.engine.digest());
    h.engine = restored;
    assert_eq!(run(&mut h, &["JSON.GET", "d"]), text);
    assert_eq!(
        run(
            &mut h,
            &["JSON.DEL", "d", &format!("${}", "[0]".repeat(500))]
        ),
        Reply::Int(1)
    );
}
