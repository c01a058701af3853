//! CLUSTER: Cairn is one keyspace served by every node, not a Redis Cluster, so every
//! subcommand answers as a Redis 7 server without cluster support does. Clients that probe
//! for Redis Cluster (CLUSTER INFO, CLUSTER SLOTS) learn that they talk to a plain server.

use bytes::Bytes;
use cairn_resp::Reply;

use crate::commands::cmd;
use crate::engine::ReadCtx;
use crate::table::{Group, Handler, Keys, Spec, flag::*};

fn disabled(_ctx: &mut ReadCtx, _argv: &[Bytes]) -> Reply {
    Reply::error_static("ERR This instance has cluster support disabled")
}

const fn sub(
    name: &'static str,
    arity: i32,
    flags: u32,
    since: &'static str,
    summary: &'static str,
) -> Spec {
    cmd(
        name,
        arity,
        flags | STALE,
        0,
        Keys::NONE,
        Group::Cluster,
        since,
        summary,
        Handler::Read(disabled),
    )
}

/// Subcommands that change the cluster's layout.
const NO_LOAD: u32 = ADMIN;

#[rustfmt::skip]
static CLUSTER: &[Spec] = &[
    sub("addslots", -3, NO_LOAD, "3.0.0", "Assign new hash slots to receiving node"),
    sub("addslotsrange", -4, NO_LOAD, "7.0.0", "Assign new hash slots to receiving node"),
    sub("bumpepoch", 2, NO_LOAD, "3.0.0", "Advance the cluster config epoch"),
    sub("count-failure-reports", 3, ADMIN, "3.0.0", "Return the number of failure reports active for a given node"),
    sub("countkeysinslot", 3, 0, "3.0.0", "Return the number of local keys in the specified hash slot"),
    sub("delslots", -3, NO_LOAD, "3.0.0", "Set hash slots as unbound in receiving node"),
    sub("delslotsrange", -4, NO_LOAD, "7.0.0", "Set hash slots as unbound in receiving node"),
    sub("failover", -2, NO_LOAD, "3.0.0", "Forces a replica to perform a manual failover of its master."),
    sub("flushslots", 2, NO_LOAD, "3.0.0", "Delete a node's own slots information"),
    sub("forget", 3, NO_LOAD, "3.0.0", "Remove a node from the nodes table"),
    sub("getkeysinslot", 4, 0, "3.0.0", "Return local key names in the specified hash slot"),
    sub("help", 2, LOADING, "5.0.0", "Show helpful text about the different subcommands"),
    sub("info", 2, 0, "3.0.0", "Provides info about Redis Cluster node state"),
    sub("keyslot", 3, 0, "3.0.0", "Returns the hash slot of the specified key"),
    sub("links", 2, 0, "7.0.0", "Returns a list of all TCP links to and from peer nodes in cluster"),
    sub("meet", -4, NO_LOAD, "3.0.0", "Force a node cluster to handshake with another node"),
    sub("myid", 2, 0, "3.0.0", "Return the node id"),
    sub("nodes", 2, 0, "3.0.0", "Get Cluster config for the node"),
    sub("replicas", 3, ADMIN, "5.0.0", "List replica nodes of the specified master node"),
    sub("replicate", 3, NO_LOAD, "3.0.0", "Reconfigure a node as a replica of the specified master node"),
    sub("reset", -2, ADMIN | NOSCRIPT, "3.0.0", "Reset a Redis Cluster node"),
    sub("saveconfig", 2, NO_LOAD, "3.0.0", "Forces the node to save cluster state on disk"),
    sub("set-config-epoch", 3, NO_LOAD, "3.0.0", "Set the configuration epoch in a new node"),
    sub("setslot", -4, NO_LOAD, "3.0.0", "Bind a hash slot to a specific node"),
    sub("shards", 2, 0, "7.0.0", "Get array of cluster slots to node mappings"),
    sub("slaves", 3, ADMIN, "3.0.0", "List replica nodes of the specified master node"),
    sub("slots", 2, 0, "3.0.0", "Get array of Cluster slot to node mappings"),
];

pub static COMMANDS: &[Spec] = &[cmd(
    "cluster",
    -2,
    0,
    0,
    Keys::NONE,
    Group::Cluster,
    "3.0.0",
    "A container for cluster commands",
    Handler::Container,
)
.sub(CLUSTER)];
