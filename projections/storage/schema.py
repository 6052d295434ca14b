"""The views' tables. Months are stored as month indexes (year * 12 + month - 1), positions
as ledger positions, money as integer fen; ``known_from``/``known_to`` bound the record time
during which a row was the ledger's knowledge (``known_to`` NULL: still is)."""

from __future__ import annotations

import hashlib

from projections.storage.database import SQLiteViews, ViewDatabase

TRACKING_NAME = "views"
VIEWS_SCHEMA = "ledger_views"  # the views' schema in the ledger's PostgreSQL database


def valid_until(alias: str = "") -> str:
    """A segment's end month, an open end as the largest month index: indexed, and matched
    by the planner only when written the same way."""
    return f"COALESCE({alias}valid_to, 2147483647)"


# One row per ledger position: the chain hash there (projections/reads/audit_chain.py).
CREATE_AUDIT_CHAIN = (
    "CREATE TABLE IF NOT EXISTS audit_chain ("
    " position BIGINT PRIMARY KEY,"
    " previous_position BIGINT NOT NULL,"
    " hash BLOB NOT NULL)",
)

TABLES = (
    "tracking",
    "positions",
    "standards",
    "subjects",
    "subject_persons",
    "segments",
    "audit_chain",
    "periods",
    "payroll_items",
    "relief_reviews",
    "approvals",
    "payees",
    "payment_returns",
    "household_reviews",
    "verification_requests",
)

CREATE = (
    "CREATE TABLE IF NOT EXISTS tracking (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS positions ("
    " position BIGINT PRIMARY KEY, recorded_at_us BIGINT NOT NULL,"
    " originator_id TEXT NOT NULL, originator_version BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS positions_by_originator"
    " ON positions (originator_id, originator_version)",
    "CREATE INDEX IF NOT EXISTS positions_by_time ON positions (recorded_at_us)",
    "CREATE TABLE IF NOT EXISTS standards ("
    " programme TEXT NOT NULL, region TEXT NOT NULL, effective INTEGER NOT NULL,"
    " parameters TEXT NOT NULL, known_from BIGINT NOT NULL, known_to BIGINT)",
    "CREATE INDEX IF NOT EXISTS standards_by_schedule ON standards (programme, region, effective)",
    "CREATE TABLE IF NOT EXISTS subjects ("
    " subject_id TEXT PRIMARY KEY, programme TEXT NOT NULL, region TEXT NOT NULL,"
    " state TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS subjects_by_schedule ON subjects (region, programme)",
    # The persons of a case or relief over valid time (a household's members join and
    # leave) and record time; ordinal 0 is the applicant.
    "CREATE TABLE IF NOT EXISTS subject_persons ("
    " subject_id TEXT NOT NULL, person_ref TEXT NOT NULL, ordinal INTEGER NOT NULL,"
    " valid_from INTEGER NOT NULL, valid_to INTEGER,"
    " known_from BIGINT NOT NULL, known_to BIGINT,"
    " PRIMARY KEY (person_ref, subject_id, valid_from, known_from))",
    "CREATE INDEX IF NOT EXISTS subject_persons_by_subject"
    " ON subject_persons (subject_id, person_ref) WHERE known_to IS NULL",
    "CREATE TABLE IF NOT EXISTS segments ("
    " subject_id TEXT NOT NULL, programme TEXT NOT NULL, region TEXT NOT NULL,"
    " valid_from INTEGER NOT NULL, valid_to INTEGER, amount_fen BIGINT NOT NULL,"
    " status TEXT NOT NULL, known_from BIGINT NOT NULL, known_to BIGINT)",
    "CREATE INDEX IF NOT EXISTS segments_by_roll ON segments (programme, region, valid_from)",
    "CREATE INDEX IF NOT EXISTS segments_by_subject ON segments (subject_id, valid_from)",
    "CREATE INDEX IF NOT EXISTS segments_by_known_from ON segments (programme, region, known_from)",
    "CREATE INDEX IF NOT EXISTS segments_known_now_by_start"
    " ON segments (valid_from) WHERE known_to IS NULL",
    # The rows known now that a month falls in: few end after a month, while every row
    # of a region's history begins before its late months.
    "CREATE INDEX IF NOT EXISTS segments_now_by_end"
    f" ON segments (programme, region, {valid_until()}, valid_from) WHERE known_to IS NULL",
    "CREATE INDEX IF NOT EXISTS segments_superseded"
    " ON segments (programme, region, known_to, valid_from) WHERE known_to IS NOT NULL",
    *CREATE_AUDIT_CHAIN,
    # A closed period, as its close recorded it and as the projection recomputed it from
    # these views: the digest of its lines, and the sum of what they pay as their own
    # amounts (the month's "paid" in its balance).
    "CREATE TABLE IF NOT EXISTS periods ("
    " programme TEXT NOT NULL, region TEXT NOT NULL, month INTEGER NOT NULL,"
    " position BIGINT NOT NULL, closed_at BIGINT NOT NULL, line_count INTEGER NOT NULL,"
    " month_total_fen BIGINT NOT NULL, arrears_fen BIGINT NOT NULL,"
    " recoveries_fen BIGINT NOT NULL, digest TEXT NOT NULL, recomputed_digest TEXT NOT NULL,"
    " own_amounts_fen BIGINT NOT NULL, PRIMARY KEY (programme, region, month))",
    # What a closed period's lines hold beside their own amounts: arrears, recoveries, and
    # what a line held after a bank's return (its own amount and arrears). The own amounts
    # are the segments known at the period's position in its month, derived where they are
    # read (projections/reads/payroll_lines.py, ``period_items``).
    "CREATE TABLE IF NOT EXISTS payroll_items ("
    " programme TEXT NOT NULL, region TEXT NOT NULL, period INTEGER NOT NULL,"
    " subject_id TEXT NOT NULL, corrected_month INTEGER NOT NULL,"
    " kind TEXT NOT NULL CHECK (kind IN ('arrears', 'recovery', 'held')),"
    " amount_fen BIGINT NOT NULL,"
    " PRIMARY KEY (programme, region, period, subject_id, corrected_month, kind))",
    "CREATE TABLE IF NOT EXISTS relief_reviews ("
    " relief_id TEXT PRIMARY KEY, region TEXT NOT NULL, relief_date TEXT NOT NULL,"
    " due TEXT NOT NULL, known_from BIGINT NOT NULL, reviewed_at BIGINT, outcome TEXT)",
    # Requests waiting for a second person: a relief above its cap, a rescission.
    "CREATE TABLE IF NOT EXISTS approvals ("
    " subject_id TEXT NOT NULL, what TEXT NOT NULL, programme TEXT NOT NULL,"
    " region TEXT NOT NULL, requested_by TEXT NOT NULL, requested_at TEXT NOT NULL,"
    " reason TEXT NOT NULL, amount_fen BIGINT, cap_fen BIGINT,"
    " known_from BIGINT NOT NULL, known_to BIGINT, PRIMARY KEY (subject_id, known_from))",
    "CREATE INDEX IF NOT EXISTS approvals_by_request ON approvals (known_from)",
    # Each verification of a dibao or tekun case, as the case cites it or as a review of it
    # records it (a grant from before verifications: made_on NULL, due from its month): when
    # the next review is due (a month index) and whether the income verified is at or above
    # the standard.
    "CREATE TABLE IF NOT EXISTS household_reviews ("
    " case_id TEXT NOT NULL, verification_id TEXT, made_on TEXT, due INTEGER NOT NULL,"
    " at_or_above INTEGER NOT NULL, known_from BIGINT NOT NULL,"
    " PRIMARY KEY (case_id, known_from))",
    # Verifications requested of the platform, and the position their answer was recorded at.
    "CREATE TABLE IF NOT EXISTS verification_requests ("
    " verification_id TEXT PRIMARY KEY, known_from BIGINT NOT NULL, answered_at BIGINT)",
    "CREATE INDEX IF NOT EXISTS payroll_items_by_month"
    " ON payroll_items (programme, region, corrected_month)",
    # Each payee decision of a case: who is paid (the card number stays in the event).
    "CREATE TABLE IF NOT EXISTS payees ("
    " subject_id TEXT NOT NULL, recipient_ref TEXT NOT NULL, version BIGINT NOT NULL,"
    " known_from BIGINT NOT NULL, PRIMARY KEY (subject_id, known_from))",
    # Each line the bank returned, once.
    "CREATE TABLE IF NOT EXISTS payment_returns ("
    " programme TEXT NOT NULL, region TEXT NOT NULL, period INTEGER NOT NULL,"
    " subject_id TEXT NOT NULL, bank_reference TEXT NOT NULL, reason TEXT NOT NULL,"
    " amount_fen BIGINT NOT NULL, known_from BIGINT NOT NULL,"
    " PRIMARY KEY (programme, region, period, subject_id))",
    "CREATE INDEX IF NOT EXISTS payment_returns_by_subject ON payment_returns (subject_id)",
    # Replaced by the partial indexes above: SQLite took their "known_to IS NULL" for a
    # selective equality and scanned every current row to find a few subjects.
    "DROP INDEX IF EXISTS segments_known_now",
    "DROP INDEX IF EXISTS segments_by_known_to",
)


