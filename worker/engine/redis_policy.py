"""Refuse a Redis that may evict keys: an evicted queue or message would lose touch ids
silently (the lease sweep would re-drive them, but only after the lease, and dramatiq's own
bookkeeping would break). Checked once when a worker, scheduler or `run` starts."""

from __future__ import annotations

import logging

from worker.engine.settings import ConfigError
from worker.engine.tunables import HEALTH_TIMEOUT_SECONDS

log = logging.getLogger("followup")

SAFE_POLICY = "noeviction"


def eviction_refusal(policy: str, where: str) -> str | None:
    """The one-line reason to refuse `policy`, or None when Redis never evicts."""
    if policy.strip().lower() == SAFE_POLICY:
        return None
    return (
        f"FOLLOWUP_REDIS_URL: Redis at {where} has maxmemory-policy {policy}, which can evict "
        "queued touch ids; set maxmemory-policy noeviction (redis.conf, or "
        "CONFIG SET maxmemory-policy noeviction)"
    )


def check_redis_policy(url: str) -> None:
    """ConfigError for an evicting Redis. A Redis that cannot be asked (CONFIG disabled, as on
    some hosted services) or is not up yet is logged and let through: dramatiq reconnects."""
    import redis

    client = redis.Redis.from_url(
        url, socket_timeout=HEALTH_TIMEOUT_SECONDS, socket_connect_timeout=HEALTH_TIMEOUT_SECONDS
    )
    where = _where(client)
    try:
        policy = str(client.config_get("maxmemory-policy").get("maxmemory-policy", SAFE_POLICY))
    except redis.ResponseError as exc:
        log.warning(
            "cannot read maxmemory-policy of Redis at %s (%s); make sure it is noeviction",
            where,
            str(exc).splitlines()[0],
        )
        return
    except redis.RedisError as exc:
        log.warning("Redis at %s does not answer yet (%s)", where, str(exc).splitlines()[0])
        return
    finally:
        client.close()
    refusal = eviction_refusal(policy, where)
    if refusal is not None:
        raise ConfigError(refusal)


def _where(client: object) -> str:
    """host:port/db of the client's connection (never the password)."""
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"
