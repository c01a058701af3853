//! A client connection: reads frames, runs the gate (arity, auth, ACL), dispatches each command
//! (reads and writes to the core, connection commands here), and writes replies in
//! the order the commands came, whatever their source. The same loop serves plain TCP and TLS
//! connections (`serve`, `serve_tls`): it sees only a read half and a write half.
//!
//! Back-pressure: the session stops reading when too many commands are in flight or its
//! output is large, so a client that does not read its replies cannot make the server buffer
//! without bound; `client-output-buffer-limit` closes it outright.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use cairn_engine::acl::User;
use cairn_engine::table::{self, Handler, Rejection, flag};
use cairn_engine::{SessionCmd, Spec};
use cairn_resp::{Decoder, Limits, Protocol, Reply};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::clients::ClientState;
use crate::config::OutputLimit;
use crate::node::{CallFn, Msg, NodeHandle, ReplyTx, Shared};
use crate::pubsub::{PushTx, Subscriptions};
use crate::stats::COMMAND_STATS;

/// Replies pending (in flight to the core, or queued behind one) before the session stops
/// reading (bounds memory).
const INFLIGHT_MAX: usize = 1024;
/// Pending output above which the session stops reading new commands.
const OUTPUT_SOFT_BYTES: usize = 1024 * 1024;
/// How often a connection checks whether it has been idle for longer than `timeout`.
const IDLE_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How long a closing connection may take to hand its last replies to the client.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Read buffer growth step.
const READ_CHUNK_BYTES: usize = 16 * 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    Skip,
}

/// A reply position: filled now (local commands) or by the core later.
struct Slot {
    reply: Option<Reply>,
    proto: Protocol,
    /// CLIENT REPLY OFF/SKIP: the reply is computed but not sent.
    silent: bool,
    /// EXEC: how the engine's reply becomes the transaction's (and the SELECTs among its
    /// commands).
    exec: Option<Box<ExecMerge>>,
}

type ExecMerge = (crate::multi::ExecPlan, Vec<Option<Bytes>>);

pub struct Session {
    pub shared: Arc<Shared>,
    pub(crate) node: NodeHandle,
    pub client: Arc<ClientState>,
    pub tx: ReplyTx,
    pub proto: Protocol,
    pub db: usize,
    pub authenticated: bool,
    /// The user the connection runs as, and the users' generation it was read at.
    pub(crate) user: Arc<User>,
    pub(crate) acl_generation: u64,
    /// AUTH or HELLO waiting for the connection's earlier commands to reply (a pipelined ACL
    /// SETUSER must apply first).
    deferred: Option<(SessionCmd, &'static Spec, Vec<Bytes>)>,
    pub reply_mode: ReplyMode,
    slots: VecDeque<Slot>,
    /// Slots waiting for the core.
    inflight: usize,
    out: BytesMut,
    /// Close once the output is flushed (QUIT, protocol error).
    pub closing: bool,
    /// Stop taking commands until everything in flight has replied (SAVE, SHUTDOWN).
    hold: bool,
    /// Waiting in a blocking command: input is still read (to notice a client that leaves),
    /// not run.
    blocked: bool,
    limits: Limits,
    decoder: Decoder,
    query_buffer_max: usize,
    out_limit: OutputLimit,
    /// Replies from the core, in command order.
    rx: mpsc::UnboundedReceiver<Reply>,
    /// Since when the output has been above the soft limit.
    over_soft_since: Option<Instant>,
    /// Pub/sub: this connection's subscriptions and where its messages arrive.
    pub subs: Subscriptions,
    pub push_tx: PushTx,
    push_rx: mpsc::UnboundedReceiver<Reply>,
    /// `client-output-buffer-limit pubsub`: applies while subscribed.
    pubsub_out_limit: OutputLimit,
    /// `maxmemory` (bytes; 0 = none), as of the last configuration refresh.
    maxmemory: u64,
    /// Inside MULTI: the commands queued so far.
    pub(crate) multi: Option<crate::multi::Multi>,
    /// Keys are WATCHed (the engine holds the watches; EXEC, DISCARD, UNWATCH drop them).
    pub(crate) watching: bool,
    /// A REST request's session: replies are kept as values in `captured` instead of being
    /// encoded as RESP into `out`.
    capture: bool,
    pub(crate) captured: Vec<Reply>,
    /// The connection or node command being run, for timing its core part (`calls.rs`).
    pub(crate) running: crate::calls::Running,
    /// A command held by CLIENT PAUSE.
    pub(crate) held: crate::pause::Held,
}

/// EVAL, EVALSHA, FCALL and their read-only forms.
pub(crate) fn runs_script(spec: &Spec) -> bool {
    cairn_engine::script::is_script_command(spec.name)
}

/// Serves a plain TCP connection.
pub async fn serve(
    mut stream: TcpStream,
    shared: Arc<Shared>,
    node: NodeHandle,
    client: Arc<ClientState>,
) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.split();
    run(rd, wr, Buffering::None, shared, node, client).await
}

