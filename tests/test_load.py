"""Loading staged parts into the staging_layer delta tables (real PostgreSQL, local and S3 staging)."""

from __future__ import annotations

import gzip
from datetime import datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from olist_etl.db import warehouse_engine
from olist_etl.staging import LocalStaging, open_staging, read_json
from olist_etl import load as load_module
from olist_etl.load import LoadError, create_warehouse, load_table, write_copy_manifest
from olist_etl.manifest import Part
from tests.support.services import make_settings
from tests.support.tables import table_checksums
from tests.support.warehouse import hexid, stage_run

T0 = datetime(2018, 3, 1, 10, 0, 0)

# Every kind of text that has to survive CSV + COPY byte for byte.
TRICKY_CITIES = [
    'say "hi", then leave',
    "first line\nsecond line",
    "são paulo — açaí, ñandú",
    "emoji 🛒📦✅ and 𝄞",
    "tab\there, back\\slash, quote ' and ;",
    "trailing CR\r\nand LF",
    "  leading and trailing spaces  ",
]

pytestmark = pytest.mark.integration


def delta_tables(checksums: dict) -> dict:
    return {name: value for name, value in checksums.items() if not name.startswith("landing_")}


def _customers(cities: list[str]) -> list[tuple]:
    return [(hexid(i, "c"), hexid(i, "u"), "01310", city, "SP", T0) for i, city in enumerate(cities)]


