//! The REST API under bad input and at its limits, over real HTTP against the real binary:
//! malformed bodies, oversized requests, unknown paths, refused commands, large pipelines,
//! SSE clients that leave, tokens issued by ACL RESTTOKEN (and kept across a restart), CORS,
//! the generated token, and a node that stays healthy for everyone else throughout.

mod common;

use std::time::{Duration, Instant};

use common::http::{Http, Response, start_rest};
use common::{Cairn, free_port};

const T: &str = "bad-input-token";
const H: &str = "Authorization: Bearer bad-input-token";

struct Rest {
    cairn: Cairn,
    addr: String,
}

impl Rest {
    fn start(extra: &[&str]) -> Rest {
        let mut args = vec!["--rest-token", T];
        args.extend(extra);
        let (cairn, port) = start_rest(&args);
        Rest {
            cairn,
            addr: format!("127.0.0.1:{port}"),
        }
    }

    fn http(&self) -> Http {
        Http::connect(&self.addr)
    }

    fn post(&self, path: &str, body: &[u8]) -> Response {
        self.http().request("POST", path, &[H], body)
    }

    /// The node still answers over REST and over RESP.
    fn assert_healthy(&self) {
        let r = self.post("/", br#"["PING"]"#);
        assert_eq!(r.text(), r#"{"result":"PONG"}"#);
        assert_eq!(self.cairn.conn().cmd(&["PING"]), b"+PONG\r\n");
    }

    /// The number of clients CLIENT LIST shows (the RESP connection asking included).
    fn clients(&self) -> usize {
        let list = self.cairn.conn().cmd(&["CLIENT", "LIST"]);
        String::from_utf8_lossy(&list).matches("id=").count()
    }

    /// Waits (up to 10 s) until CLIENT LIST shows `n` clients: connections a test closed
    /// leave the list a moment after.
    fn wait_clients(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.clients() != n {
            assert!(
                Instant::now() < deadline,
                "{} clients, not {n}",
                self.clients()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn error_of(r: &Response) -> String {
    let text = r.text();
    assert!(text.starts_with(r#"{"error":""#), "{text}");
    assert!(!text.contains(r#""result""#), "{text}");
    text
}

#[test]
fn malformed_bodies_get_400_with_a_clear_error() {
    let s = Rest::start(&[]);
    for body in [
        &b"GET foo"[..],
        b"{\"command\":\"GET\"}",
        b"[\"GET\",{\"a\":1}]",
        b"[\"GET\",[\"x\"]]",
        b"[]",
        b"",
        b"[\"GET\"",
        b"[\"SET\",\"k\",01]",
        b"\xff\xfe",
    ] {
        let r = s.post("/", body);
        assert_eq!(r.status, 400, "{}", body.escape_ascii());
        error_of(&r);
    }
    for body in [&b"[[]]"[..], b"[\"GET\"]", b"{}", b"[[\"GET\",{}]]"] {
        let r = s.post("/pipeline", body);
        assert_eq!(r.status, 400, "{}", body.escape_ascii());
        error_of(&r);
    }
    let r = s.post("/pipeline", b"[]");
    assert_eq!((r.status, r.text().as_str()), (200, "[]"));
    s.assert_healthy();
}

#[test]
fn bodies_over_the_limit_are_refused_and_nothing_else_is_disturbed() {
    let s = Rest::start(&[]);
    let mut http = s.http();
    // 20 MB against the default 10 MB limit.
    let mut big = b"[\"SET\",\"big\",\"".to_vec();
    big.resize(20 * 1024 * 1024, b'x');
    big.extend_from_slice(b"\"]");
    http.send("POST", "/", &[H], &big);
    let r = http.read_response(false);
    assert_eq!(r.status, 413);
    assert_eq!(r.text(), r#"{"error":"ERR max request size exceeded"}"#);
    assert_eq!(
        s.post("/", br#"["EXISTS","big"]"#).text(),
        r#"{"result":0}"#
    );
    s.assert_healthy();
}

#[test]
fn rest_max_request_size_is_configurable() {
    let s = Rest::start(&["--rest-max-request-size", "2048"]);
    let body = |n: usize| format!(r#"["SET","k","{}"]"#, "v".repeat(n));
    assert_eq!(s.post("/", body(1000).as_bytes()).status, 200);
    let r = s.post("/", body(3000).as_bytes());
    assert_eq!(r.status, 413);
    // A body without Content-Length (chunked) is cut at the limit as well.
    let mut raw = std::net::TcpStream::connect(&s.addr).unwrap();
    use std::io::Write;
    let chunk = body(3000);
    write!(
        raw,
        "POST / HTTP/1.1\r\nHost: x\r\n{H}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    )
    .unwrap();
    let mut http = Http {
        reader: std::io::BufReader::new(raw),
        host: s.addr.clone(),
    };
    assert_eq!(http.read_response(false).status, 413);
    let config = s
        .cairn
        .conn()
        .cmd(&["CONFIG", "GET", "rest-max-request-size"]);
    assert!(String::from_utf8_lossy(&config).contains("2048"));
    s.assert_healthy();
}

#[test]
fn unknown_commands_paths_and_refused_commands() {
    let s = Rest::start(&[]);
    let r = s.http().request("GET", "/nosuchcommand/x", &[H], b"");
    assert_eq!(r.status, 400);
    assert!(error_of(&r).contains("unknown command"), "{}", r.text());
    let r = s.http().request("GET", "/", &[H], b"");
    assert_eq!(r.status, 400);
    for command in [
        "SUBSCRIBE",
        "AUTH",
        "HELLO",
        "QUIT",
        "MULTI",
        "EXEC",
        "WATCH",
        "RESET",
    ] {
        let r = s.post("/", format!(r#"["{command}","x"]"#).as_bytes());
        assert_eq!(r.status, 400, "{command}");
        assert!(
            error_of(&r).contains("not available over REST"),
            "{command}: {}",
            r.text()
        );
    }
    let r = s.post("/", br#"["CLIENT","REPLY","OFF"]"#);
    assert!(error_of(&r).contains("not available over REST"));
    let r = s.post("/", br#"["PING"]"#);
    assert_eq!(r.text(), r#"{"result":"PONG"}"#);
    s.assert_healthy();
}

#[test]
fn a_thousand_command_pipeline_answers_every_row_in_order() {
    let s = Rest::start(&[]);
    let mut body = String::from("[");
    for i in 0..1000 {
        if i > 0 {
            body.push(',');
        }
        if i % 2 == 0 {
            body.push_str(r#"["INCR","counter"]"#);
        } else {
            body.push_str(r#"["GET","counter"]"#);
        }
    }
    body.push(']');
    let r = s.post("/pipeline", body.as_bytes());
    assert_eq!(r.status, 200);
    let mut expected = String::from("[");
    for i in 0..1000 {
        if i > 0 {
            expected.push(',');
        }
        let n = i / 2 + 1;
        if i % 2 == 0 {
            expected.push_str(&format!(r#"{{"result":{n}}}"#));
        } else {
            expected.push_str(&format!(r#"{{"result":"{n}"}}"#));
        }
    }
    expected.push(']');
    assert_eq!(r.text(), expected);
}

#[test]
fn sse_clients_that_leave_are_unsubscribed_and_unregistered() {
    let s = Rest::start(&[]);
    let before = s.clients();
    let mut subscribers = Vec::new();
    for _ in 0..5 {
        let mut sub = s.http();
        sub.send("POST", "/subscribe/news", &[H], b"[]");
        assert_eq!(sub.read_head().0, 200);
        assert_eq!(sub.next_event(), "subscribe,news,1");
        subscribers.push(sub);
    }
    let numsub = || s.cairn.conn().cmd(&["PUBSUB", "NUMSUB", "news"]);
    assert_eq!(numsub(), b"*2\r\n$4\r\nnews\r\n:5\r\n");
    s.wait_clients(before + 5);
    drop(subscribers);
    let deadline = Instant::now() + Duration::from_secs(10);
    while numsub() != b"*2\r\n$4\r\nnews\r\n:0\r\n" {
        assert!(Instant::now() < deadline, "subscriptions left behind");
        std::thread::sleep(Duration::from_millis(20));
    }
    s.wait_clients(before);
    assert_eq!(
        s.post("/", br#"["PUBLISH","news","x"]"#).text(),
        r#"{"result":0}"#
    );
    s.assert_healthy();
}

#[test]
fn a_client_that_leaves_a_blocking_command_is_cleaned_up() {
    let s = Rest::start(&[]);
    let before = s.clients();
    let mut http = s.http();
    http.send("POST", "/", &[H], br#"["BLPOP","queue",0]"#);
    s.cairn.conn().wait_blocked(1);
    drop(http);
    s.cairn.conn().wait_blocked(0);
    s.wait_clients(before);
    // A blocking command with a timeout answers like RESP's.
    let r = s.post("/", br#"["BLPOP","queue","0.05"]"#);
    assert_eq!(r.text(), r#"{"result":null}"#);
    s.post("/", br#"["RPUSH","queue","job"]"#);
    let r = s.post("/", br#"["BLPOP","queue",1]"#);
    assert_eq!(r.text(), r#"{"result":["queue","job"]}"#);
}

#[test]
fn acl_resttoken_issues_tokens_with_the_users_rights_that_survive_a_restart() {
    let port = free_port();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let args = ["--rest-port", &port.to_string(), "--rest-token", T];
    let resp_port = free_port();
    let mut cairn = Cairn::start_in(&dir, resp_port, &args);
    let mut raw = cairn.conn();
    assert_eq!(
        raw.cmd(&["ACL", "SETUSER", "app", "on", ">secret", "~app:*", "+@all"]),
        b"+OK\r\n"
    );
    let wrong = raw.cmd(&["ACL", "RESTTOKEN", "app", "nope"]);
    assert_eq!(
        wrong,
        b"-ERR Wrong password or user \"app\" does not exist\r\n"
    );
    let missing = raw.cmd(&["ACL", "RESTTOKEN", "ghost", "x"]);
    assert!(missing.starts_with(b"-ERR Wrong password or user \"ghost\""));
    let nopass = raw.cmd(&["ACL", "RESTTOKEN", "default", "x"]);
    assert!(nopass.starts_with(b"-ERR user \"default\" has no password"));
    let reply = raw.cmd(&["ACL", "RESTTOKEN", "app", "secret"]);
    let token = String::from_utf8(reply).unwrap();
    let token = token.split("\r\n").nth(1).unwrap().to_string();
    assert!(token.len() > 40, "{token}");
    // The command after it on the same connection gets its own reply.
    assert_eq!(raw.cmd(&["PING"]), b"+PONG\r\n");
    let auth = format!("Authorization: Bearer {token}");
    let addr = format!("127.0.0.1:{port}");
    let run = |body: &str| {
        Http::connect(&addr)
            .request("POST", "/", &[&auth], body.as_bytes())
            .text()
    };
    assert_eq!(run(r#"["SET","app:1","v"]"#), r#"{"result":"OK"}"#);
    assert_eq!(
        run(r#"["SET","other","v"]"#),
        r#"{"error":"NOPERM this user has no permissions to access one of the keys used as arguments"}"#
    );
    assert_eq!(run(r#"["ACL","WHOAMI"]"#), r#"{"result":"app"}"#);
    // The password still works over RESP; the token is not in the log's users.
    let list = String::from_utf8(raw.cmd(&["ACL", "LIST"])).unwrap();
    assert!(!list.contains(&token));
    cairn.stop();
    let cairn = Cairn::start_in(&dir, resp_port, &args);
    assert_eq!(run(r#"["GET","app:1"]"#), r#"{"result":"v"}"#);
    // Revoked with the user's passwords.
    let mut raw = cairn.conn();
    assert_eq!(
        raw.cmd(&["ACL", "SETUSER", "app", "resetpass", ">other"]),
        b"+OK\r\n"
    );
    let r = Http::connect(&addr).request("POST", "/", &[&auth], br#"["GET","app:1"]"#);
    assert_eq!(r.status, 401);
}

#[test]
fn cors_lets_a_browser_page_use_the_api() {
    let s = Rest::start(&[]);
    let r = s.http().request(
        "OPTIONS",
        "/",
        &[
            "Origin: https://example.test",
            "Access-Control-Request-Method: POST",
            "Access-Control-Request-Headers: authorization, upstash-encoding",
        ],
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(
        r.header("access-control-allow-headers")
            .unwrap()
            .contains("authorization")
    );
    assert!(
        r.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    let r = s.post("/", br#"["PING"]"#);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("upstash-sync-token")
    );
    let s = Rest::start(&["--rest-cors-origin", ""]);
    let r = s.post("/", br#"["PING"]"#);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn without_a_configured_token_one_is_generated_into_the_data_directory() {
    let (cairn, port) = start_rest(&[]);
    let path = cairn.dir.join("rest-token");
    let token = std::fs::read_to_string(&path).unwrap().trim().to_string();
    assert!(token.len() >= 40);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let auth = format!("Authorization: Bearer {token}");
    let r =
        Http::connect(&format!("127.0.0.1:{port}")).request("POST", "/", &[&auth], br#"["PING"]"#);
    assert_eq!(r.text(), r#"{"result":"PONG"}"#);
}

#[test]
fn keys_and_values_over_the_rest_limits_are_refused_with_upstash_errors() {
    let s = Rest::start(&["--rest-max-key-size", "16", "--rest-max-record-size", "64"]);
    let long_key = "k".repeat(17);
    let long_value = "v".repeat(65);
    let set = |k: &str, v: &str| format!(r#"["SET","{k}","{v}"]"#);
    let r = s.post("/", set(&long_key, "v").as_bytes());
    assert_eq!(r.status, 400);
    assert_eq!(
        error_of(&r),
        r#"{"error":"ERR max key size exceeded. Limit: 16 bytes, Actual: 17 bytes"}"#
    );
    let r = s.post("/", set("k", &long_value).as_bytes());
    assert_eq!(
        error_of(&r),
        r#"{"error":"ERR max single record size exceeded"}"#
    );
    // At the limits, the command runs.
    let r = s.post("/", set(&"k".repeat(16), &"v".repeat(64)).as_bytes());
    assert_eq!(r.text(), r#"{"result":"OK"}"#);
    // Keys found by the command's key specs, wherever they are.
    let r = s.post(
        "/",
        format!(r#"["MSET","a","1","{long_key}","2"]"#).as_bytes(),
    );
    assert!(error_of(&r).contains("max key size exceeded"));
    // In a pipeline only the oversized row fails; a transaction is discarded as a whole.
    let rows = format!(r#"[["SET","p","1"],{}]"#, set("k", &long_value));
    let r = s.post("/pipeline", rows.as_bytes());
    assert_eq!(
        r.text(),
        r#"[{"result":"OK"},{"error":"ERR max single record size exceeded"}]"#
    );
    let rows = format!(r#"[["SET","t","1"],{}]"#, set(&long_key, "v"));
    let r = s.post("/multi-exec", rows.as_bytes());
    assert!(
        error_of(&r).contains("max key size exceeded"),
        "{}",
        r.text()
    );
    let mut c = s.cairn.conn();
    assert_eq!(c.cmd(&["EXISTS", "t", &long_key]), b":0\r\n");
    // RESP clients are not bound by the REST limits.
    assert_eq!(c.cmd(&["SET", &long_key, &long_value]), b"+OK\r\n");
    let config = String::from_utf8_lossy(&c.cmd(&["CONFIG", "GET", "rest-max-*"])).into_owned();
    assert!(
        config.contains("rest-max-key-size\r\n$2\r\n16\r\n"),
        "{config}"
    );
    assert!(
        config.contains("rest-max-record-size\r\n$2\r\n64\r\n"),
        "{config}"
    );
    s.assert_healthy();
}

#[test]
fn rest_port_zero_serves_no_rest_api_and_config_get_reports_the_options() {
    let port = free_port();
    let s = Cairn::start(&["--rest-port", "0"]);
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let config = s.conn().cmd(&["CONFIG", "GET", "rest-*"]);
    let text = String::from_utf8_lossy(&config);
    for option in [
        "rest-port",
        "rest-bind",
        "rest-max-request-size",
        "rest-max-key-size",
        "rest-max-record-size",
        "rest-cors-origin",
    ] {
        assert!(text.contains(option), "{option}: {text}");
    }
    assert!(text.contains("10485760"), "{text}");
    assert!(
        text.contains("32768") && text.contains("104857600"),
        "{text}"
    );
}

#[test]
fn resp2_response_format_and_keep_alive() {
    let s = Rest::start(&[]);
    let mut http = s.http();
    for i in 0..50 {
        let r = http.request(
            "POST",
            "/",
            &[H],
            format!(r#"["SET","k","{i}"]"#).as_bytes(),
        );
        assert_eq!(r.text(), r#"{"result":"OK"}"#);
    }
    let r = http.request(
        "POST",
        "/",
        &[H, "Upstash-Response-Format: resp2"],
        br#"["GET","k"]"#,
    );
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.body, b"$2\r\n49\r\n");
    let r = http.request(
        "POST",
        "/",
        &[H, "Upstash-Response-Format: xml"],
        br#"["GET","k"]"#,
    );
    assert_eq!(r.status, 400);
    let r = http.request(
        "POST",
        "/",
        &[
            H,
            "Upstash-Response-Format: resp2",
            "Upstash-Encoding: base64",
        ],
        br#"["GET","k"]"#,
    );
    assert_eq!(r.status, 400);
}

#[test]
fn binary_values_round_trip_through_base64_and_the_url_form() {
    let s = Rest::start(&[]);
    // Invalid UTF-8 stored over RESP comes back exactly under base64, replaced without it.
    let mut raw = s.cairn.conn();
    raw.send(b"*3\r\n$3\r\nSET\r\n$3\r\nbin\r\n$3\r\n\xff\x00\xfe\r\n");
    assert_eq!(raw.read_reply(), b"+OK\r\n");
    let r = s.http().request(
        "POST",
        "/",
        &[H, "Upstash-Encoding: base64"],
        br#"["GET","bin"]"#,
    );
    assert_eq!(r.text(), r#"{"result":"/wD+"}"#);
    let r = s.post("/", br#"["GET","bin"]"#);
    assert_eq!(r.text(), "{\"result\":\"\u{FFFD}\\u0000\u{FFFD}\"}");
    // A raw body in the URL form is stored byte for byte.
    let r = s.http().request("POST", "/set/raw", &[H], b"\x00\x01\xff");
    assert_eq!(r.text(), r#"{"result":"OK"}"#);
    assert_eq!(raw.cmd(&["STRLEN", "raw"]), b":3\r\n");
    // Percent-encoded path segments are decoded.
    s.http().request("GET", "/set/sp%20ace/a%2Fb", &[H], b"");
    assert_eq!(raw.cmd(&["GET", "sp ace"]), b"$3\r\na/b\r\n");
}

#[test]
fn shutdown_ends_sse_streams_and_closes_idle_connections() {
    let mut s = Rest::start(&[]);
    let mut sub = s.http();
    sub.send("POST", "/subscribe/news", &[H], b"[]");
    assert_eq!(sub.read_head().0, 200);
    assert_eq!(sub.next_event(), "subscribe,news,1");
    let mut idle = s.http();
    assert_eq!(
        idle.request("POST", "/", &[H], br#"["PING"]"#).text(),
        r#"{"result":"PONG"}"#
    );
    let started = Instant::now();
    s.cairn.stop();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "stopping took {:?}",
        started.elapsed()
    );
    assert!(sub.closed_within(Duration::from_secs(1)));
    assert!(idle.closed_within(Duration::from_secs(1)));
}

#[test]
fn config_rewrite_writes_the_rest_port_only_when_it_was_configured() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("cairn.toml");
    std::fs::write(&config, "rest-max-request-size = 4096\nrest-port = 0\n").unwrap();
    let cairn = Cairn::start_in(
        &tmp.path().join("data"),
        free_port(),
        &["--config", config.to_str().unwrap()],
    );
    assert_eq!(cairn.conn().cmd(&["CONFIG", "REWRITE"]), b"+OK\r\n");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("rest-port = 0\n"), "{text}");
    assert!(text.contains("rest-max-request-size = 4096\n"), "{text}");
    assert!(!text.contains("rest-bind"), "{text}");
    drop(cairn);
    std::fs::write(&config, "rest-cors-origin = \"\"\n").unwrap();
    let cairn = Cairn::start_in(
        &tmp.path().join("data"),
        free_port(),
        &["--config", config.to_str().unwrap()],
    );
    assert_eq!(cairn.conn().cmd(&["CONFIG", "REWRITE"]), b"+OK\r\n");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        !text.contains("rest-port"),
        "the default port stays a default: {text}"
    );
    assert!(text.contains("rest-cors-origin = \"\"\n"), "{text}");
}