/// Serves a connection whose TLS handshake is done: the same session code over the decrypted
/// stream.
pub async fn serve_tls(
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    shared: Arc<Shared>,
    node: NodeHandle,
    client: Arc<ClientState>,
) {
    let (rd, wr) = tokio::io::split(stream);
    run(rd, wr, Buffering::Records, shared, node, client).await
}

/// Whether the write half can hold bytes it has accepted but not yet sent.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Buffering {
    /// A socket: what `write` accepted is in the kernel.
    None,
    /// TLS: `write` may leave encrypted records queued until the socket takes them, so a
    /// write that empties the output is followed by a flush.
    Records,
}

/// Writes some of `out`, or, when it is empty, flushes what the stream holds. Each is one
/// cancel-safe call, so the session's `select!` may drop it and retry.
async fn write_or_flush<W: AsyncWrite + Unpin>(wr: &mut W, out: &[u8]) -> std::io::Result<usize> {
    if out.is_empty() {
        wr.flush().await.map(|()| 0)
    } else {
        wr.write(out).await
    }
}

/// The session loop, over any byte stream split into halves.
async fn run<R, W>(
    mut rd: R,
    mut wr: W,
    buffering: Buffering,
    shared: Arc<Shared>,
    node: NodeHandle,
    client: Arc<ClientState>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut s = Session::new(shared.clone(), node, client.clone());
    crate::acl::default_auth(&mut s);
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut eof = false;
    // Bytes accepted by a buffering write half and not yet flushed to the socket.
    let mut unflushed = false;
    // Idle connections are checked every second, so that a `timeout` set at runtime reaches
    // them too (Redis's clientsCron does the same). One timer per connection, not per event.
    let mut idle_check = tokio::time::interval(IDLE_CHECK_INTERVAL);
    idle_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let unpaused = s.held.waker.clone();
    loop {
        let timeout_s = s.refresh_limits(inbuf.is_empty());
        let can_read = !eof
            && !s.closing
            && (!s.hold || s.blocked)
            && s.slots.len() < INFLIGHT_MAX
            && s.out.len() < OUTPUT_SOFT_BYTES;
        tokio::select! {
            _ = client.kill.notified() => {
                s.close_killed();
                break;
            }
            reply = s.rx.recv(), if s.inflight > 0 => {
                let Some(reply) = reply else { break };
                s.engine_reply(reply);
                s.take_replies();
            }
            Some(message) = s.push_rx.recv() => {
                s.push(message);
                while let Ok(message) = s.push_rx.try_recv() {
                    s.push(message);
                }
            }
            read = rd.read_buf(&mut inbuf), if can_read => {
                match read {
                    Ok(0) | Err(_) => eof = true,
                    Ok(n) => {
                        shared.stats.net_input_bytes.fetch_add(n as u64, Relaxed);
                        if inbuf.capacity() - inbuf.len() < READ_CHUNK_BYTES / 4 {
                            inbuf.reserve(READ_CHUNK_BYTES);
                        }
                    }
                }
            }
            written = write_or_flush(&mut wr, &s.out), if !s.out.is_empty() || unflushed => {
                match written {
                    Ok(0) if s.out.is_empty() => unflushed = false,
                    Ok(n) if n > 0 => {
                        shared.stats.net_output_bytes.fetch_add(n as u64, Relaxed);
                        let _ = s.out.split_to(n);
                        unflushed = buffering == Buffering::Records;
                    }
                    _ => break,
                }
            }
            _ = unpaused.notified(), if s.held.is_held() && !s.held.released => {
                s.held.released = true;
            }
            _ = idle_check.tick() => {
                if timeout_s > 0 && s.inflight == 0 && client.idle_ms() >= timeout_s * 1000 {
                    break;
                }
            }
        }
        if client.killed.load(Relaxed) {
            s.close_killed();
            break;
        }
        if s.held.released && s.inflight == 0 {
            s.run_held();
        }
        if !s.hold && !s.closing {
            // CLIENT LIST run by this batch shows the input it came in, as Redis does.
            client.qbuf.store(inbuf.len(), Relaxed);
            s.process(&mut inbuf);
        }
        if inbuf.len() > s.query_buffer_max {
            tracing::warn!(
                client = client.id,
                bytes = inbuf.len(),
                "closing client that reached max query buffer length"
            );
            break;
        }
        s.flush_slots();
        client.qbuf.store(inbuf.len(), Relaxed);
        client
            .qbuf_free
            .store(inbuf.capacity() - inbuf.len(), Relaxed);
        client.omem.store(s.out.len(), Relaxed);
        if s.over_output_limit() {
            tracing::warn!(
                client = client.id,
                bytes = s.out.len(),
                "closing client that reached the output buffer limit"
            );
            break;
        }
        // A client that leaves while blocked is gone at once: the core finds its reply
        // channel closed and never serves it.
        if eof && (s.blocked || s.held.is_held()) {
            break;
        }
        if s.out.is_empty() && s.inflight == 0 && (s.closing || eof) {
            break;
        }
    }
    // Bounded: a client that stops reading must not keep its connection open. (A TLS stream's
    // shutdown also flushes its buffered records and a close_notify to that client.)
    let _ = tokio::time::timeout(CLOSE_FLUSH_TIMEOUT, async {
        if !s.out.is_empty() && s.closing {
            let _ = wr.write_all(&s.out).await;
        }
        let _ = wr.shutdown().await;
    })
    .await;
    crate::pubsub::unsubscribe_all(&mut s);
    crate::monitor::stop(&mut s);
    crate::pause::forget(&mut s);
    crate::multi::forget_watches(&mut s);
    shared.clients.unregister(client.id);
}

