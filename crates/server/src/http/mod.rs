//! The Upstash-compatible REST API: `POST /` with a JSON command, the URL form
//! (`GET /set/foo/bar`), `/pipeline`, `/multi-exec`, and Server-Sent Events for
//! `/subscribe/<channel>`, `/psubscribe/<pattern>` and `/monitor`, as `@upstash/redis` and
//! `upstash-redis` speak it (`docs/REST.md` in the README; the spec's conformance matrix is
//! `crates/cairn/tests/rest_conformance.rs`).
//!
//! A request is one more client of the node: its token names an ACL user, and each command
//! goes through a `Session` like a RESP connection's — the same gate (resolve, arity, ACL)
//! and dispatch (reads, writes through the log, connection and node commands) — with the
//! replies kept as `Reply` values that `json.rs` renders. No command is implemented twice.
//!
//! Connections run on the node's event-loop thread, as RESP sessions do (the core is not
//! `Send`): hyper drives each HTTP/1.1 connection (keep-alive; HTTPS with the RESP TLS
//! listener's certificates when `tls-port` is set) with one service function, and axum
//! provides the body, response and SSE types. (axum's `Router` needs `Send` handlers, which
//! the single-threaded core cannot give without a thread hop per request.)
//!
//! Architecture invariant: a token is never logged; an SSE client that goes away is
//! unsubscribed and unregistered at once, whether or not a message was due.

pub mod json;
pub mod tokens;

use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use bytes::Bytes;
use cairn_engine::SessionCmd;
use cairn_engine::acl::User;
use cairn_engine::table::{self, Handler};
use cairn_resp::{Protocol, Reply};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::node::{NodeHandle, Shared};
use crate::session::{Row, Session};
use json::Encoding;
use tokens::Tokens;

/// How often an SSE stream sends a comment, so that proxies keep an idle stream open.
const SSE_KEEPALIVE: Duration = Duration::from_secs(15);
/// How long shutdown waits for requests in progress before closing their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything a request needs; one per node, shared by its connections.
struct Ctx {
    shared: Arc<Shared>,
    node: NodeHandle,
    tokens: Tokens,
    max_request_size: usize,
    /// `rest-max-key-size`, `rest-max-record-size` (0: no limit).
    max_key_size: usize,
    max_record_size: usize,
    cors_origin: Option<HeaderValue>,
    /// Distinguishes sync tokens handed out at the same log position.
    responses: Cell<u64>,
    /// HTTPS: the RESP listener's TLS config this one was made from, and this one.
    tls: std::cell::RefCell<Option<(Arc<rustls::ServerConfig>, Arc<rustls::ServerConfig>)>>,
}

impl Ctx {
    /// The TLS config of new REST connections: the RESP listener's certificates and
    /// protocols (following its reloads), without asking for client certificates (browsers
    /// and the SDKs have none), offering HTTP/1.1 by ALPN.
    fn tls_config(&self) -> Option<Arc<rustls::ServerConfig>> {
        let resp = self.shared.tls.current()?;
        let mut cached = self.tls.borrow_mut();
        if let Some((from, config)) = cached.as_ref()
            && Arc::ptr_eq(from, &resp)
        {
            return Some(config.clone());
        }
        let mut tls = self.shared.config.read().expect("config lock").tls.clone();
        tls.auth_clients = crate::config::TlsAuthClients::No;
        let config = match crate::tls::server_config(&tls) {
            Ok(config) => {
                let mut config = Arc::unwrap_or_clone(config);
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Arc::new(config)
            }
            Err(e) => {
                tracing::warn!("REST TLS configuration: {}", e.message);
                return cached.as_ref().map(|(_, config)| config.clone());
            }
        };
        *cached = Some((resp, config.clone()));
        Some(config)
    }
}

/// The bound REST listener and its tokens, before it serves.
pub struct Listener {
    listener: TcpListener,
    tokens: Tokens,
}

impl Listener {
    /// With the tokens of `config` (a generated one is kept in its data directory).
    pub fn new(listener: TcpListener, config: &crate::Config) -> anyhow::Result<Listener> {
        std::fs::create_dir_all(&config.dir).map_err(|e| {
            anyhow::anyhow!("cannot create data directory {}: {e}", config.dir.display())
        })?;
        let tokens = Tokens::load(config)?;
        Ok(Listener { listener, tokens })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }
}

