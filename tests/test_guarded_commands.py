"""seed-source and simulate-changes never destroy or change data unasked (issue 14, item 1).

seed-source refuses a database holding any table unless --replace; simulate-changes refuses one
without the seed marker that seed-source writes unless --yes. A refusal is one line naming the
database (password masked) and the tables, exit 1, and changes nothing; the demo re-seeds only its
own SQLite file or what seed-source wrote.
"""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from olist_etl.app.cli import main
from olist_etl.app.demo import demo_source_refusal, uses_own_sqlite
from olist_etl.settings import mask_url
from olist_etl.source.schema import SEED_MARKER, existing_tables, name_some, read_seed_marker
from olist_etl.tables import TABLE_NAMES
from tests.support.services import MARIADB_ADMIN_URL, make_settings, unique_name

pytestmark = pytest.mark.integration

SCALE = "0.002"
PASSWORD = "guard-sekret-9"
UNRELATED = "crm_notes"


@pytest.fixture(params=["sqlite", "mysql"])
def source_url(request, tmp_path, olist_home, monkeypatch):
    """An empty source database (SQLite, or MariaDB reached by a user with a password), set as
    OLIST_SOURCE_URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
        user = None
    else:
        database = sa.engine.make_url(request.getfixturevalue("mariadb_url")).database
        user = unique_name("guard")[:30]
        admin = sa.create_engine(MARIADB_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"create user '{user}'@'%' identified by '{PASSWORD}'"))
            conn.execute(sa.text(f"grant all on `{database}`.* to '{user}'@'%'"))
        url = f"mysql+pymysql://{user}:{PASSWORD}@127.0.0.1:3306/{database}"
    monkeypatch.setenv("OLIST_HOME", str(olist_home))
    monkeypatch.setenv("OLIST_SOURCE_URL", url)
    yield url
    if user:
        with admin.connect() as conn:
            conn.execute(sa.text(f"drop user if exists '{user}'@'%'"))
        admin.dispose()


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def checksums(url: str) -> dict[str, tuple[int, str]]:
    """Row count and md5 of every table in the database (all columns, updated_at included)."""
    engine = sa.create_engine(url)
    out = {}
    try:
        for table in existing_tables(engine):
            columns = [c["name"] for c in sa.inspect(engine).get_columns(table)]
            query = sa.select(*[sa.column(c) for c in columns]).select_from(sa.table(table)).order_by(*[sa.column(c) for c in columns])
            digest, count = hashlib.md5(), 0
            with engine.connect() as conn:
                for row in conn.execution_options(stream_results=True).execute(query):
                    digest.update(repr(tuple(row)).encode())
                    count += 1
            out[table] = (count, digest.hexdigest())
    finally:
        engine.dispose()
    return out


def add_unrelated_table(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"create table {UNRELATED} (id integer primary key, note varchar(40))"))
        conn.execute(sa.text(f"insert into {UNRELATED} values (1, 'keep me'), (2, 'me too')"))
    engine.dispose()


def count(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        value = conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()
    engine.dispose()
    return value


def assert_one_refusal_line(err: str, url: str, *needles: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert "refused" in line and mask_url(url) in line and "nothing was changed" in line, line
    assert PASSWORD not in line and "Traceback" not in line
    for needle in needles:
        assert needle in line, (needle, line)
    return line


# --- seed-source -------------------------------------------------------------------------------


def test_seed_source_refuses_a_database_with_an_unrelated_table_and_changes_nothing(source_url, capsys):
    # Arrange
    add_unrelated_table(source_url)
    before = checksums(source_url)

    # Act
    code, out, err = cli(capsys, "seed-source", "--scale", SCALE, "--seed", "1")

    # Assert: exit 1, one line naming the database and the table, the table and its rows intact.
    assert code == 1
    assert out == ""
    assert_one_refusal_line(err, source_url, UNRELATED, "--replace")
    assert checksums(source_url) == before
    assert set(before) == {UNRELATED} and before[UNRELATED][0] == 2


def test_seed_source_with_replace_seeds_and_keeps_the_unrelated_table(source_url, capsys):
    # Arrange
    add_unrelated_table(source_url)
    unrelated = checksums(source_url)[UNRELATED]

    # Act
    code, out, err = cli(capsys, "seed-source", "--scale", SCALE, "--seed", "1", "--replace")

    # Assert: seeded, the marker written, the unrelated table untouched, and the output said so.
    assert code == 0, err
    assert f"replacing the source {mask_url(source_url)}" in out and f"keeping {UNRELATED}" in out
    assert PASSWORD not in out + err
    assert count(source_url, "orders") > 0
    assert checksums(source_url)[UNRELATED] == unrelated
    engine = sa.create_engine(source_url)
    marker = read_seed_marker(engine)
    engine.dispose()
    assert marker["source"] == "synthetic" and marker["seed"] == 1 and marker["scale"] == float(SCALE)


def test_an_empty_database_seeds_without_the_flag_and_a_second_seed_is_refused(source_url, capsys):
    # Act: the first seed into an empty database needs no flag.
    code, out, err = cli(capsys, "seed-source", "--scale", SCALE, "--seed", "2")
    assert code == 0, err
    assert "replacing" not in out
    seeded = checksums(source_url)
    assert seeded["orders"][0] > 0 and seeded[SEED_MARKER][0] == 1

    # Act: seeding again over the seeded tables without --replace.
    code, out, err = cli(capsys, "seed-source", "--scale", SCALE, "--seed", "3")

    # Assert: refused, names the Olist tables it would drop, nothing changed.
    assert code == 1 and out == ""
    assert_one_refusal_line(err, source_url, "orders", "order_items", SEED_MARKER)
    assert checksums(source_url) == seeded

    # Act: with --replace the new seed replaces the old one.
    code, out, err = cli(capsys, "seed-source", "--scale", SCALE, "--seed", "3", "--replace")
    assert code == 0, err
    assert "dropping " in out and "orders" in out
    assert checksums(source_url)["orders"] != seeded["orders"]


def test_a_missing_csv_folder_fails_before_anything_is_dropped(source_url, capsys, tmp_path):
    assert cli(capsys, "seed-source", "--scale", SCALE, "--seed", "4")[0] == 0
    before = checksums(source_url)

    code, out, err = cli(capsys, "seed-source", "--from-csv", str(tmp_path / "nowhere"), "--replace")

    assert code == 1
    assert "no such folder" in err and err.strip().count("\n") == 0
    assert checksums(source_url) == before


def test_a_refusal_lists_ten_tables_then_counts_the_rest():
    names = [f"t{i:02d}" for i in range(13)]
    assert name_some(names) == ", ".join(names[:10]) + " and 3 more"
    assert name_some(names[:10]) == ", ".join(names[:10])
    assert name_some(["orders"]) == "orders"


# --- simulate-changes --------------------------------------------------------------------------


def test_simulate_changes_refuses_an_unmarked_database_and_yes_overrides(source_url, capsys):
    # Arrange: Olist tables with rows but no marker (a source seed-source did not fill).
    assert cli(capsys, "seed-source", "--scale", SCALE, "--seed", "5")[0] == 0
    engine = sa.create_engine(source_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"drop table {SEED_MARKER}"))
    engine.dispose()
    before = checksums(source_url)

    # Act
    code, out, err = cli(capsys, "simulate-changes", "--seed", "6")

    # Assert: refused with the reason, every table unchanged.
    assert code == 1 and out == ""
    assert_one_refusal_line(err, source_url, "not seeded by `olist-etl seed-source`", SEED_MARKER, "--yes")
    assert checksums(source_url) == before

    # Act: --yes changes it anyway.
    code, out, err = cli(capsys, "simulate-changes", "--seed", "6", "--yes")

    # Assert
    assert code == 0, err
    assert "--yes given" in out and "source changes:" in out
    after = checksums(source_url)
    assert after["orders"][0] > before["orders"][0]
    assert after["orders"] != before["orders"]


def test_simulate_changes_refuses_an_empty_database(source_url, capsys):
    code, out, err = cli(capsys, "simulate-changes", "--seed", "6")
    assert code == 1 and out == ""
    assert_one_refusal_line(err, source_url, SEED_MARKER)
    assert checksums(source_url) == {}


def test_simulate_changes_runs_on_a_database_seeded_by_seed_source(source_url, capsys):
    assert cli(capsys, "seed-source", "--scale", SCALE, "--seed", "7")[0] == 0
    orders = count(source_url, "orders")

    code, out, err = cli(capsys, "simulate-changes", "--seed", "8")

    assert code == 0, err
    assert "seeded" in out and "synthetic data (scale 0.002, seed 7)" in out
    assert count(source_url, "orders") > orders


def test_the_marker_is_outside_the_catalog():
    # The extract, the source gate and verify iterate the catalog; the marker must never be in it.
    assert SEED_MARKER not in TABLE_NAMES


# --- the demo ----------------------------------------------------------------------------------


def test_the_demo_reseeds_its_own_sqlite_file_whatever_it_holds(olist_home):
    url = f"sqlite:///{olist_home / 'source.sqlite'}"
    add_unrelated_table(url)
    settings = make_settings(olist_home, source_url=url, warehouse_url=None)
    engine = sa.create_engine(url)
    assert uses_own_sqlite(settings)
    assert demo_source_refusal(settings, engine) is None
    engine.dispose()


def test_the_demo_refuses_another_source_unless_seed_source_wrote_it(source_url, olist_home, capsys):
    settings = make_settings(olist_home, source_url=source_url, warehouse_url=None)
    engine = sa.create_engine(source_url)
    assert not uses_own_sqlite(settings)
    # An empty database, then one that seed-source filled: the demo may replace them.
    assert demo_source_refusal(settings, engine) is None
    assert cli(capsys, "seed-source", "--scale", SCALE, "--seed", "9")[0] == 0
    assert demo_source_refusal(settings, engine) is None
    # A table seed-source did not write: refused, naming it.
    add_unrelated_table(source_url)
    refusal = demo_source_refusal(settings, engine)
    assert refusal and UNRELATED in refusal and mask_url(source_url) in refusal and PASSWORD not in refusal
    engine.dispose()


def test_the_demo_command_refuses_a_foreign_database_and_changes_nothing(source_url, capsys):
    add_unrelated_table(source_url)
    before = checksums(source_url)

    code, out, err = cli(capsys, "demo", "--scale", SCALE)

    assert code == 1
    assert UNRELATED in err and "refused" in err and PASSWORD not in out + err
    assert checksums(source_url) == before
