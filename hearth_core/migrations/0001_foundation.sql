-- Keys, users, roles and the audit log: what every service stands on.

CREATE TABLE data_keys (
    key_id      serial PRIMARY KEY,
    purpose     text NOT NULL CHECK (purpose IN ('data', 'bidx')),
    master_kid  text NOT NULL,
    wrapped     bytea NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    user_id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email_bidx        bytea UNIQUE,            -- HMAC of the normalized email; NULL once erased
    email_enc         bytea,                   -- AES-256-GCM, AAD = user_id + column
    display_name_enc  bytea,
    attributes_enc    bytea,
    password_hash     text,                    -- argon2id
    status            text NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'inactive', 'erased')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    last_login        timestamptz
);
CREATE INDEX users_created_at ON users (created_at);
CREATE INDEX users_status ON users (status);

CREATE TABLE roles (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_.-]{0,63}$'),
    description  text NOT NULL DEFAULT '',
    scopes       text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_roles (
    user_id    uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    role_name  text NOT NULL REFERENCES roles (name) ON UPDATE CASCADE ON DELETE CASCADE,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, role_name)
);
CREATE INDEX user_roles_role ON user_roles (role_name);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text NOT NULL,
    before      jsonb,
    after       jsonb,
    request_id  text
);
CREATE INDEX audit_log_target ON audit_log (target, id);
CREATE INDEX audit_log_at ON audit_log (at);