/// Binds `rest-port` (0: none). A configured port that cannot be bound is an error; the
/// default one only gets a warning, so that a second server on the same host still starts.
pub async fn bind(config: &crate::Config, ephemeral: bool) -> anyhow::Result<Option<TcpListener>> {
    let rest = &config.rest;
    if rest.port == 0 {
        return Ok(None);
    }
    let host = rest.bind.clone().unwrap_or_else(|| config.bind.clone());
    // In-process tests (both RESP ports 0) get a REST port the OS picks.
    let port = if ephemeral && !rest.port_configured {
        0
    } else {
        rest.port
    };
    match crate::listen(&host, port).await {
        Ok(listener) => Ok(Some(listener)),
        Err(e) if !rest.port_configured => {
            tracing::warn!("REST API not served: cannot listen on {host}:{port}: {e}");
            Ok(None)
        }
        Err(e) => anyhow::bail!("cannot listen on {host}:{port} (rest-port): {e}"),
    }
}

/// Serves REST connections until shutdown, then gives requests in progress `SHUTDOWN_GRACE`.
pub async fn serve(rest: Listener, shared: Arc<Shared>, node: NodeHandle) {
    let config = shared.config.read().expect("config lock").clone();
    let cors_origin = match config.rest.cors_origin.as_str() {
        "" => None,
        origin => HeaderValue::from_str(origin).ok(),
    };
    let ctx = Rc::new(Ctx {
        shared: shared.clone(),
        node,
        tokens: rest.tokens,
        max_request_size: config.rest.max_request_size,
        max_key_size: config.rest.max_key_size,
        max_record_size: config.rest.max_record_size,
        cors_origin,
        responses: Cell::new(0),
        tls: std::cell::RefCell::new(None),
    });
    let tls = config.tls.enabled();
    let handshake_timeout = Duration::from_millis(config.tls.handshake_timeout_ms);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = rest.listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("accepting a REST connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        let watcher = graceful.watcher();
        let tls_config = if tls { ctx.tls_config() } else { None };
        tokio::task::spawn_local(async move {
            let local = stream.local_addr().unwrap_or(peer);
            match tls_config {
                Some(config) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    let Ok(Ok(stream)) =
                        tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    connection(ctx, stream, peer, local, watcher).await
                }
                None => connection(ctx, stream, peer, local, watcher).await,
            }
        });
    }
    drop(rest.listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

/// One HTTP/1.1 connection (keep-alive), watched for graceful shutdown.
async fn connection<S>(
    ctx: Rc<Ctx>,
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(handle(&ctx, req, peer, local).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    let _ = watcher.watch(conn).await;
}

// ---------------------------------------------------------------------------------------------
// Requests

/// What a request asks for, from its path.
enum Route {
    /// `POST /` with a JSON command, or the URL form.
    Single(Vec<Bytes>),
    Pipeline(Vec<Vec<Bytes>>),
    MultiExec(Vec<Vec<Bytes>>),
    Subscribe(crate::pubsub::Kind, Bytes),
    /// `/monitor`: MONITOR's lines as SSE.
    Monitor,
}

/// A request refused before any command ran: its status and error text.
struct Refused {
    status: StatusCode,
    text: String,
    /// The rest of the body was not read: the connection cannot carry another request.
    close: bool,
}

impl Refused {
    fn response(self) -> Response<Body> {
        let mut response = Response::new(Body::from(json::error_body(&self.text)));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(
                header::ALLOW,
                HeaderValue::from_static("GET, HEAD, POST, PUT, OPTIONS"),
            );
        }
        if self.close {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

fn error(status: StatusCode, text: &str) -> Refused {
    Refused {
        status,
        text: text.to_string(),
        close: false,
    }
}

async fn handle(
    ctx: &Ctx,
    req: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Response<Body> {
    let mut response = match respond(ctx, req, peer, local).await {
        Ok(response) => response,
        Err(refused) => refused.response(),
    };
    if let Some(origin) = &ctx.cors_origin {
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("upstash-sync-token"),
        );
    }
    response
}

async fn respond(
    ctx: &Ctx,
    req: Request<hyper::body::Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Result<Response<Body>, Refused> {
    let method = req.method().clone();
    if method == Method::OPTIONS {
        return Ok(preflight(ctx));
    }
    if ![Method::GET, Method::HEAD, Method::POST, Method::PUT].contains(&method) {
        return Err(error(
            StatusCode::METHOD_NOT_ALLOWED,
            "ERR method not allowed",
        ));
    }
    let segments: Vec<Bytes> = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| Bytes::from(percent_decode(s.as_bytes()).collect::<Vec<u8>>()))
        .collect();
    let query = query_pairs(req.uri().query().unwrap_or(""));
    let token = bearer(req.headers())
        .or_else(|| {
            query
                .iter()
                .find(|(k, _)| &k[..] == b"_token")
                .and_then(|(_, v)| v.clone())
        })
        .ok_or_else(unauthorized)?;
    let user = ctx
        .node
        .users(|u| ctx.tokens.user_of(&token, u))
        .ok_or_else(unauthorized)?;
    let format = response_format(req.headers());
    let sync = req
        .headers()
        .get("upstash-sync-token")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_sync_token);
    // Read before a refusal of the headers, so that the connection stays usable.
    let body = read_body(ctx, req).await?;
    let (encoding, resp2) = format?;
    let route = route(&method, &segments, &query, body)?;
    let single = matches!(route, Route::Single(_));
    let rows = match route {
        Route::Subscribe(kind, name) => return subscribe(ctx, user, kind, name, peer, local).await,
        Route::Monitor => return monitor(ctx, user, peer, local).await,
        Route::Single(argv) => vec![argv],
        Route::Pipeline(rows) | Route::MultiExec(rows) if rows.is_empty() => {
            return Ok(json_response(StatusCode::OK, b"[]".to_vec(), ctx));
        }
        Route::Pipeline(rows) => rows,
        Route::MultiExec(rows) => {
            return Ok(match multi_exec(ctx, user, rows, peer, local, sync).await {
                // EXEC's array: one envelope per command, as a pipeline's.
                Reply::Array(replies) => envelopes(ctx, &replies, encoding),
                // Discarded as a whole.
                reply => reply_response(ctx, &reply, encoding, false),
            });
        }
    };
    let rows = rows.into_iter().map(|argv| admit(ctx, argv)).collect();
    let replies = run(ctx, user, rows, peer, local, sync).await;
    if single {
        return Ok(reply_response(ctx, &replies[0], encoding, resp2));
    }
    Ok(envelopes(ctx, &replies, encoding))
}

/// `[{"result":…},{"error":…},…]`: a pipeline's or a transaction's replies, HTTP 200.
fn envelopes(ctx: &Ctx, replies: &[Reply], encoding: Encoding) -> Response<Body> {
    let mut out = Vec::with_capacity(64 * replies.len());
    out.push(b'[');
    for (i, reply) in replies.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::envelope(reply, encoding, &mut out);
    }
    out.push(b']');
    json_response(StatusCode::OK, out, ctx)
}

/// `Upstash-Encoding` (anything but base64 is ignored) and `Upstash-Response-Format`.
fn response_format(headers: &HeaderMap) -> Result<(Encoding, bool), Refused> {
    let encoding = match headers.get("upstash-encoding") {
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"base64") => Encoding::Base64,
        _ => Encoding::Text,
    };
    let resp2 = match headers.get("upstash-response-format") {
        None => false,
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"json") => false,
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"resp2") => true,
        Some(_) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "ERR Upstash-Response-Format must be json or resp2",
            ));
        }
    };
    if resp2 && encoding == Encoding::Base64 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "ERR Upstash-Response-Format resp2 cannot be combined with Upstash-Encoding base64",
        ));
    }
    Ok((encoding, resp2))
}