impl Session {
    /// A session in its initial state (RESP2, db 0, the `default` user, not yet authenticated).
    pub(crate) fn new(shared: Arc<Shared>, node: NodeHandle, client: Arc<ClientState>) -> Session {
        let (tx, rx) = mpsc::unbounded_channel();
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let user = node.users(|u| u.default_user().clone());
        Session {
            shared,
            node,
            client,
            tx,
            proto: Protocol::Resp2,
            db: 0,
            authenticated: false,
            user,
            acl_generation: 0,
            deferred: None,
            reply_mode: ReplyMode::On,
            slots: VecDeque::new(),
            inflight: 0,
            out: BytesMut::new(),
            closing: false,
            hold: false,
            blocked: false,
            limits: Limits::default(),
            decoder: Decoder::new(Limits::default()),
            query_buffer_max: usize::MAX,
            out_limit: OutputLimit::default(),
            over_soft_since: None,
            rx,
            subs: Subscriptions::default(),
            push_tx,
            push_rx,
            pubsub_out_limit: OutputLimit::default(),
            multi: None,
            watching: false,
            maxmemory: 0,
            capture: false,
            captured: Vec::new(),
            running: crate::calls::Running::Idle,
            held: Default::default(),
        }
    }

    /// Takes every reply the core has ready and encodes what is in order.
    fn take_replies(&mut self) {
        while self.inflight > 0 {
            match self.rx.try_recv() {
                Ok(reply) => self.engine_reply(reply),
                Err(_) => break,
            }
        }
        self.flush_slots();
    }

    /// A killed connection (CLIENT KILL, its user deleted) still sends the replies already
    /// made for it, so that the command that deleted its own user gets its reply.
    fn close_killed(&mut self) {
        self.take_replies();
        self.closing = true;
    }

    /// Read at the moment of the check: giving `default` no password again unlocks
    /// connections that never authenticated, as in Redis.
    fn password_required(&self) -> bool {
        self.node.users(crate::acl::auth_required)
    }

