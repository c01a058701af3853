//! Pub/sub commands. Messages are not replicated state: the node delivers them (and carries
//! them to the other nodes of a shared log), so every row is a `Handler::Session`.
//!
//! The shard-channel commands name channels, not keys: their rows declare no key positions,
//! so that key permissions never apply to a channel name (Redis marks those positions
//! "not a key").

use crate::commands::cmd;
use crate::table::{Channels, Group, Handler, Keys, SessionCmd as S, Spec, acl, flag::*};

const PS: u32 = acl::PUBSUB;
const SUBSCRIBING: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;
const PUBLISHING: u32 = PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE;

const PUBSUB_SUBCOMMANDS: &[Spec] = &[
    cmd(
        "channels",
        -2,
        PUBSUB | LOADING | STALE,
        PS,
        Keys::NONE,
        Group::PubSub,
        "2.8.0",
        "Returns the active channels.",
        Handler::Session(S::PubsubChannels),
    ),
    cmd(
        "help",
        2,
        LOADING | STALE,
        PS,
        Keys::NONE,
        Group::PubSub,
        "6.2.0",
        "Returns helpful text about the different subcommands.",
        Handler::Session(S::PubsubHelp),
    ),
    cmd(
        "numpat",
        2,
        PUBSUB | LOADING | STALE,
        PS,
        Keys::NONE,
        Group::PubSub,
        "2.8.0",
        "Returns a count of unique pattern subscriptions.",
        Handler::Session(S::PubsubNumpat),
    ),
    cmd(
        "numsub",
        -2,
        PUBSUB | LOADING | STALE,
        PS,
        Keys::NONE,
        Group::PubSub,
        "2.8.0",
        "Returns a count of subscribers to channels.",
        Handler::Session(S::PubsubNumsub),
    ),
    cmd(
        "shardchannels",
        -2,
        PUBSUB | LOADING | STALE,
        PS,
        Keys::NONE,
        Group::PubSub,
        "7.0.0",
        "Returns the active shard channels.",
        Handler::Session(S::PubsubShardchannels),
    ),
    cmd(
        "shardnumsub",
        -2,
        PUBSUB | LOADING | STALE,
        PS,
        Keys::NONE,
        Group::PubSub,
        "7.0.0",
        "Returns the count of subscribers of shard channels.",
        Handler::Session(S::PubsubShardnumsub),
    ),
];

pub static COMMANDS: &[Spec] = &[
    cmd(
        "subscribe",
        -2,
        SUBSCRIBING,
        PS,
        Keys::NONE,
        Group::PubSub,
        "2.0.0",
        "Listens for messages published to channels.",
        Handler::Session(S::Subscribe),
    )
    .channels(Channels::Subscribe),
    cmd(
        "unsubscribe",
        -1,
        SUBSCRIBING,
        PS,
        Keys::NONE,
        Group::PubSub,
        "2.0.0",
        "Stops listening to messages posted to channels.",
        Handler::Session(S::Unsubscribe),
    ),
    cmd(
        "psubscribe",
        -2,
        SUBSCRIBING,
        PS,
        Keys::NONE,
        Group::PubSub,
        "2.0.0",
        "Listens for messages published to channels that match one or more patterns.",
        Handler::Session(S::Psubscribe),
    )
    .channels(Channels::PatternSubscribe),
    cmd(
        "punsubscribe",
        -1,
        SUBSCRIBING,
        PS,
        Keys::NONE,
        Group::PubSub,
        "2.0.0",
        "Stops listening to messages published to channels that match one or more patterns.",
        Handler::Session(S::Punsubscribe),
    ),
    cmd(
        "ssubscribe",
        -2,
        SUBSCRIBING,
        PS,
        Keys::NONE,
        Group::PubSub,
        "7.0.0",
        "Listens for messages published to shard channels.",
        Handler::Session(S::Ssubscribe),
    )
    .channels(Channels::Subscribe),
    cmd(
        "sunsubscribe",
        -1,
        SUBSCRIBING,
        PS,
        Keys::NONE,
        Group::PubSub,
        "7.0.0",
        "Stops listening to messages posted to shard channels.",
        Handler::Session(S::Sunsubscribe),
    ),
    cmd(
        "publish",
        3,
        PUBLISHING,
        PS,
        Keys::NONE,
        Group::PubSub,
        "2.0.0",
        "Posts a message to a channel.",
        Handler::Session(S::Publish),
    )
    .channels(Channels::Publish),
    cmd(
        "spublish",
        3,
        PUBLISHING,
        PS,
        Keys::NONE,
        Group::PubSub,
        "7.0.0",
        "Post a message to a shard channel",
        Handler::Session(S::Spublish),
    )
    .channels(Channels::Publish),
    cmd(
        "pubsub",
        -2,
        0,
        PS,
        Keys::NONE,
        Group::PubSub,
        "2.8.0",
        "A container for Pub/Sub commands.",
        Handler::Container,
    )
    .sub(PUBSUB_SUBCOMMANDS),
];
