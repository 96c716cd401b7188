-- Conference rooms and their participants.
CREATE TABLE rooms (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL,
    status         text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'active', 'ended')),
    settings       jsonb NOT NULL DEFAULT '{}',
    scheduled_for  timestamptz,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    ended_at       timestamptz,
    version        integer NOT NULL DEFAULT 1
);
CREATE INDEX rooms_status_created ON rooms (status, created_at, id);
CREATE INDEX rooms_created ON rooms (created_at, id);

CREATE TABLE room_participants (
    room_id    uuid NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id    text NOT NULL,
    role       text NOT NULL DEFAULT 'participant',
    joined_at  timestamptz NOT NULL DEFAULT now(),
    left_at    timestamptz,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_participants_present ON room_participants (room_id) WHERE left_at IS NULL;
