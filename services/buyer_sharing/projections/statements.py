"""The SQL of the upstream read models, set-based: each statement takes a batch's rows as arrays
(through `unnest`, on the driver connection) and keeps the per-event rule (insert once, or the
newest version wins); then the statements that recompute what is derived from those rows (the
reports' tallies, the factory summaries) and move the public pages' version."""

from __future__ import annotations

from services.buyer_sharing.tables import SCHEMA

S = f'"{SCHEMA}"'
FACTORY_SQL = f"""
INSERT INTO {S}.factory AS t (factory_id, name, country, os_id, version)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])
ON CONFLICT (factory_id) DO UPDATE SET name = excluded.name, country = excluded.country,
    os_id = excluded.os_id, version = excluded.version
WHERE t.version < excluded.version
"""
REPORT_SQL = f"""
INSERT INTO {S}.report (assessment_id, factory_id, cycle, country, catalogue_version, report_date,
    non_compliance_count, summary)
SELECT a, f, c, co, v, d, n, s::jsonb
FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::date[], $7::int[],
    $8::text[]) AS u(a, f, c, co, v, d, n, s)
ON CONFLICT (assessment_id) DO NOTHING
"""
# a correction that arrived first keeps its result
RESULT_SQL = f"""
INSERT INTO {S}.report_result AS t (assessment_id, question_id, factory_id, cluster_id,
    compliance_point_id, critical, zero_tolerance, result, result_version)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[],
    $7::bool[], $8::text[], $9::int[])
ON CONFLICT (assessment_id, question_id) DO UPDATE SET cluster_id = excluded.cluster_id,
    compliance_point_id = excluded.compliance_point_id, critical = excluded.critical,
    zero_tolerance = excluded.zero_tolerance,
    result = CASE WHEN t.result_version < excluded.result_version THEN excluded.result
        ELSE t.result END,
    result_version = greatest(t.result_version, excluded.result_version)
"""
CORRECTION_SQL = f"""
INSERT INTO {S}.report_result AS t (assessment_id, question_id, factory_id, result, result_version)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])
ON CONFLICT (assessment_id, question_id) DO UPDATE SET result = excluded.result,
    result_version = excluded.result_version
WHERE t.result_version < excluded.result_version
"""
FINDING_SQL = f"""
INSERT INTO {S}.finding (assessment_id, question_id, factory_id, cluster_id, cluster_name,
    compliance_point_id, compliance_point_name, question_text, critical, zero_tolerance, evidence)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::text[], $9::bool[], $10::bool[], $11::text[])
ON CONFLICT (assessment_id, question_id) DO NOTHING
"""
NOTE_SQL = f"""
INSERT INTO {S}.finding_note (event_id, assessment_id, question_id, factory_id, stream_version,
    kind, text, reason, result_before, result_after, actor, at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[],
    $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::timestamptz[])
ON CONFLICT (event_id) DO NOTHING
"""
ITEM_SQL = f"""
INSERT INTO {S}.plan_item AS t (item_id, factory_id, assessment_id, question_id, critical,
    zero_tolerance, status, overdue, due_date, plan_version)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bool[],
    $7::text[], $8::bool[], $9::date[], $10::int[])
ON CONFLICT (item_id) DO UPDATE SET factory_id = excluded.factory_id,
    assessment_id = excluded.assessment_id, question_id = excluded.question_id,
    critical = excluded.critical, zero_tolerance = excluded.zero_tolerance,
    status = excluded.status, overdue = excluded.overdue, due_date = excluded.due_date,
    plan_version = excluded.plan_version
WHERE t.plan_version < excluded.plan_version
"""
# a publication seen at a later version is not undone by an older summary
PROGRESS_SQL = f"""
INSERT INTO {S}.plan_progress AS t (factory_id, total, open, in_progress, done, verified, overdue,
    published, publication_late, publication_due_date, plan_version)
SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::int[], $5::int[], $6::int[],
    $7::int[], $8::bool[], $9::bool[], $10::date[], $11::int[])
ON CONFLICT (factory_id) DO UPDATE SET total = excluded.total, open = excluded.open,
    in_progress = excluded.in_progress, done = excluded.done, verified = excluded.verified,
    overdue = excluded.overdue, published = t.published OR excluded.published,
    publication_late = excluded.publication_late,
    publication_due_date = excluded.publication_due_date, plan_version = excluded.plan_version
WHERE t.plan_version < excluded.plan_version
"""
PUBLISHED_SQL = f"""
UPDATE {S}.plan_progress AS t SET published = true
FROM unnest($1::text[], $2::int[]) AS u(factory_id, plan_version)
WHERE t.factory_id = u.factory_id AND t.plan_version <= u.plan_version AND NOT t.published
"""
# a credential never changes: the first copy received stays (its id names assessment and revision)
CREDENTIAL_SQL = f"""
INSERT INTO {S}.report_credential (credential_id, assessment_id, factory_id, revision, supersedes,
    issued_at, bundle)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[],
    $6::timestamptz[], $7::text[])
ON CONFLICT DO NOTHING
"""

# --- derived ------------------------------------------------------------------------------------