    /// Picks up CONFIG SET changes; returns the idle timeout in seconds.
    fn refresh_limits(&mut self, inbuf_empty: bool) -> u64 {
        let config = self.shared.config.read().expect("config lock");
        self.query_buffer_max = config.client_query_buffer_limit;
        self.out_limit = config.client_output_buffer_limit.normal;
        self.pubsub_out_limit = config.client_output_buffer_limit.pubsub;
        // A new bulk limit applies from the next command: the decoder may hold a partial one.
        if self.limits.bulk_len_max != config.proto_max_bulk_len && inbuf_empty {
            self.limits.bulk_len_max = config.proto_max_bulk_len;
            self.decoder = Decoder::new(self.limits.clone());
        }
        config.timeout_s
    }

    /// `client-output-buffer-limit`: over the hard limit, or over the soft limit for longer
    /// than its seconds.
    fn over_output_limit(&mut self) -> bool {
        let limit = if self.subs.any() {
            self.pubsub_out_limit
        } else {
            self.out_limit
        };
        let len = self.out.len() as u64;
        if limit.hard_bytes > 0 && len >= limit.hard_bytes {
            return true;
        }
        if limit.soft_bytes == 0 || len < limit.soft_bytes {
            self.over_soft_since = None;
            return false;
        }
        // As Redis: the first time over the soft limit only starts the clock.
        match self.over_soft_since {
            None => {
                self.over_soft_since = Some(Instant::now());
                false
            }
            Some(since) => since.elapsed().as_secs() > limit.soft_seconds,
        }
    }

    /// Decodes and dispatches every complete command in `inbuf`.
    fn process(&mut self, inbuf: &mut BytesMut) {
        if !inbuf.is_empty() {
            self.client.touch();
        }
        if let Some((cmd, spec, argv)) = self.deferred.take() {
            self.run_session(cmd, spec, &argv);
        }
        // Read here, after the wait for input: another client may have just changed it.
        self.maxmemory = self.shared.config.read().expect("config lock").maxmemory;
        // Replies waiting behind an unanswered one count too: a client that does not read
        // cannot make the server hold more than INFLIGHT_MAX of them.
        while !self.hold && !self.closing && !self.held.is_held() && self.slots.len() < INFLIGHT_MAX
        {
            // Redis's limits on what a client that must authenticate may send.
            let unauthenticated = !self.authenticated && self.password_required();
            self.decoder.set_unauthenticated(unauthenticated);
            match self.decoder.decode(inbuf) {
                Ok(Some(argv)) => {
                    self.dispatch(argv);
                    // The core often answers at once: encode now, so that the output limits
                    // apply reply by reply and a client that does not read is stopped early.
                    self.take_replies();
                    if self.out.len() >= OUTPUT_SOFT_BYTES {
                        break;
                    }
                    if self.over_output_limit() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.shared.stats.protocol_errors.fetch_add(1, Relaxed);
                    tracing::debug!(client = self.client.id, "protocol error: {e}");
                    self.local(Reply::error(format!("ERR {e}")));
                    self.closing = true;
                    inbuf.clear();
                }
            }
        }
    }

