-- Usage per client and day, flushed from each worker's in-memory meter.
CREATE TABLE usage_daily (
    day        date NOT NULL,
    client_id  text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('requests', 'points', 'bytes_in')),
    route      text NOT NULL DEFAULT '',        -- requests: the route template; '' otherwise
    value      bigint NOT NULL,
    PRIMARY KEY (day, client_id, kind, route)
);
CREATE INDEX usage_daily_client ON usage_daily (client_id, day);
