"""The SQL of the own read models (buyers, grants, their history, reliance declarations),
set-based: each statement takes a batch's rows as arrays (through `unnest`, on the driver
connection) and keeps the per-event rule (insert once, or the newest stream version wins)."""

from __future__ import annotations

from services.buyer_sharing.tables import SCHEMA

S = f'"{SCHEMA}"'
BUYER_SQL = f"""
INSERT INTO {S}.buyer (buyer_id, name, country, contact_name, contact_email, registered_by,
    registered_at, version)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::timestamptz[], $8::int[])
ON CONFLICT (buyer_id) DO NOTHING
"""
# a pair's row from a grant on: every column
GRANT_SQL = f"""
INSERT INTO {S}.sharing_grant AS t (factory_id, buyer_id, active, granted_at, ends_on,
    revoked_at, version)
SELECT * FROM unnest($1::text[], $2::text[], $3::bool[], $4::timestamptz[], $5::date[],
    $6::timestamptz[], $7::int[])
ON CONFLICT (factory_id, buyer_id) DO UPDATE SET active = excluded.active,
    granted_at = excluded.granted_at, ends_on = excluded.ends_on,
    revoked_at = excluded.revoked_at, version = excluded.version
WHERE t.version < excluded.version
"""
# a pair's row after a revocation or a reliance event without a grant before it in the batch
CHANGE_SQL = f"""
UPDATE {S}.sharing_grant AS t
SET active = CASE WHEN u.revoked THEN false ELSE t.active END,
    revoked_at = CASE WHEN u.revoked THEN u.revoked_at ELSE t.revoked_at END,
    version = u.version
FROM unnest($1::text[], $2::text[], $3::bool[], $4::timestamptz[], $5::int[])
    AS u(factory_id, buyer_id, revoked, revoked_at, version)
WHERE t.factory_id = u.factory_id AND t.buyer_id = u.buyer_id AND t.version < u.version
"""
HISTORY_SQL = f"""
INSERT INTO {S}.sharing_history (factory_id, buyer_id, version, action, actor, at, reason,
    ends_on, access_request_id)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[],
    $6::timestamptz[], $7::text[], $8::date[], $9::text[])
ON CONFLICT (factory_id, buyer_id, version) DO NOTHING
"""
DECLARED_SQL = f"""
INSERT INTO {S}.audit_reliance (reliance_id, factory_id, buyer_id, assessment_id, period_start,
    period_end, note, declared_by, declared_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::date[],
    $7::text[], $8::text[], $9::timestamptz[])
ON CONFLICT (reliance_id) DO NOTHING
"""
WITHDRAWN_SQL = f"""
UPDATE {S}.audit_reliance AS t
SET withdrawn_by = u.withdrawn_by, withdrawn_at = u.withdrawn_at, withdrawal_reason = u.reason
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[])
    AS u(reliance_id, withdrawn_by, withdrawn_at, reason)
WHERE t.reliance_id = u.reliance_id
"""
