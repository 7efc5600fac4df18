"""PostgreSQL's counterpart of SQLite's ``PRAGMA foreign_key_check`` for ``elo db check``.

PostgreSQL enforces every foreign key itself, but a row can still dangle after a session ran
with the checks off (``session_replication_role = replica``, as restore tools do, or a trigger
disabled by hand). This reads each single-column foreign key of the public schema from the
catalogue and counts the child rows whose parent is missing, in SQLite's wording.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

# Each foreign key: child table, its column, parent table, the parent's column.
_FOREIGN_KEYS = """
SELECT c.conrelid::regclass::text, ca.attname, c.confrelid::regclass::text, pa.attname
FROM pg_constraint c
JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = c.conkey[1]
JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1]
WHERE c.contype = 'f' AND cardinality(c.conkey) = 1
  AND c.connamespace = 'public'::regnamespace
ORDER BY 1, 2
"""


async def pg_foreign_key_problems(conn: Any) -> list[str]:
    """One line per (table, parent) with rows that refer to a missing parent row.

    Args:
        conn: The database's PostgreSQL connection.

    Returns:
        ``N row(s) of TABLE refer to a missing PARENT row (ids ...)``, ids being the child's
        ``id`` column when it has one (the row's position otherwise).
    """
    found: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for child, column, parent, key in await conn.execute_fetchall(_FOREIGN_KEYS):
        has_id = await conn.execute_fetchall(
            "SELECT 1 FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = ? AND column_name = 'id'",
            (child,),
        )
        ident = "c.id" if has_id else "c.ctid::text"
        # Names come from the catalogue, quoted as identifiers; nothing here is user input.
        rows = await conn.execute_fetchall(
            f'SELECT {ident} FROM "{child}" c WHERE c."{column}" IS NOT NULL'  # noqa: S608
            f' AND NOT EXISTS (SELECT 1 FROM "{parent}" p WHERE p."{key}" = c."{column}")'
            " ORDER BY 1"
        )
        found[(child, parent)].extend(row[0] for row in rows)
    return [
        f"{len(ids)} row(s) of {table} refer to a missing {parent} row"
        f" (rowids {', '.join(str(i) for i in ids[:10])}{', ...' if len(ids) > 10 else ''})"
        for (table, parent), ids in sorted(found.items())
        if ids
    ]