fn unauthorized() -> Refused {
    error(StatusCode::UNAUTHORIZED, "Unauthorized")
}

/// `Authorization: Bearer <token>`, the scheme matched in any case.
fn bearer(headers: &HeaderMap) -> Option<Bytes> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at(value.iter().position(|&c| c == b' ')?);
    scheme
        .eq_ignore_ascii_case(b"bearer")
        .then(|| Bytes::copy_from_slice(token.trim_ascii()))
}

/// `k=v&k2&k3=v3`, percent-decoded, in order.
fn query_pairs(query: &str) -> Vec<(Bytes, Option<Bytes>)> {
    let decode = |s: &str| Bytes::from(percent_decode(s.as_bytes()).collect::<Vec<u8>>());
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), Some(decode(v))),
            None => (decode(pair), None),
        })
        .collect()
}

/// The log position of an `upstash-sync-token` this node handed out (`<seq>-<n>`); any other
/// value (the SDKs start with "") asks for nothing.
fn parse_sync_token(text: &str) -> Option<u64> {
    text.split('-').next()?.parse().ok()
}

/// The body, up to `rest-max-request-size`.
async fn read_body(ctx: &Ctx, req: Request<hyper::body::Incoming>) -> Result<Bytes, Refused> {
    let too_large = || Refused {
        close: true,
        ..error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ERR max request size exceeded",
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > ctx.max_request_size as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(Body::new(req.into_body()), ctx.max_request_size)
        .await
        .map_err(|_| too_large())
}

fn route(
    method: &Method,
    segments: &[Bytes],
    query: &[(Bytes, Option<Bytes>)],
    body: Bytes,
) -> Result<Route, Refused> {
    let bad = |e: json::BadRequest| error(StatusCode::BAD_REQUEST, &e.0);
    let Some(first) = segments.first() else {
        if method == Method::GET || method == Method::HEAD {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "ERR no command: POST a JSON array, or GET /<command>/<arg>/...",
            ));
        }
        return json::parse_command(&body).map(Route::Single).map_err(bad);
    };
    let name = first.to_ascii_lowercase();
    let post_only = || {
        if method == Method::POST || method == Method::PUT {
            Ok(())
        } else {
            Err(error(
                StatusCode::METHOD_NOT_ALLOWED,
                "ERR method not allowed: use POST",
            ))
        }
    };
    match &name[..] {
        b"pipeline" | b"multi-exec" if segments.len() == 1 => {
            post_only()?;
            let rows = json::parse_rows(&body).map_err(bad)?;
            Ok(if &name[..] == b"pipeline" {
                Route::Pipeline(rows)
            } else {
                Route::MultiExec(rows)
            })
        }
        b"subscribe" | b"psubscribe" if segments.len() >= 2 => {
            let kind = if &name[..] == b"subscribe" {
                crate::pubsub::Kind::Channel
            } else {
                crate::pubsub::Kind::Pattern
            };
            // Everything after the first segment is the name, slashes included.
            Ok(Route::Subscribe(
                kind,
                Bytes::from(segments[1..].join(&b'/')),
            ))
        }
        b"monitor" if segments.len() == 1 => Ok(Route::Monitor),
        _ => {
            let mut argv = segments.to_vec();
            if (method == Method::POST || method == Method::PUT) && !body.is_empty() {
                argv.push(body);
            }
            for (k, v) in query {
                if &k[..] == b"_token" {
                    continue;
                }
                argv.push(k.clone());
                argv.extend(v.clone());
            }
            Ok(Route::Single(argv))
        }
    }
}

