-- The spec's `metrics` relation over the compressed store: a set-returning function that decodes
-- chunks and the not-yet-compacted write log with the native core (the same code the server
-- reads with), through PL/Python; `metrics` the view is the function without filters.
--   SELECT * FROM metrics('shop', 'orders', now() - interval '1 hour', now());
-- Without PL/Python (a managed PostgreSQL that does not offer it) the function says so and
-- points to the HTTP query API; nothing else depends on it.
DO $do$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS plpython3u;
    EXCEPTION WHEN undefined_file OR insufficient_privilege OR feature_not_supported THEN
        RAISE NOTICE 'plpython3u is not available: the metrics function will explain that';
    END;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'plpython3u') THEN
        EXECUTE $f$
CREATE FUNCTION metrics(
    p_namespace text DEFAULT NULL, p_name text DEFAULT NULL,
    p_since timestamptz DEFAULT NULL, p_until timestamptz DEFAULT NULL
) RETURNS TABLE (namespace text, name text, labels jsonb, value double precision,
                 "timestamp" timestamptz)
LANGUAGE plpython3u STABLE AS $py$
import importlib.util
import struct
from datetime import datetime, timedelta, timezone

native = SD.get("native")
if native is None:
    rows = plpy.execute("SELECT path FROM metric_native")
    if not rows:
        plpy.error("no Hearth server has started against this database yet",
                   hint="the metrics function loads the native decoder a server registers")
    spec = importlib.util.spec_from_file_location("hearth_core._native", rows[0]["path"])
    native = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(native)
    SD["native"] = native

bounds = plpy.execute(plpy.prepare(
    "SELECT coalesce(time_us($1), -9223372036854775807) AS lo,"
    " coalesce(time_us($2), 9223372036854775807) AS hi",
    ["timestamptz", "timestamptz"]), [p_since, p_until])[0]
lo, hi = bounds["lo"], bounds["hi"]
series = plpy.execute(plpy.prepare(
    "SELECT series_id, namespace, name, labels::text AS labels FROM metric_series"
    " WHERE ($1::text IS NULL OR namespace = $1) AND ($2::text IS NULL OR name = $2)"
    " ORDER BY series_id", ["text", "text"]), [p_namespace, p_name])
if not series:
    return
blocks = [r["block"] for r in plpy.execute(plpy.prepare(
    "SELECT block FROM metric_log WHERE max_time >= us_time($1)"
    " ORDER BY block_id", ["bigint"]), [max(lo, -10**17)])]
chunk_plan = plpy.prepare(
    "SELECT series_id, data FROM metric_chunks WHERE series_id = ANY($1)"
    " AND max_time >= us_time($2)"
    " AND min_time < us_time($3)",
    ["int[]", "bigint", "bigint"])
epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
stale = native.STALE_NAN_BITS
bits = struct.Struct("<d")
for start in range(0, len(series), 1000):
    part = series[start:start + 1000]
    by_id = {r["series_id"]: r for r in part}
    ids = list(by_id)
    chunks = [(r["series_id"], r["data"]) for r in
              plpy.execute(chunk_plan, [ids, max(lo, -10**17), min(hi, 10**17)])]
    for sid, ts, vs in native.series_samples(chunks, blocks, lo, hi, ids):
        s = by_id[sid]
        for t, v in zip(ts, vs):
            if int.from_bytes(bits.pack(v), "little") == stale:
                continue
            yield (s["namespace"], s["name"], s["labels"], v, epoch + timedelta(microseconds=t))
$py$;
$f$;
    ELSE
        EXECUTE $f$
CREATE FUNCTION metrics(
    p_namespace text DEFAULT NULL, p_name text DEFAULT NULL,
    p_since timestamptz DEFAULT NULL, p_until timestamptz DEFAULT NULL
) RETURNS TABLE (namespace text, name text, labels jsonb, value double precision,
                 "timestamp" timestamptz)
LANGUAGE plpgsql STABLE AS $body$
BEGIN
    RAISE EXCEPTION 'the metrics function needs PL/Python (plpython3u) on this server'
        USING HINT = 'install postgresql-plpython3, or read samples over GET /v1/metrics/query';
END
$body$;
$f$;
    END IF;
END
$do$;

CREATE VIEW metrics AS SELECT * FROM metrics();
