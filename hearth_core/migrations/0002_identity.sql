-- OAuth 2.0 / OpenID Connect: clients, signing keys, codes, refresh-token families, revocations.

CREATE TABLE oauth_clients (
    client_id      text PRIMARY KEY,
    name           text NOT NULL,
    confidential   boolean NOT NULL,
    secret_hash    bytea,                          -- HMAC-SHA256 under a server key; NULL for public clients
    grants         text[] NOT NULL,
    scopes         text[] NOT NULL,
    redirect_uris  text[] NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    secret_rotated_at timestamptz,
    CHECK (confidential = (secret_hash IS NOT NULL))
);

CREATE TABLE signing_keys (
    kid          text PRIMARY KEY,
    alg          text NOT NULL,
    private_enc  bytea NOT NULL,                   -- PKCS#8 PEM, AES-256-GCM under a data key
    public_jwk   jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz,                      -- stops signing
    expires_at   timestamptz                       -- leaves the JWKS (after its last token expired)
);

CREATE TABLE auth_codes (
    code_hash       bytea PRIMARY KEY,
    client_id       text NOT NULL REFERENCES oauth_clients ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users ON DELETE CASCADE,
    redirect_uri    text NOT NULL,
    scope           text NOT NULL,
    code_challenge  text NOT NULL,
    nonce           text,
    auth_time       timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    family_id       uuid                           -- the refresh family it produced (revoked on reuse)
);

CREATE TABLE refresh_tokens (
    token_hash   bytea PRIMARY KEY,
    family_id    uuid NOT NULL,
    client_id    text NOT NULL REFERENCES oauth_clients ON DELETE CASCADE,
    user_id      uuid REFERENCES users ON DELETE CASCADE,
    scope        text NOT NULL,
    auth_time    timestamptz,
    issued_at    timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE token_families (
    family_id   uuid PRIMARY KEY,
    client_id   text NOT NULL REFERENCES oauth_clients ON DELETE CASCADE,
    user_id     uuid REFERENCES users ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    revoked_reason text
);

-- Revocations every worker keeps in memory: one access token (jti), a whole family (sid),
-- or everything a subject (sub) or client (cid) was issued before a moment.
CREATE TABLE revocations (
    kind        text NOT NULL CHECK (kind IN ('jti', 'sid', 'sub', 'cid')),
    value       text NOT NULL,
    revoked_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,             -- after this no token it covers can be valid
    PRIMARY KEY (kind, value)
);
CREATE INDEX revocations_expires ON revocations (expires_at);
