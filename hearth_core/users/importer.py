"""Bulk user import from CSV or YAML, streamed in batches so 100 000 rows fit in little memory.

The body is spooled to a temporary file, then parsed a batch at a time off the event loop:
CSV with the csv module, YAML event by event (safe loader), one list item at a time. Each batch
is validated, its passwords hashed in worker threads, its PII encrypted, and written with COPY.
``all_or_nothing`` runs every batch in one transaction that is rolled back if any row failed;
``partial`` commits batch by batch and skips bad rows; ``dry_run`` always rolls back.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Literal

import asyncpg
import orjson
import yaml

from hearth_core.audit import repo as audit_repo
from hearth_core.errors import InvalidInput
from hearth_core.roles import repo as roles_repo
from hearth_core.security.crypto import FieldCipher, normalize_email
from hearth_core.security.passwords import hash_password
from hearth_core.users import repo
from hearth_core.users.model import valid_email
from hearth_core.users.pii import encrypt_profile
from hearth_core.users.service import MIN_PASSWORD

Mode = Literal["all_or_nothing", "partial"]
OnConflict = Literal["update", "skip"]
RowStatus = Literal["created", "updated", "skipped", "error"]
COLUMNS = ("email", "display_name", "password", "password_hash", "roles", "status", "attributes")
BATCH = 1000

try:  # libyaml when present: the same safe semantics, much faster
    _YAML_LOADER: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _YAML_LOADER = yaml.SafeLoader


@dataclass(frozen=True)
class RowResult:
    row: int
    status: RowStatus
    user_id: str | None = None
    error: str | None = None


@dataclass
class ImportReport:
    mode: Mode
    dry_run: bool
    committed: bool = False
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: int = 0
    rows: list[RowResult] = field(default_factory=list)

    def add(self, result: RowResult) -> None:
        self.rows.append(result)
        if result.status == "created":
            self.created += 1
        elif result.status == "updated":
            self.updated += 1
        elif result.status == "skipped":
            self.skipped += 1
        else:
            self.errors += 1


class RowError(ValueError):
    pass


@dataclass(frozen=True)
class _Row:
    number: int
    email: str
    display_name: str | None
    password: str | None
    password_hash: str | None
    roles: list[str] | None
    status: str
    attributes: dict[str, Any] | None


# ------------------------------------------------------------------ parsing
def iter_csv(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        yield from _csv_rows(csv.reader(text))
    finally:
        text.detach()  # the caller owns the stream: don't let the wrapper close it


def _csv_rows(reader: Any) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    try:
        header = next(reader)
    except StopIteration:
        return
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InvalidInput(f"unreadable CSV header: {exc}") from None
    header = [h.strip() for h in header]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown or "email" not in header:
        raise InvalidInput(
            "bad CSV header",
            errors=[{"path": "header", "message": f"unknown column {h!r}"} for h in unknown]
            or [{"path": "header", "message": "an 'email' column is required"}],
        )
    number = 0
    while True:
        number += 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            yield number, RowError(f"unreadable CSV: {exc}")
            return
        if not any(v.strip() for v in values):
            number -= 1
            continue
        if len(values) != len(header):
            yield number, RowError(f"expected {len(header)} fields, got {len(values)}")
            continue
        yield number, {h: v for h, v in zip(header, values, strict=True) if v != ""}


def iter_yaml(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    """Items of a top-level list (or of a top-level ``users:`` list), one at a time."""
    events = yaml.parse(stream, Loader=_YAML_LOADER)
    number = 0
    try:
        for ev in events:
            if isinstance(ev, yaml.SequenceStartEvent):
                break
            if isinstance(ev, yaml.ScalarEvent) and ev.value not in ("users",):
                raise InvalidInput("YAML must be a list of users, or a mapping with a 'users' list")
        else:
            return
        depth = 0
        buf: list[yaml.Event] = []
        for ev in events:
            if depth == 0 and isinstance(ev, yaml.SequenceEndEvent):
                return
            buf.append(ev)
            if isinstance(ev, yaml.CollectionStartEvent):
                depth += 1
            elif isinstance(ev, yaml.CollectionEndEvent):
                depth -= 1
            if depth == 0:
                number += 1
                doc = [
                    yaml.StreamStartEvent(),
                    yaml.DocumentStartEvent(),
                    *buf,
                    yaml.DocumentEndEvent(),
                    yaml.StreamEndEvent(),
                ]
                buf = []
                try:
                    item = yaml.load(yaml.emit(doc), Loader=_YAML_LOADER)  # noqa: S506 - safe loader
                except yaml.YAMLError as exc:
                    yield number, RowError(f"unreadable item: {exc}")
                    continue
                if not isinstance(item, dict):
                    yield number, RowError("each user must be a mapping")
                    continue
                yield number, item
    except yaml.YAMLError as exc:
        yield number + 1, RowError(f"YAML syntax error: {exc}".replace("\n", " "))


def _parse_row(number: int, raw: dict[str, Any]) -> _Row:
    unknown = sorted(set(raw) - set(COLUMNS))
    if unknown:
        raise RowError(f"unknown field(s): {', '.join(unknown)}")
    email = raw.get("email")
    if not isinstance(email, str) or not valid_email(email.strip()):
        raise RowError("email: not an email address")
    password = raw.get("password")
    password_hash = raw.get("password_hash")
    if password is not None and password_hash is not None:
        raise RowError("give password or password_hash, not both")
    if password is not None and (not isinstance(password, str) or len(password) < MIN_PASSWORD):
        raise RowError(f"password: at least {MIN_PASSWORD} characters")
    if password_hash is not None and (
        not isinstance(password_hash, str) or not password_hash.startswith("$argon2id$")
    ):
        raise RowError("password_hash: must be an argon2id PHC string")
    roles = raw.get("roles")
    if isinstance(roles, str):
        roles = [r for r in roles.replace(";", " ").replace(",", " ").split() if r]
    if roles is not None and (
        not isinstance(roles, list) or not all(isinstance(r, str) for r in roles)
    ):
        raise RowError("roles: a list of role names")
    status = raw.get("status", "active")
    if status not in ("active", "inactive"):
        raise RowError("status: active or inactive")
    attributes = raw.get("attributes")
    if isinstance(attributes, str):
        try:
            attributes = orjson.loads(attributes)
        except orjson.JSONDecodeError:
            raise RowError("attributes: not valid JSON") from None
    if attributes is not None and not isinstance(attributes, dict):
        raise RowError("attributes: must be a JSON object")
    name = raw.get("display_name")
    if name is not None and not isinstance(name, str):
        name = str(name)
    return _Row(
        number,
        normalize_email(email),
        name,
        password,
        password_hash,
        sorted(set(roles)) if roles is not None else None,
        status,
        attributes,
    )


# ------------------------------------------------------------------ writing
@dataclass
class _Prepared:
    row: _Row
    user_id: uuid.UUID
    password_hash: str | None


class Importer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        cipher: FieldCipher,
        *,
        mode: Mode,
        dry_run: bool,
        on_conflict: OnConflict,
        actor: str,
        request_id: str | None,
        progress: Callable[[int], None] | None = None,
        hash_concurrency: int | None = None,
        max_rows: int = 1_000_000,
    ) -> None:
        self.pool = pool
        self.cipher = cipher
        self.report = ImportReport(mode=mode, dry_run=dry_run)
        self.on_conflict = on_conflict
        self.actor = actor
        self.request_id = request_id
        self.progress = progress
        self._seen: set[bytes] = set()
        self._roles: set[str] = set()
        self.max_rows = max_rows
        self._hash_slots = asyncio.Semaphore(hash_concurrency or os.cpu_count() or 2)

    async def run(self, rows: Iterator[tuple[int, dict[str, Any] | Exception]]) -> ImportReport:
        single = self.report.mode == "all_or_nothing" or self.report.dry_run
        async with self.pool.acquire() as conn:
            self._roles = await roles_repo.names(conn)
            if single:
                tx = conn.transaction()
                await tx.start()
            try:
                seen = 0
                while batch := await asyncio.to_thread(_take, rows, BATCH):
                    seen += len(batch)
                    if seen > self.max_rows:
                        raise InvalidInput(
                            f"more than {self.max_rows} rows; split the import",
                            errors=[{"path": "$", "message": f"over {self.max_rows} rows"}],
                        )
                    if single:
                        await self._batch(conn, batch)
                    else:
                        async with conn.transaction():
                            await self._batch(conn, batch)
                    if self.progress is not None:
                        self.progress(len(batch))
            except BaseException:
                if single:
                    await tx.rollback()
                # Finish the parser now, while its stream is still open (not at GC time).
                close = getattr(rows, "close", None)
                if close is not None:
                    close()
                raise
            if single:
                if self.report.dry_run or self.report.errors:
                    await tx.rollback()
                else:
                    await tx.commit()
        self.report.rows.sort(key=lambda r: r.row)
        self.report.committed = not self.report.dry_run and (
            self.report.mode == "partial" or self.report.errors == 0
        )
        return self.report

    async def _batch(
        self, conn: asyncpg.Connection, batch: list[tuple[int, dict[str, Any] | Exception]]
    ) -> None:
        valid: list[_Row] = []
        for number, raw in batch:
            try:
                if isinstance(raw, Exception):
                    raise raw
                row = _parse_row(number, raw)
                missing = [r for r in row.roles or () if r not in self._roles]
                if missing:
                    raise RowError(f"roles: unknown role(s) {', '.join(missing)}")
                bidx = self.cipher.blind_index(row.email)
                if bidx in self._seen:
                    raise RowError("email: appears earlier in this file")
                self._seen.add(bidx)
                valid.append(row)
            except RowError as exc:
                self.report.add(RowResult(number, "error", error=str(exc)))
        if not valid:
            return
        existing = await repo.ids_by_email(conn, [self.cipher.blind_index(r.email) for r in valid])
        prepared: list[_Prepared] = []
        for row in valid:
            uid = existing.get(self.cipher.blind_index(row.email))
            if uid is not None and self.on_conflict == "skip":
                self.report.add(RowResult(row.number, "skipped", user_id=str(uid)))
                continue
            prepared.append(_Prepared(row, uid or uuid.uuid4(), row.password_hash))
        await self._hash_passwords(prepared)
        records = await asyncio.to_thread(self._encrypt, prepared)
        known = set(existing.values())
        pairs = list(zip(prepared, records, strict=True))
        new = [(p, rec) for p, rec in pairs if p.user_id not in known]
        old = [(p, rec) for p, rec in pairs if p.user_id in known]
        await repo.insert(conn, [rec for _, rec in new])
        if old:
            await repo.update_matching(conn, [rec for _, rec in old])
        role_rows = [(p.user_id, role) for p, _ in new for role in p.row.roles or ()]
        replaced = [p.user_id for p, _ in old if p.row.roles is not None]
        if replaced:
            await roles_repo.revoke_all(conn, replaced)
            role_rows += [(p.user_id, role) for p, _ in old for role in p.row.roles or ()]
        await roles_repo.grant_many(conn, role_rows)
        actions = [("user.import.create", p) for p, _ in new] + [
            ("user.import.update", p) for p, _ in old
        ]
        await audit_repo.record_many(
            conn,
            actor=self.actor,
            entries=[
                (
                    action,
                    f"user:{p.user_id}",
                    {"row": p.row.number, "status": p.row.status, "roles": p.row.roles},
                )
                for action, p in actions
            ],
            request_id=self.request_id,
        )
        for p, _ in new:
            self.report.add(RowResult(p.row.number, "created", user_id=str(p.user_id)))
        for p, _ in old:
            self.report.add(RowResult(p.row.number, "updated", user_id=str(p.user_id)))

    async def _hash_passwords(self, prepared: list[_Prepared]) -> None:
        async def one(p: _Prepared) -> None:
            async with self._hash_slots:
                # argon2-cffi releases the GIL: threads hash in parallel, off the event loop.
                p.password_hash = await asyncio.to_thread(hash_password, p.row.password or "")

        await asyncio.gather(*(one(p) for p in prepared if p.row.password is not None))

    def _encrypt(self, prepared: list[_Prepared]) -> list[repo.NewUser]:
        return [
            repo.NewUser(
                p.user_id,
                encrypt_profile(
                    self.cipher, p.user_id, p.row.email, p.row.display_name, p.row.attributes or {}
                ),
                p.password_hash,
                p.row.status,
            )
            for p in prepared
        ]


def _take(
    rows: Iterator[tuple[int, dict[str, Any] | Exception]], n: int
) -> list[tuple[int, dict[str, Any] | Exception]]:
    out = []
    for item in rows:
        out.append(item)
        if len(out) >= n:
            break
    return out


def rows_from(
    stream: IO[bytes], fmt: Literal["csv", "yaml"]
) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    return iter_csv(stream) if fmt == "csv" else iter_yaml(stream)
