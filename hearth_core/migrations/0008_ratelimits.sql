-- Rate-limit policies (the spec's RateLimits table). key '*' is the service's default.
CREATE TABLE ratelimits (
    service     text NOT NULL CHECK (service ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    key         text NOT NULL CHECK (key ~ '^(\*|[A-Za-z0-9_.:@/-]{1,200})$'),
    "limit"     integer NOT NULL CHECK ("limit" > 0),
    window_sec  integer NOT NULL CHECK (window_sec > 0),
    burst       integer CHECK (burst IS NULL OR burst > 0),
    fail_mode   text NOT NULL DEFAULT 'open' CHECK (fail_mode IN ('open', 'closed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL,
    PRIMARY KEY (service, key)
);
