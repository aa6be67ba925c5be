"""The region's PostgreSQL schema (CONTRACT §7): `hallq_events` partitioned by month on `at`, checkpoints, the
ingest's per-hall position, the projection (tickets, alerts, work orders) and the day rollups."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg

LOCK_SCHEMA = 0x68616C6C   # pg_advisory_xact_lock key: one process at a time creates tables and partitions

SCHEMA = """
CREATE TABLE IF NOT EXISTS hallq_events (
    hall text NOT NULL, log text NOT NULL, seq bigint NOT NULL, type text NOT NULL,
    at timestamptz NOT NULL, body jsonb NOT NULL, ingested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (hall, log, seq, at)
) PARTITION BY RANGE (at);
CREATE INDEX IF NOT EXISTS hallq_events_hall_seq ON hallq_events (hall, seq);
CREATE TABLE IF NOT EXISTS hallq_checkpoints (
    hall text NOT NULL, log text NOT NULL, seq bigint NOT NULL, hash text NOT NULL, at timestamptz NOT NULL,
    key text NOT NULL, sig text NOT NULL, verified boolean, UNIQUE (hall, log, seq)
);
CREATE TABLE IF NOT EXISTS hallq_ingest_state (
    hall text PRIMARY KEY, log text, seq bigint NOT NULL DEFAULT 0, updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS hallq_gaps (
    hall text NOT NULL, log text, from_seq bigint NOT NULL, to_seq bigint NOT NULL, noted_at timestamptz NOT NULL
        DEFAULT now(), reason text NOT NULL, PRIMARY KEY (hall, from_seq)
);
CREATE TABLE IF NOT EXISTS hallq_tickets (
    hall text NOT NULL, day date NOT NULL, number text NOT NULL, service text NOT NULL, priority text NOT NULL,
    issued_at timestamptz NOT NULL, called_at timestamptz, resumed_at timestamptz, finished_at timestamptz,
    status text NOT NULL, "window" text, staff text, level int, held boolean NOT NULL, flagged boolean NOT NULL,
    PRIMARY KEY (hall, day, number)
);
CREATE TABLE IF NOT EXISTS hallq_alerts (
    hall text NOT NULL, id text NOT NULL, kind text NOT NULL, message text NOT NULL, at timestamptz NOT NULL,
    day date NOT NULL, "window" text, ticket text, acknowledged_at timestamptz, PRIMARY KEY (hall, id)
);
CREATE INDEX IF NOT EXISTS hallq_alerts_day ON hallq_alerts (hall, day);
CREATE TABLE IF NOT EXISTS hallq_workorders (
    hall text NOT NULL, id text NOT NULL, ticket text NOT NULL, day date NOT NULL, "window" text, staff text,
    unit text, service text NOT NULL, level int NOT NULL, opened_at timestamptz NOT NULL, deadline date NOT NULL,
    state text NOT NULL, fed_back_at timestamptz, forwarded jsonb, history jsonb NOT NULL,
    PRIMARY KEY (hall, id)
);
CREATE TABLE IF NOT EXISTS hallq_rollup_dirty (
    hall text NOT NULL, day date NOT NULL, PRIMARY KEY (hall, day)
);
CREATE TABLE IF NOT EXISTS hallq_rollup_day (
    hall text NOT NULL, day date NOT NULL, dim text NOT NULL, key text NOT NULL,
    issued int NOT NULL DEFAULT 0, served int NOT NULL DEFAULT 0, no_show int NOT NULL DEFAULT 0,
    held int NOT NULL DEFAULT 0, cancelled int NOT NULL DEFAULT 0, green int NOT NULL DEFAULT 0,
    rated int NOT NULL DEFAULT 0, good int NOT NULL DEFAULT 0, bad int NOT NULL DEFAULT 0,
    rated_served int NOT NULL DEFAULT 0, wait_n int NOT NULL DEFAULT 0, wait_sum double precision NOT NULL DEFAULT 0,
    wait_max double precision, wait_p90 double precision,
    alerts_raised int NOT NULL DEFAULT 0, alerts_acknowledged int NOT NULL DEFAULT 0,
    PRIMARY KEY (hall, day, dim, key)
);
"""

# the day's rollups of one hall from its ticket rows (the same groups as `hallq report`: the hall, and per
# service, window and staff); a ticket never called or served has no window or staff and counts in neither
ROLLUP = """
INSERT INTO hallq_rollup_day (hall, day, dim, key, issued, served, no_show, held, cancelled, green, rated, good, bad,
                              rated_served, wait_n, wait_sum, wait_max, wait_p90)
SELECT * FROM (
  SELECT hall, day,
         CASE WHEN GROUPING(service) = 0 THEN 'service' WHEN GROUPING("window") = 0 THEN 'window'
              WHEN GROUPING(staff) = 0 THEN 'staff' ELSE 'hall' END AS dim,
         COALESCE(CASE WHEN GROUPING(service) = 0 THEN service WHEN GROUPING("window") = 0 THEN "window"
                       WHEN GROUPING(staff) = 0 THEN staff ELSE '' END, '\x01') AS key,
         count(*), count(*) FILTER (WHERE status = 'finished'), count(*) FILTER (WHERE status = 'no_show'),
         count(*) FILTER (WHERE held), count(*) FILTER (WHERE status = 'cancelled'),
         count(*) FILTER (WHERE priority = 'green'),
         count(level), count(*) FILTER (WHERE level >= 3), count(*) FILTER (WHERE level <= 2),
         count(*) FILTER (WHERE status = 'finished' AND level IS NOT NULL),
         count(called_at), COALESCE(sum(extract(epoch FROM called_at - issued_at)), 0),
         max(extract(epoch FROM called_at - issued_at)),
         percentile_disc(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM called_at - issued_at))
  FROM hallq_tickets WHERE hall = %(hall)s AND day = ANY(%(days)s)
  GROUP BY GROUPING SETS ((hall, day), (hall, day, service), (hall, day, "window"), (hall, day, staff))
) g WHERE key <> '\x01'
"""

ROLLUP_ALERTS = """
INSERT INTO hallq_rollup_day (hall, day, dim, key, alerts_raised, alerts_acknowledged)
SELECT hall, day, 'hall', '', count(*), count(acknowledged_at) FROM hallq_alerts
WHERE hall = %(hall)s AND day = ANY(%(days)s) GROUP BY hall, day
ON CONFLICT (hall, day, dim, key) DO UPDATE SET alerts_raised = excluded.alerts_raised,
    alerts_acknowledged = excluded.alerts_acknowledged