/// Commands a REST request cannot run: they change or need a connection that outlives the
/// request (subscriptions go through the SSE endpoints, transactions through `/multi-exec`),
/// or name a key or carry a value longer than the REST limits (Upstash's errors).
fn admit(ctx: &Ctx, argv: Vec<Bytes>) -> Row {
    oversized(ctx, &argv)?;
    let refused = || {
        Err(Reply::error(format!(
            "ERR Command is not available over REST: '{}'",
            String::from_utf8_lossy(&argv[0]).to_ascii_lowercase()
        )))
    };
    let lower = argv[0].to_ascii_lowercase();
    if matches!(
        &lower[..],
        b"multi" | b"exec" | b"discard" | b"watch" | b"unwatch" | b"monitor"
    ) {
        return refused();
    }
    if let Some(spec) = table::lookup(&argv[0]) {
        let sub = argv.get(1).and_then(|name| table::lookup_sub(spec, name));
        let handler = sub.map_or(&spec.handler, |s| &s.handler);
        use SessionCmd as C;
        if let Handler::Session(
            C::Subscribe
            | C::Psubscribe
            | C::Ssubscribe
            | C::Unsubscribe
            | C::Punsubscribe
            | C::Sunsubscribe
            | C::Quit
            | C::Reset
            | C::Hello
            | C::Auth
            | C::ClientReply,
        ) = handler
        {
            return refused();
        }
    }
    Ok(argv)
}

