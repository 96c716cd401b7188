-- Metric tenancy: the namespace a client writes into and reads from, and its tenant id on a
-- remote metrics backend (X-Scope-OrgID, or the {tenant} of the backend's URLs). A client
-- without a row chooses its namespace per request, as before.
CREATE TABLE metric_tenants (
    client_id   text PRIMARY KEY REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    namespace   text NOT NULL,
    tenant      text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL
);
