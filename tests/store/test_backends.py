"""Choosing the backend from `--db` / TASKLOOM_DB: a path or a sqlite URL opens SQLite; a
PostgreSQL URL is refused with one clear sentence (that backend is not built yet), never a
traceback and never a stray file. On real files, and through the console script."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskloom.config import Settings, resolve_db_value
from taskloom.errors import InvalidInput, Storage
from taskloom.store import backends
from tests.test_cli import refused, taskloom

PLAN = "tasks:\n  - {code: P-1, title: planned}\n"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("team.db", "team.db"),
        ("/srv/t/team.db", "/srv/t/team.db"),
        ("sqlite:///team.db", "team.db"),  # three slashes: relative, as SQLAlchemy reads it
        ("sqlite:////srv/t/team.db", "/srv/t/team.db"),  # four: absolute
        ("SQLite:///team.db", "team.db"),
        ("sqlite://", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
        (":memory:", ":memory:"),
    ],
)
def test_a_path_or_a_sqlite_url_selects_sqlite(value: str, path: str) -> None:
    assert backends.locate(value) == backends.Database("sqlite", path=Path(path))


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("postgresql://ann:s3cret@db.local/team", "postgresql://ann:s3cret@db.local/team"),
        ("postgres://db.local/team", "postgres://db.local/team"),
        # SQLAlchemy's driver suffix, which people paste: libpq does not read it.
        ("postgresql+psycopg://db.local/t", "postgresql://db.local/t"),
    ],
)
def test_a_postgresql_url_selects_postgresql(value: str, url: str) -> None:
    assert backends.locate(value) == backends.Database("postgresql", url=url)


def test_a_url_is_shown_without_its_password() -> None:
    assert backends.shown("postgresql://ann:s3cret@db.local/team") == "postgresql://ann:***@db.local/team"
    settings = Settings(db_url="postgresql://ann:s3cret@db.local/team")
    assert "s3cret" not in backends.label(settings)
    in_query = "postgresql://db.local/team?user=ann&password=s3cret&sslmode=require"
    assert backends.shown(in_query) == "postgresql://db.local/team?user=ann&password=***&sslmode=require"


@pytest.mark.parametrize("url", ["mysql://db.local/team", "sqlite://db.local/team.db"])
def test_a_url_naming_no_sqlite_file_is_refused_with_the_form_to_use(url: str) -> None:
    with pytest.raises(InvalidInput, match="sqlite:///"):
        backends.locate(url)


def test_the_db_value_is_kept_whole_for_a_url() -> None:
    url = "postgresql://db.local/team"
    assert resolve_db_value(url, env={}) == url
    assert resolve_db_value(None, env={"TASKLOOM_DB": url}) == url
    assert resolve_db_value(None, env={}) == ".taskloom/taskloom.db"


async def test_an_unreachable_postgresql_server_is_a_storage_error_naming_it_without_its_password(
    tmp_path: Path,
) -> None:
    # Port 1 on loopback: nothing listens, so every try is refused at once; patience bounds the retries.
    settings = Settings(db_path=tmp_path / "t.db", db_url="postgresql://ann:s3cret@127.0.0.1:1/team", db_patience=0.5)
    with pytest.raises(Storage, match="Cannot reach the PostgreSQL database") as caught:
        await backends.open_store(settings)
    assert "s3cret" not in str(caught.value) and "127.0.0.1:1" in str(caught.value)
    assert "running" in caught.value.hint
    report = backends.examine(settings)
    assert not report.ok and "cannot connect" in report.problems[0]
    assert list(tmp_path.iterdir()) == []


async def test_a_sqlite_url_in_the_settings_opens_that_file(tmp_path: Path) -> None:
    db = tmp_path / "team.db"
    settings = Settings(db_url=f"sqlite:///{db}")  # sqlite:/// + an absolute path: four slashes
    store = await backends.open_store(settings)
    try:
        assert store.backend == "sqlite"
    finally:
        await store.close()
    assert db.exists()
    assert backends.examine(settings).ok


@pytest.mark.parametrize("command", [["status"], ["import", "plan.yml"], ["check"], ["projects"]])
def test_every_command_given_an_unreachable_postgresql_url_says_so_and_leaves_no_file(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "plan.yml").write_text(PLAN, encoding="utf-8")
    url = "postgresql://ann:s3cret@127.0.0.1:1/team"
    env = {"TASKLOOM_PROJECT": "p", "TASKLOOM_DB_PATIENCE": "0.2"}
    for run in (
        taskloom(*command, "--db", url, cwd=tmp_path, env=env),
        taskloom(*command, cwd=tmp_path, env={**env, "TASKLOOM_DB": url}),
    ):
        if command == ["check"]:
            assert run.returncode == 1 and "cannot connect" in run.stdout, run.stdout + run.stderr
        else:
            refused(run, "storage", "Cannot reach the PostgreSQL database", "PostgreSQL is running")
        assert "s3cret" not in run.stderr + run.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["plan.yml"]


def test_the_command_line_takes_a_sqlite_url(tmp_path: Path) -> None:
    (tmp_path / "plan.yml").write_text(PLAN, encoding="utf-8")
    env = {"TASKLOOM_PROJECT": "p"}
    run = taskloom("import", "plan.yml", "--db", "sqlite:///team.db", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "team.db").exists()
    assert "0/1 closed" in taskloom("status", "--db", str(tmp_path / "team.db"), cwd=tmp_path, env=env).stdout
    assert taskloom("check", "--db", "sqlite:///team.db", cwd=tmp_path).returncode == 0