/// Upstash's key and record limits: a key longer than `rest-max-key-size`, or any other
/// argument longer than `rest-max-record-size`, refuses the command.
fn oversized(ctx: &Ctx, argv: &[Bytes]) -> Result<(), Reply> {
    let mut is_key = vec![false; argv.len()];
    if let Ok(spec) = table::resolve(argv) {
        spec.keys_of(argv, |i, _| {
            is_key[i] = true;
            true
        });
    }
    for (arg, key) in argv.iter().zip(is_key) {
        if key && ctx.max_key_size > 0 && arg.len() > ctx.max_key_size {
            return Err(Reply::error(format!(
                "ERR max key size exceeded. Limit: {} bytes, Actual: {} bytes",
                ctx.max_key_size,
                arg.len()
            )));
        }
        if !key && ctx.max_record_size > 0 && arg.len() > ctx.max_record_size {
            return Err(Reply::error_static("ERR max single record size exceeded"));
        }
    }
    Ok(())
}

/// Runs `rows` for `user` as one client (one lane, in order), after the sync token.
async fn run(
    ctx: &Ctx,
    user: Arc<User>,
    rows: Vec<Row>,
    peer: SocketAddr,
    local: SocketAddr,
    sync: Option<u64>,
) -> Vec<Reply> {
    let mut client = RestClient::new(ctx, user, peer, local);
    if let Some(seq) = sync
        && seq > ctx.node.durable_seq()
    {
        client.session.sync_to(seq).await;
    }
    client.session.run_rows(rows).await
}

/// `/multi-exec`: the rows as one transaction, or one error when it is discarded.
async fn multi_exec(
    ctx: &Ctx,
    user: Arc<User>,
    rows: Vec<Vec<Bytes>>,
    peer: SocketAddr,
    local: SocketAddr,
    sync: Option<u64>,
) -> Reply {
    // Checked before anything runs, as MULTI queues them: an unknown command, a wrong arity or
    // a command REST refuses discards the whole transaction.
    for argv in &rows {
        if let Err((_, reply)) = table::resolve(argv) {
            return discarded(&reply);
        }
        if let Err(reply) = admit(ctx, argv.clone()) {
            return discarded(&reply);
        }
    }
    let mut client = RestClient::new(ctx, user, peer, local);
    if let Some(seq) = sync
        && seq > ctx.node.durable_seq()
    {
        client.session.sync_to(seq).await;
    }
    transaction(&mut client.session, rows).await
}

fn discarded(reply: &Reply) -> Reply {
    let text = match reply {
        Reply::Error(text) => String::from_utf8_lossy(text).into_owned(),
        _ => String::new(),
    };
    Reply::error(format!(
        "ERR Transaction discarded because of previous errors: {text}"
    ))
}

/// The seam for MULTI/EXEC: runs `rows` atomically in the session and returns EXEC's reply
/// (an array with one reply per row, or the error that discarded the transaction). It runs
/// MULTI, the rows and EXEC through the session like a RESP client's transaction, so it
/// needs nothing of its own once the command table has MULTI and EXEC.
async fn transaction(session: &mut Session, rows: Vec<Vec<Bytes>>) -> Reply {
    if table::lookup(b"multi").is_none() || table::lookup(b"exec").is_none() {
        // Never run the rows one by one: that would not be a transaction.
        return Reply::error_static(
            "ERR /multi-exec needs MULTI/EXEC, which this server does not have yet; use /pipeline",
        );
    }
    let mut all: Vec<Row> = Vec::with_capacity(rows.len() + 2);
    all.push(Ok(vec![Bytes::from_static(b"MULTI")]));
    all.extend(rows.into_iter().map(Ok));
    all.push(Ok(vec![Bytes::from_static(b"EXEC")]));
    let mut replies = session.run_rows(all).await;
    match &replies[0] {
        Reply::Error(_) => replies.swap_remove(0),
        _ => replies.pop().expect("EXEC's reply"),
    }
}

/// A request's client: registered for its lifetime (CLIENT LIST shows it), unregistered and
/// unsubscribed when dropped, whether the request finished or its connection went away.
struct RestClient {
    session: Session,
}

