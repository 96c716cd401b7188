-- The project command workspace: SOP templates (named, versioned step lists), commands made
-- from them (also the durable work queue the command workers claim with SKIP LOCKED), and
-- each command's output log.

CREATE TABLE sop_templates (
    name         text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'),
    version      integer NOT NULL CHECK (version > 0),
    description  text NOT NULL DEFAULT '',
    parameters   jsonb,                               -- JSON Schema of a command's parameters
    steps        jsonb NOT NULL,                      -- [{"action": ..., ...}]
    digest       text NOT NULL,                       -- of (description, parameters, steps)
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE commands (
    id                uuid PRIMARY KEY,
    template_name     text NOT NULL,
    template_version  integer NOT NULL,
    parameters        jsonb NOT NULL DEFAULT '{}',
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    triggered_by      text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    queued_at         timestamptz,                    -- NULL until executed
    started_at        timestamptz,
    finished_at       timestamptz,
    current_step      integer NOT NULL DEFAULT 0,     -- steps done so far
    error             text,
    cancel_requested  boolean NOT NULL DEFAULT false,
    lease_owner       text,                           -- host:pid:task of the worker running it
    lease_until       timestamptz,
    attempts          integer NOT NULL DEFAULT 0,     -- claims by a worker
    FOREIGN KEY (template_name, template_version) REFERENCES sop_templates (name, version)
);
-- What the workers poll: queued work, pending or running (expired leases are taken over).
CREATE INDEX commands_queue ON commands (queued_at)
    WHERE queued_at IS NOT NULL AND status IN ('pending', 'running');
CREATE INDEX commands_created ON commands (created_at DESC, id);
CREATE INDEX commands_template ON commands (template_name, created_at DESC);

CREATE TABLE command_log (
    command_id  uuid NOT NULL REFERENCES commands (id) ON DELETE CASCADE,
    seq         bigint GENERATED ALWAYS AS IDENTITY,  -- increasing across all commands
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    level       text NOT NULL DEFAULT 'info' CHECK (level IN ('info', 'warning', 'error')),
    line        text NOT NULL,
    PRIMARY KEY (command_id, seq)
);