    /// The gate: resolve, arity, auth; then dispatch by handler kind.
    fn dispatch(&mut self, mut argv: Vec<Bytes>) {
        let spec = match table::resolve(&argv) {
            Ok(spec) => spec,
            Err((rejection, reply)) => {
                if let (Rejection::Arity, Some(spec)) = (rejection, table::lookup(&argv[0])) {
                    let sub = argv.get(1).and_then(|name| table::lookup_sub(spec, name));
                    match spec.handler {
                        Handler::Container => {
                            sub.into_iter().for_each(|s| COMMAND_STATS.rejected(s))
                        }
                        _ => COMMAND_STATS.rejected(spec),
                    }
                }
                crate::multi::flag_failed(self);
                return self.local(reply);
            }
        };
        if self.acl_generation != self.node.users(|u| u.generation())
            && !crate::acl::refresh_user(self)
        {
            // Its user was deleted: the node is closing the connection.
            self.closing = true;
            return;
        }
        if !self.authenticated && spec.flags & flag::NO_AUTH == 0 && self.password_required() {
            COMMAND_STATS.rejected(spec);
            let reply = crate::multi::rejected(
                self,
                spec,
                Reply::error_static("NOAUTH Authentication required."),
            );
            return self.local(reply);
        }
        if self.proto == Protocol::Resp2
            && self.subs.any()
            && !crate::pubsub::allowed_while_subscribed(spec.name)
        {
            COMMAND_STATS.rejected(spec);
            return self.local(Reply::error(format!(
                "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                spec.name
            )));
        }
        if let Some(row) = COMMAND_STATS.row(spec) {
            self.client.last_cmd.store(row, Relaxed);
        }
        let restricted = !self.user.unrestricted();
        if restricted && let Err(denied) = self.user.check(spec, &argv) {
            COMMAND_STATS.rejected(spec);
            let reply = crate::acl::refuse(self, spec, &argv, denied);
            let reply = crate::multi::rejected(self, spec, reply);
            return self.local(reply);
        }
        // A restricted user's script is a Script entry: the engine checks each command it
        // calls against the user's rules. Read-only scripts (run on the read path) and
        // scripts inside MULTI carry no user, so they are refused to such users.
        if restricted
            && runs_script(spec)
            && (matches!(spec.handler, Handler::Read(_)) || self.multi.is_some())
        {
            COMMAND_STATS.rejected(spec);
            let refused = Reply::error_static(
                "NOPERM read-only scripts and scripts inside MULTI are available only to users with no ACL restrictions",
            );
            let reply = crate::multi::rejected(self, spec, refused);
            return self.local(reply);
        }
        // Over `maxmemory` as this command arrives, the node evicts by its policy first (its
        // Evict entry goes ahead of this command in the lane); out of memory when it could
        // not (Redis's processCommand and performEvictions).
        let mut over_maxmemory = false;
        if self.maxmemory > 0 {
            over_maxmemory = self.node.out_of_memory(self.maxmemory, self.lane());
            let refused = over_maxmemory
                && (crate::multi::refused_on_oom(self, spec)
                    || (self.multi.is_none() && self.script_denies_oom(spec, &argv)));
            if refused {
                COMMAND_STATS.rejected(spec);
                let oom =
                    Reply::error_static("OOM command not allowed when used memory > 'maxmemory'.");
                let reply = crate::multi::rejected(self, spec, oom);
                return self.local(reply);
            }
        }
        if let Some(refused) = crate::monitor::refuses(self, spec, &argv) {
            COMMAND_STATS.rejected(spec);
            let reply = crate::multi::rejected(self, spec, refused);
            return self.local(reply);
        }
        if crate::pause::hold_if_paused(self, spec, &mut argv) {
            return;
        }
        self.shared.stats.commands_processed.fetch_add(1, Relaxed);
        if crate::multi::queues(self, spec) {
            let reply = crate::multi::queue(self, spec, argv);
            return self.local(reply);
        }
        if matches!(spec.handler, Handler::Read(_) | Handler::Write(..))
            && self.shared.monitors.active()
        {
            crate::monitor::command(self, spec, &argv);
        }
        match spec.handler {
            Handler::Read(read) => {
                self.take_replies();
                if self.inflight == 0
                    && let Some(reply) = self.node.read_now(
                        spec,
                        read,
                        self.db,
                        &argv,
                        (self.lane(), self.client.id),
                    )
                {
                    return self.local(reply);
                }
                let msg = Msg::Read {
                    spec,
                    read,
                    db: self.db,
                    argv,
                    reply: self.tx.clone(),
                    lane: self.lane(),
                    client: self.client.id,
                };
                self.send_engine(msg);
            }
            Handler::Write(check, _) => {
                if let Err(reply) = check(&argv) {
                    let caller = crate::calls::Caller::Client(&self.client);
                    crate::calls::record(&self.shared, spec, &argv, 0, true, caller);
                    return self.local(reply);
                }
                // ACL SETUSER's passwords are hashed here: a password never reaches the log.
                let argv = cairn_engine::commands::acl::prepare_for_log(spec, argv);
                // A script carries its caller's restrictions and the node's memory state.
                let user = (!self.user.unrestricted()).then(|| self.user.name().clone());
                let body = if runs_script(spec) && (user.is_some() || over_maxmemory) {
                    cairn_engine::Body::Script {
                        user,
                        oom: over_maxmemory,
                        argv,
                    }
                } else {
                    cairn_engine::Body::Command(argv)
                };
                let msg = Msg::Write {
                    spec,
                    db: self.db,
                    body,
                    reply: self.tx.clone(),
                    lane: self.lane(),
                    client: self.client.id,
                };
                self.send_engine(msg);
                // A client waiting in a blocking command sends nothing else until it is
                // served or times out, as in Redis.
                if spec.flags & flag::BLOCKING != 0 {
                    self.hold = true;
                    self.blocked = true;
                    self.client.blocked.store(true, Relaxed);
                }
            }
            Handler::Session(cmd @ (SessionCmd::Auth | SessionCmd::Hello)) if self.inflight > 0 => {
                self.deferred = Some((cmd, spec, argv));
                self.hold = true;
            }
            Handler::Session(cmd) => self.run_session(cmd, spec, &argv),
            Handler::Container => self.local(Reply::error_static("ERR unknown subcommand")),
        }
    }

