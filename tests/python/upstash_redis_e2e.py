"""upstash-redis (PyPI, pinned by scripts/deps.sh) driving Cairn's REST API unmodified: only
the URL and tokens are given.

Usage: python upstash_redis_e2e.py <url> <token> <readonly-token> [part...]
Parts: basic (default), multi (needs MULTI/EXEC), scripts (needs EVAL/EVALSHA).
Prints "ok <part>" per part; a failure raises (non-zero exit).
"""

import sys

from upstash_redis import Redis
from upstash_redis.errors import UpstashError

url, token, readonly_token, *parts = sys.argv[1:]
# The URL with a trailing slash: pipelines then go to "//pipeline".
redis = Redis(url=url + "/", token=token, allow_telemetry=False, rest_retries=0)
plain = Redis(url=url, token=token, rest_encoding=None, allow_telemetry=False, rest_retries=0)
readonly = Redis(url=url, token=readonly_token, allow_telemetry=False, rest_retries=0)


def raises(fn, text):
    try:
        fn()
    except UpstashError as e:
        assert text in str(e), f"{text!r} not in {e}"
        return
    raise AssertionError(f"no error, expected {text!r}")


def basic():
    # Strings.
    assert redis.set("s", "hello") is True
    assert redis.get("s") == "hello"
    assert redis.incr("n") == 1
    assert redis.incrbyfloat("f", 1.5) == 1.5
    assert redis.set("nx", "1", nx=True, ex=100) is True
    assert redis.set("nx", "2", nx=True) is False
    assert 0 < redis.ttl("nx") <= 100
    assert redis.mget("s", "missing") == ["hello", None]
    assert redis.set("big", 106242075399214372653) is True
    assert redis.get("big") == "106242075399214372653"

    # Hashes.
    assert redis.hset("h", values={"name": "Ada", "age": 36}) == 2
    assert redis.hgetall("h") == {"name": "Ada", "age": "36"}
    assert redis.hincrbyfloat("h", "score", 2.25) == 2.25

    # Lists.
    assert redis.rpush("l", "a", "b", "c") == 3
    assert redis.lrange("l", 0, -1) == ["a", "b", "c"]
    assert redis.lpop("l") == "a"

    # Sets.
    assert redis.sadd("set", "x", "y") == 2
    assert sorted(redis.smembers("set")) == ["x", "y"]
    assert redis.sismember("set", "x") is True

    # Sorted sets, with a fractional score.
    assert redis.zadd("z", {"m": 99.5, "low": 1}) == 2
    assert redis.zscore("z", "m") == 99.5
    assert redis.zrange("z", 0, -1, withscores=True) == [("low", 1.0), ("m", 99.5)]
    assert redis.zincrby("z", 0.25, "m") == 99.75

    # Scan: the cursor comes back as a number.
    cursor, keys = redis.scan(0, count=1000)
    assert cursor == 0 and "s" in keys

    # Pipeline (to "//pipeline": the URL ends in a slash).
    p = redis.pipeline()
    p.set("p", "v")
    p.incr("n")
    p.get("p")
    assert p.exec() == [True, 2, "v"]
    p = redis.pipeline()
    p.set("p", "v")
    p.incr("p")
    raises(p.exec, "not an integer")

    # Emoji and control characters, with and without base64 responses.
    emoji = "😀 café ✓"
    assert redis.set("emoji", emoji) is True
    assert redis.get("emoji") == emoji
    assert plain.get("emoji") == emoji
    assert plain.strlen("emoji") == len(emoji.encode())
    text = 'a\x00b\x01\n"\\'
    plain.set("ctl", text)
    assert redis.get("ctl") == text
    assert plain.get("ctl") == text
    assert redis.ping() == "PONG"
    assert redis.type("s") == "string"

    # Read-only token.
    assert readonly.get("s") == "hello"
    raises(lambda: readonly.set("s", "nope"), "NOPERM this user has no permissions to run the 'set' command")

    # The sync token changes after each write.
    tokens = []
    for i in range(3):
        redis.set("sync", i)
        tokens.append(redis._sync_token)
    assert all(tokens) and len(set(tokens)) == 3, tokens

    assert redis.publish("nobody", "x") == 0
    print("ok basic")


def multi():
    tx = redis.multi()
    tx.set("t", "1")
    tx.incr("t")
    assert tx.exec() == [True, 2]
    print("ok multi")


def scripts():
    sha = redis.script_load("return ARGV[1]")
    assert len(sha) == 40
    assert redis.evalsha(sha, args=["hi"]) == "hi"
    assert redis.eval("return redis.call('INCR', KEYS[1])", keys=["c"]) == 1
    print("ok scripts")


for part in parts or ["basic"]:
    {"basic": basic, "multi": multi, "scripts": scripts}[part]()