# Changes whenever a table's definition does. Views are derived, so views of another shape
# (written by an earlier version) are dropped and replayed from the first event rather than
# migrated: a rebuild gives the same rows a live projection would have.
SCHEMA_VERSION = hashlib.sha256("\n".join(CREATE).encode()).hexdigest()[:16]


def create_views(views: ViewDatabase, tracking_name: str) -> None:
    """Create the tables, and the tracking row that projectors lock to take a batch; drop
    views of another schema version first, so that they are replayed."""
    with views.transaction() as cursor:
        if views.dialect == "postgres":
            # Processes opening the views at once (projection workers starting together)
            # would otherwise race on the catalogue rows of the tables they create.
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext('ledger views ' || current_schema()))"
            )
        cursor.execute("CREATE TABLE IF NOT EXISTS views_schema (version TEXT NOT NULL)")
        found = [row[0] for row in cursor.fetchall("SELECT version FROM views_schema")]
        if found != [SCHEMA_VERSION]:
            for table in TABLES:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute("DELETE FROM views_schema")
            cursor.execute("INSERT INTO views_schema (version) VALUES (?)", (SCHEMA_VERSION,))
        if found != [SCHEMA_VERSION] or views.dialect != "postgres":
            # On PostgreSQL, CREATE INDEX IF NOT EXISTS locks its table even when the index
            # is there: against projection workers writing those tables meanwhile, in
            # another order, that deadlocked a worker opening the views of this version.
            for statement in CREATE:
                cursor.execute(statement)
        cursor.execute(
            "INSERT INTO tracking (name, position) VALUES (?, 0) ON CONFLICT (name) DO NOTHING",
            (tracking_name,),
        )


def drop_views(views: ViewDatabase) -> None:
    with views.transaction() as cursor:
        for table in (*TABLES, "views_schema"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def empty_scratch(views: ViewDatabase) -> None:
    """Drop a replay's scratch views, which no other process holds open: on SQLite by
    removing their file (``SQLiteViews.remove_file``)."""
    if not (isinstance(views, SQLiteViews) and views.remove_file()):
        drop_views(views)