impl RestClient {
    fn new(ctx: &Ctx, user: Arc<User>, peer: SocketAddr, local: SocketAddr) -> RestClient {
        let client = ctx.shared.clients.register(peer, local);
        let session = Session::for_rest(ctx.shared.clone(), ctx.node.clone(), client, user);
        RestClient { session }
    }
}

impl Drop for RestClient {
    fn drop(&mut self) {
        crate::pubsub::unsubscribe_all(&mut self.session);
        crate::monitor::stop(&mut self.session);
        crate::pause::forget(&mut self.session);
        self.session
            .shared
            .clients
            .unregister(self.session.client.id);
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

fn next_sync_token(ctx: &Ctx) -> HeaderValue {
    let n = ctx.responses.get() + 1;
    ctx.responses.set(n);
    let text = format!("{}-{n}", ctx.node.durable_seq());
    HeaderValue::from_str(&text).expect("digits and a dash")
}

fn json_response(status: StatusCode, body: Vec<u8>, ctx: &Ctx) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("upstash-sync-token", next_sync_token(ctx));
    response
}

/// One command's reply: 200 `{"result":…}`, or 400 `{"error":…}`; raw RESP2 on request.
fn reply_response(ctx: &Ctx, reply: &Reply, encoding: Encoding, resp2: bool) -> Response<Body> {
    let status = if reply.is_error() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    if resp2 {
        let mut out = bytes::BytesMut::new();
        cairn_resp::encode(reply, Protocol::Resp2, &mut out);
        let mut response = json_response(status, out.to_vec(), ctx);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        return response;
    }
    let mut out = Vec::with_capacity(64);
    json::envelope(reply, encoding, &mut out);
    json_response(status, out, ctx)
}

/// CORS preflight: a browser page may send the SDKs' headers with a token.
fn preflight(ctx: &Ctx) -> Response<Body> {
    let mut response = StatusCode::NO_CONTENT.into_response();
    if ctx.cors_origin.is_some() {
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD, POST, PUT, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "authorization, content-type, upstash-encoding, upstash-sync-token, upstash-response-format, upstash-telemetry-runtime, upstash-telemetry-platform, upstash-telemetry-sdk, upstash-telemetry-retry, cache-control",
            ),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Server-Sent Events

/// `/subscribe/<channel>`, `/psubscribe/<pattern>`: the subscription goes through the gate
/// (ACL channels) like SUBSCRIBE; then each message is one `data:` event until the client
/// leaves (or the node stops), when the subscription is removed.
async fn subscribe(
    ctx: &Ctx,
    user: Arc<User>,
    kind: crate::pubsub::Kind,
    name: Bytes,
    peer: SocketAddr,
    local: SocketAddr,
) -> Result<Response<Body>, Refused> {
    let command: &'static [u8] = match kind {
        crate::pubsub::Kind::Pattern => b"PSUBSCRIBE",
        _ => b"SUBSCRIBE",
    };
    let mut client = RestClient::new(ctx, user, peer, local);
    let argv = vec![Bytes::from_static(command), name];
    let confirmation = client.session.run_rows(vec![Ok(argv)]).await;
    let first = match confirmation.into_iter().next() {
        Some(Reply::Error(text)) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                &String::from_utf8_lossy(&text),
            ));
        }
        Some(reply) => sse_line(&reply),
        None => None,
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    if let Some(first) = first {
        let _ = tx.send(first);
    }
    let mut shutdown = ctx.shared.shutdown.subscribe();
    tokio::task::spawn_local(async move {
        loop {
            tokio::select! {
                message = client.session.next_push() => {
                    let Some(message) = message else { break };
                    if let Some(line) = sse_line(&message)
                        && tx.send(line).is_err()
                    {
                        break;
                    }
                }
                _ = tx.closed() => break,
                _ = shutdown.changed() => break,
            }
        }
        // Dropping the client unsubscribes and unregisters it.
        drop(client);
    });
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|line| line.map(|l| Ok::<_, Infallible>(Event::default().data(l))))
    });
    Ok(sse_response(ctx, stream))
}

