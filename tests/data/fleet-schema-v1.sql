-- fleet-schema-v1.sql - a fleet database as schema version 1 left it (before
-- the builder's lease and the fleet's outbox), with one host's pushed day:
-- tests/fleet.sh migrates it with `tlsrpt fleet init`.
BEGIN;
CREATE TABLE tlsrpt_meta (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE tlsrpt_pushes ( host_id text NOT NULL, day integer NOT NULL, keys bigint NOT NULL, details bigint NOT NULL, overflow bigint NOT NULL, sessions bigint NOT NULL, lost_events bigint NOT NULL, late_events bigint NOT NULL, pushed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (host_id, day));
CREATE TABLE tlsrpt_keys ( domain text NOT NULL, day integer NOT NULL, host_id text NOT NULL, key_hash text NOT NULL, record text, policy_type text NOT NULL, policy_domain text, policy_strings text NOT NULL, mx_hosts text NOT NULL, success bigint NOT NULL, failure bigint NOT NULL, PRIMARY KEY (domain, day, host_id, key_hash));
CREATE INDEX tlsrpt_keys_host_day ON tlsrpt_keys (day, host_id);
CREATE TABLE tlsrpt_details ( domain text NOT NULL, day integer NOT NULL, host_id text NOT NULL, key_hash text NOT NULL, detail_hash text NOT NULL, result_type text NOT NULL, sending_mta_ip text, receiving_mx_hostname text, receiving_mx_helo text, receiving_ip text, additional_information text, failure_reason_code text, count bigint NOT NULL, PRIMARY KEY (domain, day, host_id, key_hash, detail_hash));
CREATE INDEX tlsrpt_details_host_day ON tlsrpt_details (day, host_id);
CREATE TABLE tlsrpt_overflow ( domain text NOT NULL, day integer NOT NULL, host_id text NOT NULL, events bigint NOT NULL, PRIMARY KEY (domain, day, host_id));
CREATE INDEX tlsrpt_overflow_host_day ON tlsrpt_overflow (day, host_id);
INSERT INTO tlsrpt_meta VALUES ('schema_version', '1');
INSERT INTO tlsrpt_pushes (host_id, day, keys, details, overflow, sessions, lost_events, late_events)
    VALUES ('old1', 20098, 1, 1, 0, 6, 0, 0);
INSERT INTO tlsrpt_keys VALUES ('v1.example', 20098, 'old1', '0123456789abcdef0123456789abcdef',
    'v=TLSRPTv1;rua=mailto:tls@v1.example', 'no-policy-found', NULL, '[]', '[]', 5, 1);
INSERT INTO tlsrpt_details VALUES ('v1.example', 20098, 'old1', '0123456789abcdef0123456789abcdef',
    'fedcba9876543210fedcba9876543210', 'starttls-not-supported', NULL, 'mx.v1.example', NULL, NULL,
    NULL, NULL, 1);
COMMIT;
