//! The Upstash REST spec's conformance matrix (shared spec §12), row by row, over real HTTP
//! against the real binary. `T` is the full token, `H` its bearer header, `E` the base64
//! response encoding the SDKs ask for.

mod common;

use common::Cairn;
use common::http::{Http, Response, start_rest};

const T: &str = "test-token-full";
const RO: &str = "test-token-readonly";
const H: &str = "Authorization: Bearer test-token-full";
const E: &str = "Upstash-Encoding: base64";

struct Rest {
    _cairn: Cairn,
    addr: String,
}

impl Rest {
    fn start() -> Rest {
        let (cairn, port) = start_rest(&["--rest-token", T, "--rest-readonly-token", RO]);
        Rest {
            _cairn: cairn,
            addr: format!("127.0.0.1:{port}"),
        }
    }

    fn http(&self) -> Http {
        Http::connect(&self.addr)
    }

    fn get(&self, path: &str, headers: &[&str]) -> Response {
        self.http().request("GET", path, headers, b"")
    }

    fn post(&self, path: &str, headers: &[&str], body: &str) -> Response {
        self.http().request("POST", path, headers, body.as_bytes())
    }

    /// `POST /` with H (and E when `base64`); returns (status, body).
    fn cmd(&self, body: &str, base64: bool) -> (u16, String) {
        let headers: &[&str] = if base64 { &[H, E] } else { &[H] };
        let r = self.post("/", headers, body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        (r.status, r.text())
    }
}

fn ok(body: &str) -> (u16, String) {
    (200, body.to_string())
}

#[test]
fn row_01_url_form_set() {
    let s = Rest::start();
    let r = s.get("/set/foo/bar", &[H]);
    assert_eq!((r.status, r.text()), ok(r#"{"result":"OK"}"#));
}

#[test]
fn row_02_url_form_get() {
    let s = Rest::start();
    s.get("/set/foo/bar", &[H]);
    let r = s.get("/get/foo", &[H]);
    assert_eq!((r.status, r.text()), ok(r#"{"result":"bar"}"#));
}

#[test]
fn row_03_url_form_get_base64() {
    let s = Rest::start();
    s.get("/set/foo/bar", &[H]);
    let r = s.get("/get/foo", &[H, E]);
    assert_eq!((r.status, r.text()), ok(r#"{"result":"YmFy"}"#));
}

#[test]
fn row_04_url_form_options_then_ttl() {
    let s = Rest::start();
    assert_eq!(
        s.get("/set/foo/bar/EX/100", &[H]).text(),
        r#"{"result":"OK"}"#
    );
    let (status, body) = s.cmd(r#"["TTL","foo"]"#, false);
    assert_eq!(status, 200);
    let ttl: i64 = body
        .trim_start_matches(r#"{"result":"#)
        .trim_end_matches('}')
        .parse()
        .unwrap();
    assert!((1..=100).contains(&ttl), "{body}");
}

#[test]
fn row_05_url_form_body_is_the_last_argument_then_the_query() {
    let s = Rest::start();
    let r = s.post("/set/k2?EX=100", &[H], r#"{"a":1}"#);
    assert_eq!((r.status, r.text()), ok(r#"{"result":"OK"}"#));
    assert_eq!(
        s.cmd(r#"["GET","k2"]"#, false),
        ok(r#"{"result":"{\"a\":1}"}"#)
    );
    let (_, ttl) = s.cmd(r#"["TTL","k2"]"#, false);
    assert_ne!(ttl, r#"{"result":-1}"#, "EX from the query applies");
}

#[test]
fn row_06_token_in_the_query() {
    let s = Rest::start();
    s.get("/set/foo/bar", &[H]);
    let r = s.get(&format!("/get/foo?_token={T}"), &[]);
    assert_eq!((r.status, r.text()), ok(r#"{"result":"bar"}"#));
}

#[test]
fn row_07_missing_or_bad_token_is_401() {
    let s = Rest::start();
    for headers in [
        &[][..],
        &["Authorization: Bearer nope"][..],
        &["Authorization: Basic dGVzdA=="][..],
        &["Authorization: Bearer"][..],
    ] {
        let r = s.post("/", headers, r#"["GET","foo"]"#);
        assert_eq!(r.status, 401, "{headers:?}");
        assert!(r.text().starts_with(r#"{"error":"#), "{}", r.text());
        assert!(!r.text().contains("result"));
    }
    let r = s.get("/get/foo?_token=nope", &[]);
    assert_eq!(r.status, 401);
}

#[test]
fn row_08_json_command_with_a_number() {
    let s = Rest::start();
    assert_eq!(
        s.cmd(r#"["SET","foo","bar","EX",100]"#, false),
        ok(r#"{"result":"OK"}"#)
    );
}

#[test]
fn row_09_wrong_arity_is_400_without_result() {
    let s = Rest::start();
    assert_eq!(
        s.cmd(r#"["set","a"]"#, false),
        (
            400,
            r#"{"error":"ERR wrong number of arguments for 'set' command"}"#.to_string()
        )
    );
}

#[test]
fn row_10_missing_key_is_a_null_result() {
    let s = Rest::start();
    assert_eq!(
        s.cmd(r#"["GET","missing"]"#, false),
        ok(r#"{"result":null}"#)
    );
    assert_eq!(
        s.cmd(r#"["GET","missing"]"#, true),
        ok(r#"{"result":null}"#)
    );
}

#[test]
fn row_11_integers_stay_json_integers() {
    let s = Rest::start();
    assert_eq!(s.cmd(r#"["INCR","n"]"#, false), ok(r#"{"result":1}"#));
    assert_eq!(s.cmd(r#"["INCR","n"]"#, true), ok(r#"{"result":2}"#));
}

#[test]
fn row_12_status_replies_are_encoded_too() {
    let s = Rest::start();
    assert_eq!(s.cmd(r#"["PING"]"#, true), ok(r#"{"result":"UE9ORw=="}"#));
    assert_eq!(s.cmd(r#"["PING"]"#, false), ok(r#"{"result":"PONG"}"#));
}

#[test]
fn row_13_ok_stays_raw_under_base64() {
    let s = Rest::start();
    assert_eq!(s.cmd(r#"["SET","x","v"]"#, true), ok(r#"{"result":"OK"}"#));
}

#[test]
fn row_14_scores_are_strings() {
    let s = Rest::start();
    assert_eq!(
        s.cmd(r#"["ZADD","z",99.5,"m"]"#, false),
        ok(r#"{"result":1}"#)
    );
    assert_eq!(
        s.cmd(r#"["ZRANGE","z",0,-1,"WITHSCORES"]"#, false),
        ok(r#"{"result":["m","99.5"]}"#)
    );
    assert_eq!(
        s.cmd(r#"["ZRANGE","z",0,-1,"WITHSCORES"]"#, true),
        ok(r#"{"result":["bQ==","OTkuNQ=="]}"#)
    );
}

#[test]
fn row_15_big_integers_keep_their_text() {
    let s = Rest::start();
    s.cmd(r#"["SET","big",106242075399214372653]"#, false);
    assert_eq!(
        s.cmd(r#"["GET","big"]"#, false),
        ok(r#"{"result":"106242075399214372653"}"#)
    );
}

#[test]
fn row_16_booleans_become_their_text() {
    let s = Rest::start();
    s.cmd(r#"["SET","b",true]"#, false);
    assert_eq!(s.cmd(r#"["GET","b"]"#, false), ok(r#"{"result":"true"}"#));
}

#[test]
fn row_17_maps_are_flat_arrays() {
    let s = Rest::start();
    assert_eq!(
        s.cmd(r#"["HSET","h","f","v","g","w"]"#, false),
        ok(r#"{"result":2}"#)
    );
    assert_eq!(
        s.cmd(r#"["HGETALL","h"]"#, false),
        ok(r#"{"result":["f","v","g","w"]}"#)
    );
}

#[test]
fn row_18_scan_cursor_is_a_string() {
    let s = Rest::start();
    s.cmd(r#"["SET","k","v"]"#, false);
    assert_eq!(
        s.cmd(r#"["SCAN","0"]"#, false),
        ok(r#"{"result":["0",["k"]]}"#)
    );
}

#[test]
fn row_19_escaped_surrogate_pairs_are_utf8() {
    let s = Rest::start();
    s.cmd(r#"["SET","e","\ud83d\ude00"]"#, false);
    assert_eq!(
        s.cmd(r#"["GET","e"]"#, true),
        ok(r#"{"result":"8J+YgA=="}"#)
    );
    assert_eq!(s.cmd(r#"["STRLEN","e"]"#, false), ok(r#"{"result":4}"#));
}

#[test]
fn row_20_pipeline_errors_stay_in_their_row() {
    let s = Rest::start();
    let r = s.post(
        "/pipeline",
        &[H],
        r#"[["SET","p","v"],["INCR","p"],["GET","p"]]"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        r#"[{"result":"OK"},{"error":"ERR value is not an integer or out of range"},{"result":"v"}]"#
    );
}

#[test]
fn row_21_pipeline_under_base64_leaves_errors_alone() {
    let s = Rest::start();
    let r = s.post(
        "/pipeline",
        &[H, E],
        r#"[["SET","p","v"],["INCR","p"],["GET","p"]]"#,
    );
    assert_eq!(
        r.text(),
        r#"[{"result":"OK"},{"error":"ERR value is not an integer or out of range"},{"result":"dg=="}]"#
    );
}

#[test]
fn row_22_unknown_sha_is_noscript() {
    let s = Rest::start();
    let r = s.post("/pipeline", &[H], r#"[["EVALSHA","wrong-sha1",0]]"#);
    assert_eq!(
        r.text(),
        r#"[{"error":"NOSCRIPT No matching script. Please use EVAL."}]"#
    );
}

#[test]
fn row_23_multi_exec_runs_the_rows_atomically() {
    let s = Rest::start();
    let r = s.post("/multi-exec", &[H], r#"[["SET","m","1"],["INCR","m"]]"#);
    assert_eq!(
        (r.status, r.text()),
        ok(r#"[{"result":"OK"},{"result":2}]"#)
    );
}

#[test]
fn row_24_multi_exec_with_an_unknown_command_runs_nothing() {
    let s = Rest::start();
    let r = s.post("/multi-exec", &[H], r#"[["SET","m","1"],["NOSUCHCMD"]]"#);
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with(r#"{"error":"ERR "#), "{}", r.text());
    assert_eq!(s.cmd(r#"["EXISTS","m"]"#, false), ok(r#"{"result":0}"#));
}

#[test]
fn row_25_multi_exec_runtime_errors_stay_in_their_row() {
    let s = Rest::start();
    let r = s.post(
        "/multi-exec",
        &[H],
        r#"[["SET","s","x"],["INCR","s"],["GET","s"]]"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        r#"[{"result":"OK"},{"error":"ERR value is not an integer or out of range"},{"result":"x"}]"#
    );
}

#[test]
fn row_26_eval_caches_the_script_under_its_sha1() {
    let s = Rest::start();
    assert_eq!(
        s.cmd(r#"["EVAL","return ARGV[1]",0,"hi"]"#, false),
        ok(r#"{"result":"hi"}"#)
    );
    // sha1("return ARGV[1]")
    let sha = "098e0f0d1448c0a81dafe820f66d460eb09263da";
    assert_eq!(
        s.cmd(&format!(r#"["EVALSHA","{sha}",0,"hi"]"#), true),
        ok(r#"{"result":"aGk="}"#)
    );
}

#[test]
fn row_27_upstash_shebang_flag_is_accepted() {
    let s = Rest::start();
    assert_eq!(
        s.cmd(
            r##"["EVAL","#!lua flags=allow-key-locking\nreturn redis.call('INCR',KEYS[1])",1,"c"]"##,
            false
        ),
        ok(r#"{"result":1}"#)
    );
}

#[test]
fn row_28_script_load_returns_the_sha_encoded() {
    let s = Rest::start();
    let (status, body) = s.cmd(r#"["SCRIPT","LOAD","return 1"]"#, true);
    assert_eq!(status, 200);
    // base64 of the 40 hex digits of sha1("return 1")
    assert_eq!(
        body,
        r#"{"result":"ZTBlMWY5ZmFiZmM5ZDQ4MDBjODc3YTcwM2I4MjNhYzA1NzhmZjhkYg=="}"#
    );
}

#[test]
fn row_29_sync_token_changes_with_each_write() {
    let s = Rest::start();
    let mut http = s.http();
    let first = http.request(
        "POST",
        "/",
        &[H, "upstash-sync-token: "],
        br#"["SET","a","1"]"#,
    );
    assert_eq!(first.status, 200);
    let t1 = first.header("upstash-sync-token").unwrap().to_string();
    let second = http.request(
        "POST",
        "/",
        &[H, &format!("upstash-sync-token: {t1}")],
        br#"["SET","a","2"]"#,
    );
    let t2 = second.header("upstash-sync-token").unwrap().to_string();
    assert!(!t1.is_empty() && !t2.is_empty());
    assert_ne!(t1, t2);
    let garbled = http.request(
        "POST",
        "/",
        &[H, "upstash-sync-token: x-y"],
        br#"["GET","a"]"#,
    );
    assert_eq!(garbled.text(), r#"{"result":"2"}"#);
}

#[test]
fn row_30_subscribe_streams_messages_raw() {
    let s = Rest::start();
    let mut sub = s.http();
    sub.send(
        "POST",
        "/subscribe/chat",
        &[H, E, "Accept: text/event-stream"],
        b"[]",
    );
    let (status, headers) = sub.read_head();
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-type")
                && v.starts_with("text/event-stream"))
    );
    assert_eq!(sub.next_event(), "subscribe,chat,1");
    assert_eq!(
        s.cmd(r#"["PUBLISH","chat","hello"]"#, false),
        ok(r#"{"result":1}"#)
    );
    assert_eq!(sub.next_event(), "message,chat,hello");
    s.post("/publish/chat/really%3F", &[H], "");
    assert_eq!(sub.next_event(), "message,chat,really?");
}

#[test]
fn row_31_psubscribe_streams_pattern_messages() {
    let s = Rest::start();
    let mut sub = s.http();
    sub.send("POST", "/psubscribe/ch*", &[H], b"[]");
    assert_eq!(sub.read_head().0, 200);
    assert_eq!(sub.next_event(), "psubscribe,ch*,1");
    assert_eq!(
        s.cmd(r#"["PUBLISH","ch1","x"]"#, false),
        ok(r#"{"result":1}"#)
    );
    assert_eq!(sub.next_event(), "pmessage,ch*,ch1,x");
}

#[test]
fn row_32_other_methods_are_405() {
    let s = Rest::start();
    for method in ["DELETE", "PATCH"] {
        let r = s.http().request(method, "/get/foo", &[H], b"");
        assert_eq!(r.status, 405, "{method}");
        assert!(r.text().starts_with(r#"{"error":"#));
    }
}

#[test]
fn row_33_readonly_token_refuses_writes_with_noperm() {
    let s = Rest::start();
    s.cmd(r#"["SET","k","v"]"#, false);
    let ro = format!("Authorization: Bearer {RO}");
    let r = s.post("/", &[&ro], r#"["SET","k","v"]"#);
    assert_eq!(
        (r.status, r.text()),
        (
            400,
            r#"{"error":"NOPERM this user has no permissions to run the 'set' command"}"#
                .to_string()
        )
    );
    let r = s.post("/", &[&ro], r#"["GET","k"]"#);
    assert_eq!((r.status, r.text()), ok(r#"{"result":"v"}"#));
}

#[test]
fn row_34_double_slash_pipeline() {
    let s = Rest::start();
    let r = s.post("//pipeline", &[H], r#"[["SET","p","v"],["GET","p"]]"#);
    assert_eq!(
        (r.status, r.text()),
        ok(r#"[{"result":"OK"},{"result":"v"}]"#)
    );
}

#[test]
fn row_35_json_recursive_descent_is_deepest_first() {
    let s = Rest::start();
    assert_eq!(
        s.cmd(
            r#"["JSON.SET","j","$","{\"a\":2,\"nested\":{\"a\":4}}"]"#,
            false
        ),
        ok(r#"{"result":"OK"}"#)
    );
    assert_eq!(
        s.cmd(r#"["JSON.GET","j","$..a"]"#, false),
        ok(r#"{"result":"[4,2]"}"#)
    );
}

#[test]
fn row_36_time_is_two_numeric_strings() {
    let s = Rest::start();
    let (status, body) = s.cmd(r#"["TIME"]"#, false);
    assert_eq!(status, 200);
    let inner = body
        .strip_prefix(r#"{"result":[""#)
        .and_then(|b| b.strip_suffix(r#""]}"#))
        .unwrap();
    let (secs, micros) = inner.split_once(r#"",""#).unwrap();
    assert!(secs.parse::<u64>().unwrap() > 1_700_000_000);
    assert!(micros.parse::<u64>().unwrap() < 1_000_000);
}