"""


def month_start(d: date) -> date:
    return d.replace(day=1)


def next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"hallq_events_{month.year:04d}_{month.month:02d}"


def ensure_partition(conn: psycopg.Connection[object], month: date) -> None:
    """The month's partition of hallq_events (UTC month bounds), made under the schema lock."""
    month = month_start(month)
    lo = datetime(month.year, month.month, 1, tzinfo=UTC).isoformat()
    nxt = next_month(month)
    hi = datetime(nxt.year, nxt.month, 1, tzinfo=UTC).isoformat()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_SCHEMA,))
        conn.execute(f"CREATE TABLE IF NOT EXISTS {partition_name(month)} PARTITION OF hallq_events "  # noqa: S608
                     f"FOR VALUES FROM ('{lo}') TO ('{hi}')")


def create(conn: psycopg.Connection[object], months_ahead: int = 2, today: date | None = None) -> None:
    """Tables, indexes and the partitions of this month and `months_ahead` more (idempotent, concurrency-safe)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_SCHEMA,))
        for stmt in SCHEMA.split(";"):
            if stmt.strip():
                conn.execute(stmt)
    m = month_start(today or datetime.now(UTC).date())
    for _ in range(months_ahead + 1):
        ensure_partition(conn, m)
        m = next_month(m)
