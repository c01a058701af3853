//! A small HTTP/1.1 client over a real socket, for the REST API tests: keep-alive requests
//! with Content-Length bodies, and the lines of an SSE stream.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive connection.
pub struct Http {
    pub reader: BufReader<TcpStream>,
    pub host: String,
}

impl Http {
    pub fn connect(addr: &str) -> Http {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Http {
            reader: BufReader::new(stream),
            host: addr.to_string(),
        }
    }

    /// Sends a request; `headers` are `Name: value` lines.
    pub fn send(&mut self, method: &str, path: &str, headers: &[&str], body: &[u8]) {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes()).unwrap();
        let _ = stream.write_all(body);
    }

    pub fn request(&mut self, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Response {
        self.send(method, path, headers, body);
        self.read_response(method == "HEAD")
    }

    /// Status line and headers.
    pub fn read_head(&mut self) -> (u16, Vec<(String, String)>) {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_else(|| panic!("no status line: {line:?}"))
            .parse()
            .unwrap();
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        (status, headers)
    }

    pub fn read_response(&mut self, head_only: bool) -> Response {
        let (status, headers) = self.read_head();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let mut body = vec![0; if head_only { 0 } else { len }];
        self.reader.read_exact(&mut body).unwrap();
        Response {
            status,
            headers,
            body,
        }
    }

    /// The next `data: ` line of an SSE stream (chunk framing lines are skipped).
    pub fn next_event(&mut self) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.reader.read_line(&mut line).unwrap();
            assert!(n > 0, "the stream ended");
            if let Some(data) = line.trim_end().strip_prefix("data: ") {
                return data.to_string();
            }
        }
    }

    /// Whether the server closed the connection (reads until EOF or timeout).
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        self.reader
            .get_mut()
            .set_read_timeout(Some(timeout))
            .unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(_) => return false,
            }
        }
    }
}

/// A node with the REST API on a free port of its own: (node, REST port). Tests on this
/// machine share the port range, so a port found free can be taken before the node binds it;
/// the start is then tried again on other ports.
pub fn start_rest(extra: &[&str]) -> (super::Cairn, u16) {
    for attempt in 1.. {
        let port = super::free_port();
        let mut args = vec!["--rest-port".to_string(), port.to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let started = std::panic::catch_unwind(|| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            super::Cairn::start(&args)
        });
        match started {
            Ok(cairn) => return (cairn, port),
            Err(e) if attempt >= 3 => std::panic::resume_unwind(e),
            Err(_) => continue,
        }
    }
    unreachable!()
}