    /// Whether `argv` runs a script whose flags make it refused over `maxmemory` (a script
    /// that declares flags without `allow-oom` or `no-writes`, or a function without them).
    pub(crate) fn script_denies_oom(&self, spec: &Spec, argv: &[Bytes]) -> bool {
        runs_script(spec)
            && self
                .node
                .script_flags(argv)
                .is_some_and(cairn_engine::script::sflag::denies_oom)
    }

    fn run_session(&mut self, cmd: SessionCmd, spec: &'static Spec, argv: &[Bytes]) {
        let timer = crate::calls::SessionTimer::start(self);
        let reply = self.session_command(cmd, spec, argv);
        let failed = reply.as_ref().is_some_and(Reply::is_error);
        let answered = reply.is_some();
        if let Some(reply) = reply {
            self.local(reply);
        }
        timer.finish(self, spec, argv, failed);
        // MONITOR shows a command once it has run (an EXEC sent to the log, once it replies).
        if self.shared.monitors.active() && (answered || cmd != SessionCmd::Exec) {
            crate::monitor::command(self, spec, argv);
        }
    }

    /// CLIENT PAUSE ended or relaxed, and the connection's earlier commands have replied: the
    /// held command goes through the gate again (and may be held again). It runs in lane 0,
    /// where the commands released before it went, so it sees them (and reaches the log after
    /// them); the connection's next commands wait for its reply.
    fn run_held(&mut self) {
        if let Some(argv) = crate::pause::take_held(self) {
            self.held.releasing = true;
            self.dispatch(argv);
            self.held.releasing = false;
            if self.inflight > 0 {
                self.hold = true;
            }
            self.take_replies();
        }
    }

    fn send_engine(&mut self, msg: Msg) {
        self.send_engine_merged(msg, None);
    }

    fn send_engine_merged(&mut self, msg: Msg, exec: Option<Box<ExecMerge>>) {
        self.node.submit(msg);
        let silent = self.take_silence();
        self.slots.push_back(Slot {
            reply: None,
            proto: self.proto,
            silent,
            exec,
        });
        self.inflight += 1;
    }

    fn entry_msg(&self, spec: &'static Spec, body: cairn_engine::Body, reply: ReplyTx) -> Msg {
        Msg::Write {
            spec,
            db: self.db,
            body,
            reply,
            lane: self.lane(),
            client: self.client.id,
        }
    }

    /// Sends a transaction entry (WATCH, UNWATCH) whose reply is this command's.
    pub(crate) fn submit_entry(&mut self, spec: &'static Spec, body: cairn_engine::Body) {
        let msg = self.entry_msg(spec, body, self.tx.clone());
        self.send_engine(msg);
    }

    /// Sends a transaction entry nobody waits for (dropping watches).
    pub(crate) fn submit_detached(&mut self, spec: &'static Spec, body: cairn_engine::Body) {
        let (tx, _) = mpsc::unbounded_channel();
        let msg = self.entry_msg(spec, body, tx);
        self.node.submit(msg);
    }