/// `/monitor`: MONITOR goes through the gate (it needs `@admin`); the first event is `"OK"`,
/// then one per line MONITOR shows, without its `+` (`1721284005.242090 [0 127.0.0.1:5000]
/// "GET" "k"`), until the client leaves or the node stops. A client that does not read its
/// events is cut off once `MONITOR_BACKLOG_BYTES` of them wait, as a RESP monitor is cut off
/// at its output buffer limit.
async fn monitor(
    ctx: &Ctx,
    user: Arc<User>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Result<Response<Body>, Refused> {
    let mut client = RestClient::new(ctx, user, peer, local);
    let argv = vec![Bytes::from_static(b"MONITOR")];
    let reply = client.session.run_rows(vec![Ok(argv)]).await;
    if let Some(Reply::Error(text)) = reply.into_iter().next() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            &String::from_utf8_lossy(&text),
        ));
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let ok = "\"OK\"".to_string();
    // Bytes of lines the client has not taken yet.
    let waiting = Arc::new(std::sync::atomic::AtomicUsize::new(ok.len()));
    let _ = tx.send(ok);
    let taken = waiting.clone();
    let mut shutdown = ctx.shared.shutdown.subscribe();
    tokio::task::spawn_local(async move {
        use std::sync::atomic::Ordering::Relaxed;
        loop {
            tokio::select! {
                line = client.session.next_push() => {
                    // Lines are printable ASCII (MONITOR escapes the rest).
                    let Some(Reply::Simple(line)) = line else { break };
                    if waiting.fetch_add(line.len(), Relaxed) + line.len() > MONITOR_BACKLOG_BYTES
                        || tx.send(String::from_utf8_lossy(&line).into_owned()).is_err()
                    {
                        break;
                    }
                }
                _ = tx.closed() => break,
                _ = shutdown.changed() => break,
            }
        }
        // Dropping the client stops the monitor and unregisters it.
        drop(client);
    });
    let stream = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|line| {
            line.map(|l| {
                taken.fetch_sub(l.len(), std::sync::atomic::Ordering::Relaxed);
                Ok::<_, Infallible>(Event::default().data(l))
            })
        })
    });
    Ok(sse_response(ctx, stream))
}

/// An SSE stream with keep-alive comments and the sync token header.
fn sse_response<S>(ctx: &Ctx, stream: S) -> Response<Body>
where
    S: futures_util::Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(SSE_KEEPALIVE).text("keepalive"))
        .into_response();
    response
        .headers_mut()
        .insert("upstash-sync-token", next_sync_token(ctx));
    response
}

/// `/monitor` lines (bytes) waiting for a client that does not read before it is cut off.
const MONITOR_BACKLOG_BYTES: usize = 32 * 1024 * 1024;

/// A pub/sub push as one SSE data line: `subscribe,chat,1`, `message,chat,hello`,
/// `pmessage,ch*,ch1,x`. Payloads are raw text (never base64); line breaks are escaped as
/// `\n` and `\r`, which SSE framing could not carry.
fn sse_line(reply: &Reply) -> Option<String> {
    let (Reply::Push(items) | Reply::Array(items)) = reply else {
        return None;
    };
    let mut line = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        match item {
            Reply::Bulk(b) | Reply::Simple(b) => {
                let text = String::from_utf8_lossy(b);
                line.push_str(&text.replace('\r', "\\r").replace('\n', "\\n"));
            }
            Reply::Int(n) => line.push_str(&n.to_string()),
            _ => {}
        }
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_lines_join_the_push_and_escape_line_breaks() {
        let push = Reply::Push(vec![
            Reply::bulk_copy(b"message"),
            Reply::bulk_copy(b"chat"),
            Reply::bulk_copy(b"a,b\nc"),
        ]);
        assert_eq!(sse_line(&push).unwrap(), "message,chat,a,b\\nc");
        let confirm = Reply::Push(vec![
            Reply::bulk_copy(b"subscribe"),
            Reply::bulk_copy(b"chat"),
            Reply::Int(1),
        ]);
        assert_eq!(sse_line(&confirm).unwrap(), "subscribe,chat,1");
    }

    #[test]
    fn query_pairs_decode_and_keep_order() {
        let pairs = query_pairs("EX=100&NX&_token=a%2Bb");
        assert_eq!(&pairs[0].0[..], b"EX");
        assert_eq!(pairs[0].1.as_deref(), Some(&b"100"[..]));
        assert_eq!(pairs[1].1, None);
        assert_eq!(pairs[2].1.as_deref(), Some(&b"a+b"[..]));
        assert_eq!(parse_sync_token("12-3"), Some(12));
        assert_eq!(parse_sync_token(""), None);
    }
}
