"""The ingest's statements, each one per batch whatever the number of halls or rows in it: events and ticket rows in
by `COPY` into a temporary staging table and one `INSERT … SELECT … ON CONFLICT`, the halls' positions locked and
moved, the projection's rows loaded by key; and the day rollups recomputed from the ticket rows (CONTRACT §7)."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from region import project, schema

# emptied at every commit (in place: cheaper than a TRUNCATE, which gives a temporary table a new file each time)
STAGING = ("CREATE TEMP TABLE IF NOT EXISTS hallq_stage (hall text, body jsonb) ON COMMIT DELETE ROWS",
           "CREATE TEMP TABLE IF NOT EXISTS hallq_stage_tickets (LIKE hallq_tickets) ON COMMIT DELETE ROWS")

Event = tuple[str, dict[str, Any], str]          # (hall, the event, its JSON text as published)


def create_staging(conn: psycopg.Connection[Any]) -> None:
    for stmt in STAGING:
        conn.execute(stmt)


def insert_events(cur: psycopg.Cursor[Any], events: list[Event]) -> int:
    """The batch's events into hallq_events; one already there (redelivered, backfilled) is left as it is.
    Returns how many rows are new.

    The COPY data is written as one text (hall ids are `[a-z0-9-]`; the JSON is escaped for COPY's text format) and
    PostgreSQL takes log, seq, type and at out of the body it parsed: no Python work per column."""
    with cur.copy("COPY hallq_stage (hall, body) FROM STDIN") as cp:
        cp.write("".join([f"{hall}\t{_copy_text(text)}\n" for hall, _ev, text in events]))
    cur.execute("INSERT INTO hallq_events (hall, log, seq, type, at, body) SELECT hall, body->>'log', "
                "(body->>'seq')::bigint, body->>'type', (body->>'at')::timestamptz, body FROM hallq_stage "
                "ON CONFLICT DO NOTHING")
    return max(cur.rowcount, 0)


def lock_positions(cur: psycopg.Cursor[Any], halls: list[str]) -> dict[str, tuple[str | None, int]]:
    """Each hall's position (log, seq), its row made when missing and locked until the commit (in hall order, so
    two ingests sharing the halls cannot deadlock)."""
    cur.execute("INSERT INTO hallq_ingest_state (hall) SELECT h FROM unnest(%s::text[]) AS h ORDER BY h "
                "ON CONFLICT (hall) DO UPDATE SET hall = excluded.hall RETURNING hall, log, seq", (sorted(halls),))
    return {h: (lg, int(seq)) for h, lg, seq in cur.fetchall()}


def move_positions(cur: psycopg.Cursor[Any], moved: dict[str, tuple[str | None, int]]) -> None:
    if moved:
        halls = sorted(moved)
        cur.execute("UPDATE hallq_ingest_state s SET log = m.log, seq = m.seq, updated_at = now() FROM "
                    "unnest(%s::text[], %s::text[], %s::bigint[]) AS m(hall, log, seq) WHERE s.hall = m.hall",
                    (halls, [moved[h][0] for h in halls], [moved[h][1] for h in halls]))


def load(cur: psycopg.Cursor[Any], runs: dict[str, list[dict[str, Any]]]) -> project.Changes:
    """The rows the runs of events (hall -> its events in seq order) touch, as they are before them."""
    ch = project.Changes()
    keys = [(hall, d, n) for hall, run in runs.items() for d, n in project.ticket_keys(run)]
    if keys:
        cur.execute(f"SELECT {_cols(project.TICKET_COLS, 't.')} FROM unnest(%s::text[], %s::date[], "  # noqa: S608
                    "%s::text[]) AS k(hall, day, number) JOIN hallq_tickets t USING (hall, day, number)",
                    ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]))
        for r in cur.fetchall():
            ch.tickets[(r[0], r[1], r[2])] = dict(zip(project.TICKET_COLS, r, strict=True))
    for table, cols, ids, into in (("hallq_alerts", project.ALERT_COLS, project.alert_ids, ch.alerts),
                                   ("hallq_workorders", project.ORDER_COLS, project.order_ids, ch.orders)):
        pairs = [(hall, i) for hall, run in runs.items() for i in sorted(ids(run))]
        if pairs:
            cur.execute(f"SELECT {_cols(cols, 't.')} FROM unnest(%s::text[], %s::text[]) AS k(hall, id) "  # noqa: S608
                        f"JOIN {table} t USING (hall, id)", ([p[0] for p in pairs], [p[1] for p in pairs]))
            for r in cur.fetchall():
                into[(r[0], r[1])] = dict(zip(cols, r, strict=True))
    return ch


def save(cur: psycopg.Cursor[Any], ch: project.Changes) -> None:
    """The changed rows back, and their days marked for the rollups (recomputed from the rows at most 2x a second)."""
    if ch.tickets:
        with cur.copy(f"COPY hallq_stage_tickets ({_cols(project.TICKET_COLS)}) FROM STDIN") as cp:  # noqa: S608
            for t in ch.tickets.values():
                cp.write_row(tuple(t[c] for c in project.TICKET_COLS))
        cur.execute(f"INSERT INTO hallq_tickets ({_cols(project.TICKET_COLS)}) SELECT "  # noqa: S608
                    f"{_cols(project.TICKET_COLS)} FROM hallq_stage_tickets ON CONFLICT (hall, day, number) "
                    f"DO UPDATE SET {_sets(project.TICKET_COLS[3:])}")
    _upsert(cur, "hallq_alerts", project.ALERT_COLS, 2, list(ch.alerts.values()))
    _upsert(cur, "hallq_workorders", project.ORDER_COLS, 2,
            [{**o, "history": Jsonb(o["history"]), "forwarded": Jsonb(o["forwarded"]) if o["forwarded"] else None}
             for o in ch.orders.values()])
    if ch.days:
        days: list[tuple[str, date]] = sorted(ch.days)
        # DO UPDATE, not DO NOTHING: it locks a mark that exists, so a rollup taking that mark meanwhile either
        # waits for this batch's commit (and then sees its rows) or has taken it before (and this batch inserts
        # it again); DO NOTHING let a rollup remove the mark while computing without this batch's uncommitted rows
        cur.execute("INSERT INTO hallq_rollup_dirty (hall, day) SELECT * FROM unnest(%s::text[], %s::date[]) "
                    "ON CONFLICT (hall, day) DO UPDATE SET day = excluded.day",
                    ([h for h, _d in days], [d for _h, d in days]))


def rollups(conn: psycopg.Connection[Any]) -> int:
    """Recompute the day rollups marked dirty, a hall at a time, each in one transaction (a crash leaves its marks
    for the next run; a batch marking one of its days meanwhile waits for that hall only). Returns the days done."""
    done = 0
    for (hall,) in conn.execute("SELECT DISTINCT hall FROM hallq_rollup_dirty ORDER BY hall").fetchall():
        with conn.transaction(), conn.cursor() as cur:
            days = [d for (d,) in cur.execute(   # the marks locked in day order, as batches lock them (no deadlock)
                "DELETE FROM hallq_rollup_dirty WHERE (hall, day) IN (SELECT hall, day FROM hallq_rollup_dirty "
                "WHERE hall = %s ORDER BY day FOR UPDATE) RETURNING day", (hall,)).fetchall()]
            if days:
                cur.execute("DELETE FROM hallq_rollup_day WHERE hall = %s AND day = ANY(%s)", (hall, days))
                cur.execute(schema.ROLLUP, {"hall": hall, "days": days})
                cur.execute(schema.ROLLUP_ALERTS, {"hall": hall, "days": days})
        done += len(days)
    return done


def _copy_text(s: str) -> str:
    """`s` as a column of COPY's text format: backslash, newline, carriage return and tab escaped."""
    if "\\" in s:
        s = s.replace("\\", "\\\\")
    if "\n" in s or "\r" in s or "\t" in s:
        s = s.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return s


def _cols(cols: tuple[str, ...], prefix: str = "") -> str:
    return ", ".join(f'{prefix}"{c}"' for c in cols)


def _sets(cols: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}" = excluded."{c}"' for c in cols)


def _upsert(cur: psycopg.Cursor[Any], table: str, cols: tuple[str, ...], nkey: int, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    sql = (f"INSERT INTO {table} ({_cols(cols)}) VALUES ({', '.join(['%s'] * len(cols))}) "  # noqa: S608
           f"ON CONFLICT ({_cols(cols[:nkey])}) DO UPDATE SET {_sets(cols[nkey:])}")
    cur.executemany(sql, [tuple(r[c] for c in cols) for r in rows])
