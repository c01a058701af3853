//! Pub/sub: the node's broker and the (P|S)SUBSCRIBE / PUBLISH / PUBSUB commands.
//!
//! Messages are not replicated state and never enter the engine's log. The broker delivers a
//! message to this node's subscribers at once, and hands it to the log (`Log::publish`) so a
//! shared log carries it to the other nodes, whose brokers deliver it to theirs. PUBLISH
//! answers the number of this node's receivers, as a Redis Cluster node does.
//!
//! Each subscriber is a session's push channel: messages are encoded by the session between
//! two replies, and a session over its `client-output-buffer-limit pubsub` is closed without
//! slowing the publisher or anyone else.

use std::collections::HashMap;

use bytes::{BufMut, Bytes, BytesMut};
use cairn_engine::glob;
use cairn_resp::{Protocol, Reply};
use tokio::sync::mpsc;

use crate::session::Session;

/// Where a session receives its messages.
pub type PushTx = mpsc::UnboundedSender<Reply>;

/// The three namespaces: channels, patterns, shard channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn subscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    fn unsubscribe_word(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }
}

/// The node's subscriptions, by name, each with its subscribers in subscription order.
#[derive(Default)]
pub struct Broker {
    channels: HashMap<Bytes, Vec<(u64, PushTx)>>,
    patterns: HashMap<Bytes, Vec<(u64, PushTx)>>,
    shard: HashMap<Bytes, Vec<(u64, PushTx)>>,
}

impl Broker {
    fn map(&mut self, kind: Kind) -> &mut HashMap<Bytes, Vec<(u64, PushTx)>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    pub fn subscribe(&mut self, kind: Kind, name: &Bytes, client: u64, tx: &PushTx) {
        let subs = self.map(kind).entry(name.clone()).or_default();
        if !subs.iter().any(|(id, _)| *id == client) {
            subs.push((client, tx.clone()));
        }
    }

    pub fn unsubscribe(&mut self, kind: Kind, name: &Bytes, client: u64) {
        let map = self.map(kind);
        if let Some(subs) = map.get_mut(name) {
            subs.retain(|(id, _)| *id != client);
            if subs.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Delivers to this node's subscribers; returns how many received it.
    pub fn publish(&self, shard: bool, channel: &Bytes, message: &Bytes) -> usize {
        let mut receivers = 0;
        if shard {
            for (_, tx) in self.shard.get(channel).into_iter().flatten() {
                let push = vec![bulk("smessage"), Reply::Bulk(channel.clone())];
                receivers += usize::from(send(tx, push, message));
            }
            return receivers;
        }
        for (_, tx) in self.channels.get(channel).into_iter().flatten() {
            let push = vec![bulk("message"), Reply::Bulk(channel.clone())];
            receivers += usize::from(send(tx, push, message));
        }
        for (pattern, subs) in &self.patterns {
            if !glob::matches(pattern, channel, false) {
                continue;
            }
            for (_, tx) in subs {
                let push = vec![
                    bulk("pmessage"),
                    Reply::Bulk(pattern.clone()),
                    Reply::Bulk(channel.clone()),
                ];
                receivers += usize::from(send(tx, push, message));
            }
        }
        receivers
    }

    /// PUBSUB CHANNELS / SHARDCHANNELS: names with a subscriber, matching `pattern`.
    pub fn names(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let map = if shard { &self.shard } else { &self.channels };
        map.keys()
            .filter(|name| pattern.is_none_or(|p| glob::matches(p, name, false)))
            .cloned()
            .collect()
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB for one channel.
    pub fn subscribers(&self, shard: bool, channel: &[u8]) -> usize {
        let map = if shard { &self.shard } else { &self.channels };
        map.get(channel).map_or(0, Vec::len)
    }

    /// PUBSUB NUMPAT: distinct patterns subscribed to.
    pub fn patterns(&self) -> usize {
        self.patterns.len()
    }

    /// (channels, patterns, shard channels) with at least one subscriber (INFO).
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.channels.len(), self.patterns.len(), self.shard.len())
    }
}

fn bulk(word: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(word.as_bytes()))
}

fn send(tx: &PushTx, mut push: Vec<Reply>, message: &Bytes) -> bool {
    push.push(Reply::Bulk(message.clone()));
    tx.send(Reply::Push(push)).is_ok()
}

// ---------------------------------------------------------------------------------------------
// Messages between nodes

/// A message as the log carries it between nodes:
/// `u8 shard (0/1) | u32 channel length | channel | message`.
pub fn encode_message(shard: bool, channel: &Bytes, message: &Bytes) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + channel.len() + message.len());
    out.put_u8(u8::from(shard));
    out.put_u32_le(channel.len() as u32);
    out.extend_from_slice(channel);
    out.extend_from_slice(message);
    out.freeze()
}

pub fn decode_message(bytes: &Bytes) -> Option<(bool, Bytes, Bytes)> {
    let shard = match *bytes.first()? {
        0 => false,
        1 => true,
        _ => return None,
    };
    let len = u32::from_le_bytes(bytes.get(1..5)?.try_into().ok()?) as usize;
    let end = 5usize.checked_add(len).filter(|&e| e <= bytes.len())?;
    Some((shard, bytes.slice(5..end), bytes.slice(end..)))
}

