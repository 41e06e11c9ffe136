"""The staging area (local folder and S3 on a moto server) and the CSV part writer."""

from __future__ import annotations

import csv
import gzip
import io

import pytest

from olist_etl.staging import LocalStaging, S3Staging, open_staging, read_json, write_json
from olist_etl.manifest import new_run_id
from olist_etl.stage import NULL_MARKER, PartWriter

TRICKY_TEXT = 'Ótimo, "chegou" rápido\nrecomendo 👍, obrigado'


def read_part(area, key) -> list[list[str]]:
    with area.reader(key) as raw:
        return list(csv.reader(io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8", newline="")))


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.integration)])
def area(request, tmp_path):
    if request.param == "file":
        return open_staging((tmp_path / "staging").as_uri())
    return open_staging(request.getfixturevalue("s3_staging_url"))


@pytest.mark.integration
def test_open_staging_picks_the_backend(tmp_path, s3_staging_url):
    assert isinstance(open_staging(tmp_path.as_uri()), LocalStaging)
    s3 = open_staging(s3_staging_url)
    assert isinstance(s3, S3Staging)
    assert s3.uri("runs/x/manifest.json") == s3_staging_url + "/runs/x/manifest.json"


def test_open_staging_refuses_unknown_schemes():
    with pytest.raises(ValueError, match="unsupported staging URL"):
        open_staging("ftp://example/staging")
    with pytest.raises(ValueError, match="names no bucket"):
        open_staging("s3:///prefix")


def test_json_round_trip_and_listing(area):
    write_json(area, "runs/r1/manifest.json", {"run_id": "r1", "n": 3})
    write_json(area, "runs/r2/manifest.json", {"run_id": "r2"})
    assert read_json(area, "runs/r1/manifest.json") == {"run_id": "r1", "n": 3}
    assert area.list("runs/r1/") == ["runs/r1/manifest.json"]
    assert area.exists("runs/r2/manifest.json")
    assert not area.exists("runs/r3/manifest.json")


def test_local_keys_cannot_escape_the_folder(tmp_path):
    area = open_staging((tmp_path / "staging").as_uri())
    with pytest.raises(ValueError, match="escapes"):
        with area.writer("../outside.txt") as out:
            out.write(b"x")


def test_part_writer_splits_rows_and_keeps_text_byte_for_byte(area):
    rows = [("id%02d" % i, TRICKY_TEXT if i == 3 else None, i * 1.5) for i in range(7)]
    writer = PartWriter(area, "run-1", "orders", ["order_id", "comment", "amount"], part_rows=3)
    writer.write_batch(rows[:5])
    writer.write_batch(rows[5:])
    parts = writer.close()

    assert [p.rows for p in parts] == [3, 3, 1]
    assert [p.key for p in parts] == [f"runs/run-1/orders/part-0000{i}.csv.gz" for i in range(3)]
    first = read_part(area, parts[0].key)
    assert first[0] == ["order_id", "comment", "amount"]
    assert first[1] == ["id00", NULL_MARKER, "0.0"]  # NULL is the unquoted marker
    second = read_part(area, parts[1].key)
    assert second[1][1] == TRICKY_TEXT
    assert all(p.bytes > 0 for p in parts)


def test_part_writer_with_no_rows_writes_no_part(area):
    writer = PartWriter(area, "run-2", "orders", ["order_id"], part_rows=10)
    assert writer.close() == []
    assert area.list("runs/run-2/") == []


def test_part_writer_rejects_a_zero_part_size(area):
    with pytest.raises(ValueError, match="part_rows"):
        PartWriter(area, "run-3", "orders", ["order_id"], part_rows=0)


def test_run_ids_are_unique_and_sortable():
    ids = [new_run_id() for _ in range(50)]
    assert len(set(ids)) == 50
    assert all(len(i.split("-")[0]) == 16 for i in ids)


def test_an_aborted_part_leaves_no_file_and_closed_parts_stay(tmp_path):
    # Arrange: two full parts written, a third one open when the extract fails.
    area = open_staging(tmp_path.as_uri())
    writer = PartWriter(area, "run-4", "orders", ["order_id"], part_rows=2)
    writer.write_batch([("a",), ("b",), ("c",), ("d",), ("e",)])

    # Act
    writer.abort()

    # Assert: the complete parts are there; neither the open part nor a temporary file is.
    assert area.list("runs/run-4") == ["runs/run-4/orders/part-00000.csv.gz", "runs/run-4/orders/part-00001.csv.gz"]
    assert not list(tmp_path.rglob("*.partial"))
