"""Shared by the benchmarks: a fresh PostgreSQL database per run."""

from urllib.parse import urlsplit, urlunsplit


def recreate_postgres_database(url: str) -> str:
    """Drops and creates the benchmark database; returns why not, or '' when done."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.isidentifier():
        return f"unexpected database name {name!r}"
    maintenance = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    try:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return ""