    /// Sends EXEC's entry; its reply is merged with the connection commands it queued. A
    /// transaction that SELECTs holds later commands until it has replied (they run in the
    /// database it leaves selected).
    pub(crate) fn submit_exec(
        &mut self,
        spec: &'static Spec,
        body: cairn_engine::Body,
        merge: Box<ExecMerge>,
        selects: bool,
    ) {
        let msg = self.entry_msg(spec, body, self.tx.clone());
        self.send_engine_merged(msg, Some(merge));
        if selects {
            self.hold = true;
        }
    }

    /// A SELECT inside EXEC succeeded.
    pub(crate) fn select_db(&mut self, index: &[u8]) {
        if let Some(index) = cairn_engine::commands::parse_i64(index) {
            self.db = index as usize;
            self.client.db.store(self.db, Relaxed);
        }
    }

    /// Runs a connection command EXEC queued.
    pub(crate) fn run_queued(
        &mut self,
        cmd: SessionCmd,
        spec: &'static Spec,
        argv: &[Bytes],
    ) -> Option<Reply> {
        self.session_command(cmd, spec, argv)
    }

    /// Runs `call` on the core, in order with this session's other commands.
    pub fn call(&mut self, call: CallFn) {
        let call = crate::calls::timed_call(self, call);
        self.send_engine(Msg::Call {
            call,
            reply: self.tx.clone(),
            lane: self.lane(),
        });
    }

    /// This connection's write lane (lane 0 for a command CLIENT PAUSE held, so that held
    /// commands reach the log in the order they were released).
    pub fn lane(&self) -> usize {
        if self.held.releasing {
            return 0;
        }
        crate::node::lane_of_client(self.client.id)
    }

    /// Like `call`, but takes no further command until it has replied.
    pub fn call_exclusive(&mut self, call: CallFn) {
        self.call(call);
        self.hold = true;
    }

    fn take_silence(&mut self) -> bool {
        match self.reply_mode {
            ReplyMode::On => false,
            ReplyMode::Off => true,
            ReplyMode::Skip => {
                self.reply_mode = ReplyMode::On;
                true
            }
        }
    }

    /// Queues a reply produced here.
    pub fn local(&mut self, reply: Reply) {
        self.count_error(&reply);
        let silent = self.take_silence();
        if self.slots.is_empty() {
            if !silent {
                self.emit(reply, self.proto);
            }
            return;
        }
        self.slots.push_back(Slot {
            reply: Some(reply),
            proto: self.proto,
            silent,
            exec: None,
        });
    }

    /// Queues a (un)subscribe confirmation. Like Redis's pushes it is sent even under CLIENT
    /// REPLY OFF or SKIP; a pending SKIP is used up by the command all the same.
    pub fn local_push(&mut self, reply: Reply) {
        if self.reply_mode == ReplyMode::Skip {
            self.reply_mode = ReplyMode::On;
        }
        self.push(reply);
    }

    /// Queues a pub/sub message: after every reply already due, never inside one. CLIENT
    /// REPLY OFF does not silence it (Redis 7.0 sends pushes to silenced clients).
    fn push(&mut self, message: Reply) {
        if self.slots.is_empty() {
            self.emit(message, self.proto);
            return;
        }
        self.slots.push_back(Slot {
            reply: Some(message),
            proto: self.proto,
            silent: false,
            exec: None,
        });
    }

    /// Publishes this connection's subscription counts (CLIENT LIST).
    pub fn client_subscriptions_changed(&self) {
        let (sub, psub, ssub) = self.subs.counts();
        self.client.sub.store(sub, Relaxed);
        self.client.psub.store(psub, Relaxed);
        self.client.ssub.store(ssub, Relaxed);
    }

    fn count_error(&self, reply: &Reply) {
        if let Reply::Error(text) = reply {
            self.shared.stats.error_reply(text);
        }
    }

    fn engine_reply(&mut self, reply: Reply) {
        self.count_error(&reply);
        if let Some(at) = self.slots.iter().position(|s| s.reply.is_none()) {
            let reply = match self.slots[at].exec.take() {
                Some(merge) => {
                    let (plan, selected) = *merge;
                    crate::multi::merge_entry(self, plan, reply, &selected)
                }
                None => reply,
            };
            self.slots[at].reply = Some(reply);
        }
        self.inflight -= 1;
        if self.inflight == 0 {
            self.hold = false;
            if std::mem::take(&mut self.blocked) {
                self.client.blocked.store(false, Relaxed);
            }
        }
    }

