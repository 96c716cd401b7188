-- Feature flags with a global revision counter (the SSE stream's event ids), and the
-- versioned configuration store with full history.

CREATE TABLE flags (
    name          text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'),
    description   text NOT NULL DEFAULT '',
    enabled       boolean NOT NULL DEFAULT false,
    rollout_pct   integer NOT NULL DEFAULT 100 CHECK (rollout_pct BETWEEN 0 AND 100),
    variants      jsonb NOT NULL DEFAULT '[]',      -- [{"name", "weight", "value"}]
    targeting     jsonb NOT NULL DEFAULT '{}',      -- {"user_ids": [...], "rules": [...]}
    environments  jsonb NOT NULL DEFAULT '{}',      -- {"prod": {"enabled", "rollout_pct"}}
    metadata      jsonb NOT NULL DEFAULT '{}',
    version       integer NOT NULL DEFAULT 1,
    archived_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    text NOT NULL
);

-- Every change to a flag, in order: the audit trail and the replay log of the change stream.
CREATE TABLE flag_revisions (
    revision    bigserial PRIMARY KEY,
    flag_name   text NOT NULL,
    action      text NOT NULL,
    before      jsonb,
    after       jsonb,
    actor       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    request_id  text
);
CREATE INDEX flag_revisions_flag ON flag_revisions (flag_name, revision);

CREATE TABLE config_entries (
    environment  text NOT NULL CHECK (environment ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    key          text NOT NULL CHECK (key ~ '^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,255}$'),
    value        jsonb NOT NULL,
    schema       jsonb,
    version      integer NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    updated_by   text NOT NULL,
    PRIMARY KEY (environment, key)
);

CREATE TABLE config_history (
    environment  text NOT NULL,
    key          text NOT NULL,
    version      integer NOT NULL,
    value        jsonb,                              -- NULL for a deletion
    schema       jsonb,
    action       text NOT NULL,                      -- set | rollback | import | delete
    actor        text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    request_id   text,
    PRIMARY KEY (environment, key, version)
);