// ---------------------------------------------------------------------------------------------
// A session's subscriptions

/// What one connection is subscribed to, in subscription order.
#[derive(Default)]
pub struct Subscriptions {
    channels: Vec<Bytes>,
    patterns: Vec<Bytes>,
    shard: Vec<Bytes>,
}

impl Subscriptions {
    fn list(&mut self, kind: Kind) -> &mut Vec<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Subscriptions the (un)subscribe replies count: shard channels count apart.
    fn count(&self, kind: Kind) -> i64 {
        match kind {
            Kind::Shard => self.shard.len() as i64,
            _ => (self.channels.len() + self.patterns.len()) as i64,
        }
    }

    pub fn any(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard.is_empty())
    }

    /// (channels, patterns, shard channels) of this connection (CLIENT LIST).
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.channels.len(), self.patterns.len(), self.shard.len())
    }
}

/// (P|S)SUBSCRIBE: one confirmation per name, each carrying the new count.
pub fn subscribe(s: &mut Session, kind: Kind, names: &[Bytes]) {
    for name in names {
        if !s.subs.list(kind).contains(name) {
            s.subs.list(kind).push(name.clone());
            s.node.pubsub_subscribe(kind, name, s.client.id, &s.push_tx);
        }
        let count = s.subs.count(kind);
        let reply = Reply::Push(vec![
            bulk(kind.subscribe_word()),
            Reply::Bulk(name.clone()),
            Reply::Int(count),
        ]);
        s.local_push(reply);
    }
    s.client_subscriptions_changed();
}

/// (P|S)UNSUBSCRIBE: the names given, or every subscription of that kind; with none at all,
/// one confirmation with a null name.
pub fn unsubscribe(s: &mut Session, kind: Kind, names: &[Bytes]) {
    let names: Vec<Bytes> = if names.is_empty() {
        s.subs.list(kind).clone()
    } else {
        names.to_vec()
    };
    if names.is_empty() {
        let count = s.subs.count(kind);
        s.local_push(Reply::Push(vec![
            bulk(kind.unsubscribe_word()),
            Reply::Nil,
            Reply::Int(count),
        ]));
        return;
    }
    for name in names {
        let list = s.subs.list(kind);
        if let Some(at) = list.iter().position(|n| *n == name) {
            list.remove(at);
            s.node.pubsub_unsubscribe(kind, &name, s.client.id);
        }
        let count = s.subs.count(kind);
        s.local_push(Reply::Push(vec![
            bulk(kind.unsubscribe_word()),
            Reply::Bulk(name),
            Reply::Int(count),
        ]));
    }
    s.client_subscriptions_changed();
}

/// Drops every subscription of a connection that resets or closes (no confirmations).
pub fn unsubscribe_all(s: &mut Session) {
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in std::mem::take(s.subs.list(kind)) {
            s.node.pubsub_unsubscribe(kind, &name, s.client.id);
        }
    }
    s.client_subscriptions_changed();
}

/// Commands a RESP2 connection may run while subscribed.
pub fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// PING on a subscribed RESP2 connection answers in the pub/sub form.
pub fn subscribed_ping(proto: Protocol, argv: &[Bytes]) -> Option<Reply> {
    if proto != Protocol::Resp2 || argv.len() > 2 {
        return None;
    }
    let message = argv.get(1).cloned().unwrap_or_default();
    Some(Reply::Array(vec![bulk("pong"), Reply::Bulk(message)]))
}

/// PUBSUB HELP (Redis's words: "Prints", where other commands' help says "Print").
pub const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_between_nodes_round_trip_and_reject_garbage() {
        let (channel, message) = (Bytes::from_static(b"news"), Bytes::from_static(b"\x00hi"));
        for shard in [false, true] {
            let bytes = encode_message(shard, &channel, &message);
            assert_eq!(
                decode_message(&bytes),
                Some((shard, channel.clone(), message.clone()))
            );
            for cut in 0..5 + channel.len() {
                assert_eq!(decode_message(&bytes.slice(..cut)), None, "cut {cut}");
            }
        }
        assert_eq!(decode_message(&Bytes::from_static(b"\x07\0\0\0\0")), None);
    }

    #[test]
    fn patterns_and_channels_both_receive_and_are_counted() {
        let mut broker = Broker::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let news = Bytes::from_static(b"news.sport");
        broker.subscribe(Kind::Channel, &news, 1, &tx);
        broker.subscribe(Kind::Pattern, &Bytes::from_static(b"news.*"), 1, &tx);
        broker.subscribe(Kind::Shard, &news, 1, &tx);
        assert_eq!(broker.publish(false, &news, &Bytes::from_static(b"m")), 2);
        assert_eq!(broker.publish(true, &news, &Bytes::from_static(b"s")), 1);
        let first = rx.try_recv().unwrap();
        assert!(matches!(&first, Reply::Push(v) if v.len() == 3));
        let second = rx.try_recv().unwrap();
        assert!(matches!(&second, Reply::Push(v) if v.len() == 4));
        broker.unsubscribe(Kind::Channel, &news, 1);
        assert_eq!(broker.subscribers(false, &news), 0);
        assert_eq!(broker.counts(), (0, 1, 1));
    }
}