_TALLY = f"""
UPDATE {S}.report AS r SET compliant = t.compliant, answered = t.answered
FROM (
    SELECT rr.assessment_id,
        count(*) FILTER (WHERE rr.result = 'compliant') AS compliant,
        count(*) FILTER (WHERE rr.result IN ('compliant', 'non_compliant')) AS answered
    FROM {S}.report_result rr {{where}}
    GROUP BY rr.assessment_id
) AS t
WHERE r.assessment_id = t.assessment_id
  AND (r.compliant <> t.compliant OR r.answered <> t.answered)
"""
TALLY_SQL = _TALLY.format(where="WHERE rr.assessment_id = ANY($1::text[])")
TALLY_ALL_SQL = _TALLY.format(where="")

# Summaries are recomputed from the rows (so they are as order-safe as the rows). Two consumers
# (assessment, remediation) may touch one factory at once: each takes the factory's transaction
# lock first, in key order, and computes in a statement that starts after it has it, so the later
# one sees what the earlier one committed.
LOCK_SQL = """
SELECT pg_advisory_xact_lock(key) FROM (
    SELECT DISTINCT hashtextextended('buyer_sharing.factory_summary:' || id, 0) AS key
    FROM unnest($1::text[]) AS id ORDER BY 1
) AS keys
"""
_SUMMARY = f"""
WITH ids AS ({{ids}}),
ranked AS (
    SELECT r.factory_id, r.assessment_id, r.country, r.summary,
        row_number() OVER (
            PARTITION BY r.factory_id
            ORDER BY r.report_date DESC, r.cycle DESC, r.assessment_id DESC) AS n,
        count(*) OVER (PARTITION BY r.factory_id) AS assessments
    FROM {S}.report r JOIN ids ON ids.factory_id = r.factory_id
),
latest AS (SELECT * FROM ranked WHERE n = 1),
previous AS (SELECT factory_id, assessment_id FROM ranked WHERE n = 2),
issues AS (
    SELECT l.factory_id,
        count(*) FILTER (WHERE rr.critical) AS critical_found,
        count(*) FILTER (WHERE rr.zero_tolerance) AS zero_tolerance_found,
        count(*) FILTER (WHERE rr.critical AND NOT coalesce(v.verified, false)) AS open_critical,
        count(*) FILTER (WHERE rr.zero_tolerance AND NOT coalesce(v.verified, false))
            AS open_zero_tolerance
    FROM latest l
    JOIN {S}.report_result rr
        ON rr.assessment_id = l.assessment_id AND rr.result = 'non_compliant'
    LEFT JOIN LATERAL (
        SELECT bool_or(p.status = 'verified') AS verified FROM {S}.plan_item p
        WHERE p.assessment_id = rr.assessment_id AND p.question_id = rr.question_id
    ) v ON true
    GROUP BY l.factory_id
),
rates AS (
    SELECT l.factory_id, sum((c ->> 'non_compliant')::int) AS non_compliant,
        sum((c ->> 'questions')::int) AS questions
    FROM latest l CROSS JOIN LATERAL jsonb_array_elements(l.summary) AS c
    GROUP BY l.factory_id
)
INSERT INTO {S}.factory_summary AS t (factory_id, country, assessments, latest_assessment_id,
    previous_assessment_id, critical_found, zero_tolerance_found, open_critical,
    open_zero_tolerance, overdue, rate_ppm)
SELECT ids.factory_id, coalesce(f.country, l.country), coalesce(l.assessments, 0),
    l.assessment_id, p.assessment_id, coalesce(i.critical_found, 0),
    coalesce(i.zero_tolerance_found, 0), coalesce(i.open_critical, 0),
    coalesce(i.open_zero_tolerance, 0), coalesce(pp.overdue, 0),
    -- float8 division, product and round-half-even: what Python's round(rate * 1e6) gives
    CASE WHEN ra.questions > 0
        THEN round(ra.non_compliant::float8 / ra.questions::float8 * 1000000::float8)::int
        ELSE 0 END
FROM ids
LEFT JOIN {S}.factory f ON f.factory_id = ids.factory_id
LEFT JOIN latest l ON l.factory_id = ids.factory_id
LEFT JOIN previous p ON p.factory_id = ids.factory_id
LEFT JOIN issues i ON i.factory_id = ids.factory_id
LEFT JOIN rates ra ON ra.factory_id = ids.factory_id
LEFT JOIN {S}.plan_progress pp ON pp.factory_id = ids.factory_id
ON CONFLICT (factory_id) DO UPDATE SET country = excluded.country,
    assessments = excluded.assessments, latest_assessment_id = excluded.latest_assessment_id,
    previous_assessment_id = excluded.previous_assessment_id,
    critical_found = excluded.critical_found, zero_tolerance_found = excluded.zero_tolerance_found,
    open_critical = excluded.open_critical, open_zero_tolerance = excluded.open_zero_tolerance,
    overdue = excluded.overdue, rate_ppm = excluded.rate_ppm
"""
SUMMARY_SQL = _SUMMARY.format(ids="SELECT DISTINCT unnest($1::text[]) AS factory_id")
# every factory something is known of (the rebuild; the migration that adds the table)
SUMMARY_ALL_SQL = _SUMMARY.format(
    ids=" UNION ".join(
        f"SELECT factory_id FROM {S}.{name}"
        for name in ("factory", "report", "report_result", "plan_item", "plan_progress")
    )
)
BUMP_SQL = f"""
INSERT INTO {S}.read_model_version AS t (name, version) VALUES ($1, 1)
ON CONFLICT (name) DO UPDATE SET version = t.version + 1
"""
