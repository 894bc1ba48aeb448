"""Shared by the benchmarks: the databases a benchmark runs on, each in a child process of its own with a fresh
database (SQLite in a temporary folder, and PostgreSQL when a server answers)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_DIR = Path(__file__).resolve().parent.parent


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


def databases(env_var: str, default_url: str, only: str | None = None) -> list[tuple[str, str | None]]:
    """(label, URL) of each database to run on: SQLite (URL None: a file in the run's folder), and PostgreSQL at
    ``$env_var`` or ``default_url``, made afresh, when a server answers; ``only`` ("sqlite", "postgresql") keeps one."""
    targets: list[tuple[str, str | None]] = [] if only == "postgresql" else [("SQLite", None)]
    if only != "sqlite":
        url = os.environ.get(env_var) or default_url
        problem = recreate_postgres_database(url)
        if problem:
            print(f"PostgreSQL skipped: {problem}\n")
        else:
            targets.append(("PostgreSQL", url))
    return targets


@contextmanager
def database_run(label: str, url: str | None, prefix: str) -> Iterator[tuple[str, dict]]:
    """A temporary data folder for one database: yields the database's URL and the environment of a child process
    running the product's settings on it (DEBUG off)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as data_dir:
        url = url or f"sqlite:///{data_dir}/bench.sqlite3"
        env = {**os.environ, "GRIDGOV_DATA_DIR": data_dir, "GRIDGOV_DATABASE_URL": url,
               "GRIDGOV_TESTING": "1", "GRIDGOV_DEBUG": "0", "DJANGO_SETTINGS_MODULE": "gridgov.settings"}
        print(f"=== {label} === (load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)", flush=True)
        yield url, env
        print(flush=True)


def run_per_database(script: str, child_args: list[str], *, env_var: str, default_url: str, prefix: str,
                     only: str | None = None) -> int:
    """Runs ``script --database URL *child_args`` once per database of ``databases``; 1 if any run failed."""
    failed = 0
    for label, url in databases(env_var, default_url, only):
        with database_run(label, url, prefix) as (url, env):
            command = [sys.executable, script, "--database", url, *child_args]
            failed += subprocess.run(command, env=env, cwd=PROJECT_DIR, check=False).returncode != 0  # noqa: S603
    return 1 if failed else 0
