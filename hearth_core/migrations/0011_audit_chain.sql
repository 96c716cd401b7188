-- The audit log becomes append-only and hash-chained: each row carries the hash of the one
-- before it (by seq, assigned under a lock so the chain has one order), so a changed or a
-- deleted row breaks the chain and `hearth audit verify` finds it.

ALTER TABLE audit_log ADD COLUMN seq bigint;
ALTER TABLE audit_log ADD COLUMN prev_hash bytea;
ALTER TABLE audit_log ADD COLUMN hash bytea;

CREATE FUNCTION audit_row_text(a audit_log) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(concat_ws(E'\x1f', a.seq::text, to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                                a.actor, a.action, a.target, coalesce(a.before::text, ''),
                                coalesce(a.after::text, ''), coalesce(a.request_id, '')), 'UTF8')
$$;

CREATE FUNCTION audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last audit_log%ROWTYPE;
BEGIN
    -- One writer at a time extends the chain (held to commit: chain order = commit order).
    PERFORM pg_advisory_xact_lock(4242424242);
    SELECT * INTO last FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1;
    NEW.seq := coalesce(last.seq, 0) + 1;
    NEW.prev_hash := coalesce(last.hash, '\x'::bytea);
    NEW.hash := sha256(NEW.prev_hash || audit_row_text(NEW));
    RETURN NEW;
END
$$;

-- Rows written before this migration join the chain in id order.
DO $$
DECLARE
    r audit_log%ROWTYPE;
    prev bytea := '\x'::bytea;
    n bigint := 0;
BEGIN
    FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
        n := n + 1;
        r.seq := n;
        UPDATE audit_log SET seq = n, prev_hash = prev, hash = sha256(prev || audit_row_text(r)) WHERE id = r.id
            RETURNING hash INTO prev;
    END LOOP;
END
$$;

CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE TRIGGER audit_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_chain();

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