def _fetch(engine, sql: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def test_text_round_trips_byte_for_byte(warehouse):
    # Arrange
    settings, engine, area = warehouse
    manifest = stage_run(area, "r1", {"customers": _customers(TRICKY_CITIES)})

    # Act
    loaded = load_table(settings, manifest, "customers")

    # Assert
    assert loaded == len(TRICKY_CITIES)
    got = _fetch(engine, "select customer_city from staging_layer.customers order by customer_id")
    assert [r[0] for r in got] == TRICKY_CITIES
    assert all(r[0].encode() == c.encode() for r, c in zip(got, TRICKY_CITIES))


def test_utf8_split_across_copy_chunks_still_loads(warehouse, monkeypatch):
    # Arrange: 7-byte chunks cut multi-byte characters (accents, emoji) in half between writes.
    settings, engine, area = warehouse
    monkeypatch.setattr(load_module, "COPY_CHUNK_BYTES", 7)
    manifest = stage_run(area, "r1", {"customers": _customers(TRICKY_CITIES)})

    # Act
    load_table(settings, manifest, "customers")

    # Assert
    got = _fetch(engine, "select customer_city from staging_layer.customers order by customer_id")
    assert [r[0] for r in got] == TRICKY_CITIES


def test_types_nulls_money_and_floats_round_trip(warehouse):
    # Arrange
    settings, engine, area = warehouse
    items = [
        (hexid(1, "o"), 1, hexid(1, "p"), hexid(1, "s"), datetime(2018, 3, 2, 1, 2, 3, 456789), Decimal("12.30"), Decimal("0.05"), T0),
        (hexid(2, "o"), 1, hexid(2, "p"), hexid(2, "s"), None, None, Decimal("1234567890.99"), T0),
    ]
    points = [(7, "01310", -23.550519999999999, -46.633308, "são paulo", "SP", T0)]
    manifest = stage_run(area, "r1", {"order_items": items, "geolocation": points})

    # Act
    load_table(settings, manifest, "order_items")
    load_table(settings, manifest, "geolocation")

    # Assert
    got = _fetch(engine, "select shipping_limit_date, price, freight_value from staging_layer.order_items order by order_id")
    assert got == [
        (datetime(2018, 3, 2, 1, 2, 3, 456789), Decimal("12.30"), Decimal("0.05")),
        (None, None, Decimal("1234567890.99")),
    ]
    lat, lng = _fetch(engine, "select geolocation_lat, geolocation_lng from staging_layer.geolocation")[0]
    assert (lat, lng) == (-23.550519999999999, -46.633308)


def test_multi_part_load_replaces_the_previous_delta(warehouse):
    # Arrange: an earlier run already loaded 3 rows.
    settings, engine, area = warehouse
    load_table(settings, stage_run(area, "r0", {"customers": _customers(["a", "b", "c"])}), "customers")
    manifest = stage_run(area, "r1", {"customers": _customers([f"city {i}" for i in range(25)])}, part_rows=10)

    # Act
    loaded = load_table(settings, manifest, "customers")

    # Assert
    assert len(manifest.tables["customers"].parts) == 3
    assert loaded == 25
    assert _fetch(engine, "select count(*) from staging_layer.customers") == [(25,)]


def test_empty_incremental_table_empties_the_delta(warehouse):
    # Arrange
    settings, engine, area = warehouse
    load_table(settings, stage_run(area, "r0", {"customers": _customers(["a"])}), "customers")
    manifest = stage_run(area, "r1", {})

    # Act
    loaded = load_table(settings, manifest, "customers")

    # Assert
    assert loaded == 0
    assert _fetch(engine, "select count(*) from staging_layer.customers") == [(0,)]


def test_bad_value_names_table_part_line_column_and_value_and_changes_nothing(warehouse):
    # Arrange: a good run is loaded; the next run's second part has a bad timestamp on its line 3.
    settings, engine, area = warehouse
    good = [(hexid(i, "o"), hexid(i, "c"), "delivered", T0, None, None, None, T0, T0) for i in range(4)]
    load_table(settings, stage_run(area, "r0", {"orders": good}), "orders")
    before = table_checksums(engine, "staging_layer")
    rows = list(good)
    rows[3] = (hexid(3, "o"), hexid(3, "c"), "delivered", "not-a-date", None, None, None, T0, T0)
    manifest = stage_run(area, "r1", {"orders": rows}, part_rows=2)
    bad_key = manifest.tables["orders"].parts[1].key

    # Act
    with pytest.raises(LoadError) as caught:
        load_table(settings, manifest, "orders")

    # Assert
    message = str(caught.value)
    for expected in ("staging_layer.orders", bad_key, "line 3", "order_purchase_timestamp", "not-a-date"):
        assert expected in message, (expected, message)
    # The delta tables are untouched (the landing tables hold the refused run's text, by design).
    assert delta_tables(table_checksums(engine, "staging_layer")) == delta_tables(before)


def test_row_count_mismatch_names_both_counts_and_changes_nothing(warehouse):
    # Arrange: the manifest claims more rows than the part holds.
    settings, engine, area = warehouse
    load_table(settings, stage_run(area, "r0", {"customers": _customers(["a"])}), "customers")
    before = table_checksums(engine, "staging_layer")
    manifest = stage_run(area, "r1", {"customers": _customers(["x", "y"])})
    manifest.tables["customers"].rows = 3
    manifest.tables["customers"].parts[0].rows = 3

    # Act
    with pytest.raises(LoadError) as caught:
        load_table(settings, manifest, "customers")

    # Assert
    assert "customers" in str(caught.value) and "2" in str(caught.value) and "3" in str(caught.value)
    assert table_checksums(engine, "staging_layer") == before


def test_manifest_columns_must_match_the_catalog(warehouse):
    # Arrange
    settings, engine, area = warehouse
    manifest = stage_run(area, "r1", {"customers": _customers(["a"])})
    manifest.tables["customers"].columns = ["customer_id", "customer_city"]

    # Act / Assert
    with pytest.raises(LoadError, match="differ from the catalog"):
        load_table(settings, manifest, "customers")


def test_header_that_differs_from_the_columns_is_refused(warehouse):
    # Arrange: a part whose header swaps two columns (a layout the manifest does not describe).
    settings, engine, area = warehouse
    manifest = stage_run(area, "r1", {"customers": _customers(["a"])})
    key = manifest.tables["customers"].parts[0].key
    with area.reader(key) as src:
        text = gzip.decompress(src.read()).decode()
    header, rest = text.split("\n", 1)
    names = header.split(",")
    names[3], names[4] = names[4], names[3]
    with area.writer(key) as out:
        out.write(gzip.compress((",".join(names) + "\n" + rest).encode()))

    # Act
    with pytest.raises(LoadError) as caught:
        load_table(settings, manifest, "customers")

    # Assert
    assert "customers" in str(caught.value) and key in str(caught.value)
    assert _fetch(engine, "select count(*) from staging_layer.customers") == [(0,)]


def test_unknown_table_is_refused(warehouse):
    settings, engine, area = warehouse
    manifest = stage_run(area, "r1", {})
    with pytest.raises(KeyError, match="unknown Olist table"):
        load_table(settings, manifest, "orders; drop table x")


def test_load_from_s3_staging(postgres_url, olist_home, s3_staging_url):
    # Arrange
    settings = make_settings(olist_home, source_url="sqlite://", warehouse_url=postgres_url, staging_url=s3_staging_url)
    create_warehouse(settings)
    area = open_staging(s3_staging_url)
    manifest = stage_run(area, "r1", {"customers": _customers(TRICKY_CITIES)}, part_rows=3)

    # Act
    loaded = load_table(settings, manifest, "customers")

    # Assert
    engine = warehouse_engine(settings)
    try:
        assert loaded == len(TRICKY_CITIES)
        got = _fetch(engine, "select customer_city from staging_layer.customers order by customer_id")
        assert [r[0] for r in got] == TRICKY_CITIES
    finally:
        engine.dispose()


def test_write_copy_manifest_lists_every_part_with_its_size(s3_staging_url):
    # Arrange
    area = open_staging(s3_staging_url)
    manifest = stage_run(area, "r1", {"customers": _customers(["a", "b", "c"])}, part_rows=2)

    # Act
    uri = write_copy_manifest(area, manifest, "customers")

    # Assert
    assert uri == area.uri("runs/r1/customers/copy.manifest")
    document = read_json(area, "runs/r1/customers/copy.manifest")
    parts = manifest.tables["customers"].parts
    assert document == {
        "entries": [
            {"url": area.uri(p.key), "mandatory": True, "meta": {"content_length": p.bytes}} for p in parts
        ]
    }
    assert all(e["url"].startswith("s3://") for e in document["entries"])


def test_redshift_load_without_iam_role_is_refused_before_connecting(olist_home, tmp_path):
    # Arrange: the host does not exist, so reaching the network would fail differently.
    settings = make_settings(
        olist_home,
        source_url="sqlite://",
        warehouse_url="redshift://user:pw@nowhere.invalid:5439/dev",
        staging_url=(tmp_path / "staging").as_uri(),
    )
    manifest = stage_run(LocalStaging(tmp_path / "staging"), "r1", {"customers": _customers(["a"])})

    # Act / Assert
    with pytest.raises(LoadError, match="IAM role"):
        load_table(settings, manifest, "customers")


class _CopyFailing:
    """A cursor whose COPY fails with `error` as the first chunk is written."""

    def __init__(self, error: Exception):
        self.error = error

    def copy(self, sql):
        error = self.error

        class _Copy:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def write(self, chunk):
                raise error

        return _Copy()


def _one_part(tmp_path):
    area = LocalStaging(tmp_path)
    with area.writer("p.csv.gz") as out:
        out.write(gzip.compress(b"order_id\nabc\n"))
    return area, Part(key="p.csv.gz", rows=1, bytes=0)


def test_a_dropped_connection_mid_copy_stays_retryable_and_bad_data_does_not(tmp_path):
    import psycopg

    from olist_etl.retrying import is_permanent

    # Arrange
    area, part = _one_part(tmp_path)

    # Act / Assert: a terminated backend is I/O (the task retries it), a bad value is not.
    with pytest.raises(psycopg.OperationalError) as dropped:
        load_module._copy_part(_CopyFailing(psycopg.OperationalError("terminating connection")), area, "copy", "orders", part)
    assert not is_permanent(dropped.value)
    with pytest.raises(LoadError) as bad:
        load_module._copy_part(_CopyFailing(psycopg.errors.InvalidDatetimeFormat("bad timestamp")), area, "copy", "orders", part)
    assert is_permanent(bad.value) and "staging_layer.orders" in str(bad.value)