    fn flush_slots(&mut self) {
        while self.slots.front().is_some_and(|s| s.reply.is_some()) {
            let slot = self.slots.pop_front().expect("front exists");
            if !slot.silent {
                self.emit(slot.reply.expect("filled"), slot.proto);
            }
        }
    }

    /// Hands a reply to the client: RESP into the output, or kept as a value (REST).
    fn emit(&mut self, reply: Reply, proto: Protocol) {
        if self.capture {
            self.captured.push(reply);
        } else {
            cairn_resp::encode(&reply, proto, &mut self.out);
        }
    }

    /// Connection and node commands; `None` when the reply comes from the core.
    fn session_command(
        &mut self,
        cmd: SessionCmd,
        spec: &'static Spec,
        argv: &[Bytes],
    ) -> Option<Reply> {
        crate::commands::run(self, cmd, spec, argv)
    }
}

// ---------------------------------------------------------------------------------------------
// REST requests: the same gate and dispatch, replies kept as values

/// A REST row that never reaches the gate gets this reply in its place.
pub(crate) type Row = Result<Vec<Bytes>, Reply>;

impl Session {
    /// A session for one REST request, authenticated by its token as `user`.
    pub(crate) fn for_rest(
        shared: Arc<Shared>,
        node: NodeHandle,
        client: Arc<ClientState>,
        user: Arc<User>,
    ) -> Session {
        let mut s = Session::new(shared, node, client);
        s.capture = true;
        s.authenticated = true;
        s.acl_generation = s.node.users(|u| u.generation());
        *s.client.user.lock().expect("client lock") = user.name().clone();
        s.user = user;
        s
    }

    /// Runs `rows` through the gate in order, pipelined as a RESP client's commands are, and
    /// returns one reply per row.
    pub(crate) async fn run_rows(&mut self, rows: Vec<Row>) -> Vec<Reply> {
        // As `process` does for a RESP connection: the memory limit as of now.
        self.maxmemory = self.shared.config.read().expect("config lock").maxmemory;
        let n = rows.len();
        let mut rows = rows.into_iter();
        let mut more = true;
        loop {
            if let Some((cmd, spec, argv)) = self.deferred.take() {
                self.run_session(cmd, spec, &argv);
            }
            while more
                && !self.hold
                && !self.closing
                && !self.held.is_held()
                && self.slots.len() < INFLIGHT_MAX
            {
                match rows.next() {
                    Some(Ok(argv)) => {
                        self.dispatch(argv);
                        self.take_replies();
                    }
                    Some(Err(reply)) => self.local(reply),
                    None => more = false,
                }
            }
            if self.held.is_held() && self.inflight == 0 {
                if !self.held.released {
                    let unpaused = self.held.waker.clone();
                    unpaused.notified().await;
                }
                self.run_held();
                continue;
            }
            if self.inflight == 0 {
                self.hold = false;
                if self.deferred.is_none() && (!more || self.closing) {
                    break;
                }
                continue;
            }
            match self.rx.recv().await {
                Some(reply) => {
                    self.engine_reply(reply);
                    self.take_replies();
                }
                None => break,
            }
        }
        self.flush_slots();
        let mut out = std::mem::take(&mut self.captured);
        // Only a connection whose user was deleted stops early.
        out.resize(
            n,
            Reply::error_static("ERR not run: the token's user no longer exists"),
        );
        out
    }

    /// Waits until the node has applied log position `token` (CAIRN.SYNC).
    pub(crate) async fn sync_to(&mut self, token: u64) {
        let lane = self.lane();
        self.call(Box::new(move |core, reply| {
            core.sync_to(token, lane, reply)
        }));
        while self.inflight > 0 {
            match self.rx.recv().await {
                Some(reply) => self.engine_reply(reply),
                None => break,
            }
        }
        self.slots.clear();
        self.captured.clear();
    }

    /// The next pub/sub message for this session (SSE streams).
    pub(crate) async fn next_push(&mut self) -> Option<Reply> {
        self.push_rx.recv().await
    }
}
