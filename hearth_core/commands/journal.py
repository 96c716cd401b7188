"""What every state change of a command leaves behind, in its own transaction: an audit row,
a line in the command's log, and a ``command`` NOTIFY (which wakes idle workers and interrupts
a running ``wait`` on cancel)."""

from __future__ import annotations

import uuid
from typing import Any

from hearth_core.commands import repo
from hearth_core.db.audited import AuditedWrite


async def announce(
    w: AuditedWrite,
    cid: uuid.UUID,
    action: str,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    line: str,
    level: str = "info",
) -> None:
    await w.audit(f"command.{action}", f"command:{cid}", before=before, after=after)
    await repo.append_log(w.conn, cid, line, level)
    await w.notify("command", id=str(cid), action=action)
