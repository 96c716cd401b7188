"""Every scope a ``/v1`` route can require (DESIGN §5)."""

PUBLIC = "public"

ALL_SCOPES: tuple[str, ...] = (
    "auth.introspect",
    "auth.admin",
    "profile.read",
    "profile.write",
    "role.read",
    "role.write",
    "flag.read",
    "flag.write",
    "config.read",
    "config.write",
    "metrics.read",
    "metrics.write",
    "ratelimit.read",
    "ratelimit.write",
    "room.read",
    "room.write",
    "command.read",
    "command.write",
    "command.execute",
    "usage.read",
    "audit.read",
)
