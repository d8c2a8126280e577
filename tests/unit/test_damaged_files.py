"""Damaged and wrong-type files: a clear message naming the file, never a traceback; limits as settings."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from etl.errors import EtlError, SourceError
from etl.sources import base, cities, distribution, events, mymaps
from etl.sources.base import Limits, use_limits

from .builders import (
    cities_rows,
    distribution_sheets,
    events_sheets,
    kml_text,
    placemark,
    write_csv,
    write_kmz,
    write_xlsx,
)

HTML = b"<!DOCTYPE html>\n<html><head><title>My Maps</title></head><body>sign in</body></html>"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def cut_middle(path: Path) -> None:
    """Remove a run of bytes from the middle of a file, as a broken copy does."""
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[: middle - 200] + data[middle + 200 :])


def member_offset(path: Path, member: str) -> int:
    """Offset of a member's compressed data inside its archive."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    data = path.read_bytes()
    name_length = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_length = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    return info.header_offset + 30 + name_length + extra_length


def overwrite_member(path: Path, member: str, garbage: bytes) -> None:
    """Overwrite the first bytes of one member's data (its CRC then no longer matches)."""
    data = bytearray(path.read_bytes())
    start = member_offset(path, member)
    data[start : start + len(garbage)] = garbage
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("content,found", [(HTML, "HTML"), (PDF, "PDF"), (PNG, "PNG 画像")])
def test_wrong_content_behind_xlsx_is_named(tmp_path, content, found):
    path = tmp_path / distribution.FILE_NAME
    path.write_bytes(content)
    with pytest.raises(SourceError) as error:
        distribution.extract(path)
    assert error.value.file == distribution.FILE_NAME
    assert error.value.message.startswith(f"Excel ファイル (.xlsx)ではありません（中身は {found} です）")


@pytest.mark.parametrize("content,found", [(HTML, "HTML"), (PDF, "PDF"), (PNG, "PNG 画像")])
def test_wrong_content_behind_csv_is_named(tmp_path, content, found):
    path = tmp_path / cities.FILE_NAME
    path.write_bytes(content)
    with pytest.raises(SourceError) as error:
        cities.extract(path)
    assert str(error.value).startswith(f"cities.csv: CSV ファイルではありません（中身は {found} です）")


@pytest.mark.parametrize("name", ["resource_map.kmz", "resource_map.kml"])
def test_html_saved_as_the_map_is_not_kml_rather_than_an_attack(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(HTML)
    with pytest.raises(SourceError) as error:
        mymaps.extract(path)
    assert (
        str(error.value) == f"{name}: KML ではありません（中身は HTML です） (not a KML document: it is an HTML page)"
    )
    assert "安全でない" not in str(error.value)


def test_html_inside_a_kmz_is_not_kml(tmp_path):
    path = write_kmz(tmp_path / "resource_map.kmz", {"doc.kml": HTML})
    with pytest.raises(SourceError) as error:
        mymaps.extract(path)
    assert "KML ではありません（中身は HTML です）" in str(error.value)


def test_a_real_dtd_attack_is_still_unsafe_xml(tmp_path):
    path = tmp_path / "resource_map.kml"
    path.write_text('<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "x">]><kml><Document/></kml>', encoding="utf-8")
    with pytest.raises(SourceError) as error:
        mymaps.extract(path)
    assert "安全でない XML" in str(error.value)


def test_xlsx_cut_in_the_middle_names_the_file(tmp_path):
    path = write_xlsx(tmp_path / events.FILE_NAME, events_sheets())
    cut_middle(path)
    with pytest.raises(SourceError) as error:
        events.extract(path)
    assert error.value.file == events.FILE_NAME


def test_xlsx_sheet_overwritten_with_garbage_names_file_and_sheet(tmp_path):
    path = write_xlsx(tmp_path / events.FILE_NAME, events_sheets())
    overwrite_member(path, "xl/worksheets/sheet1.xml", b"\xde\xad\xbe\xef" * 16)
    with pytest.raises(SourceError) as error:
        events.extract(path)
    assert error.value.file == events.FILE_NAME
    assert error.value.sheet == "イベント"
    assert error.value.message.startswith("Excel ファイルが壊れているか途中で切れています")


def test_xlsx_stored_member_with_bad_crc_names_the_file(tmp_path):
    # Stored (uncompressed) members are read as they are: only the CRC says the bytes changed.
    source = write_xlsx(tmp_path / "src.xlsx", distribution_sheets())
    path = tmp_path / distribution.FILE_NAME
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as out:
        for info in src.infolist():
            out.writestr(info.filename, src.read(info.filename))
    start = member_offset(path, "xl/worksheets/sheet1.xml")
    data = bytearray(path.read_bytes())
    data[start + 60] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(SourceError) as error:
        distribution.extract(path)
    assert error.value.file == distribution.FILE_NAME
    assert "CRC" in error.value.message


def test_truncated_kmz_names_the_file(tmp_path):
    path = write_kmz(tmp_path / "resource_map.kmz", {"doc.kml": kml_text({"L": [placemark("a", 139.4, 35.45)] * 50})})
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(SourceError) as error:
        mymaps.extract(path)
    assert error.value.file == "resource_map.kmz"


def test_truncated_csv_keeps_its_rows_or_names_the_file(tmp_path):
    path = write_csv(tmp_path / cities.FILE_NAME, cities_rows())
    path.write_bytes(path.read_bytes()[:5])
    with pytest.raises(SourceError) as error:
        cities.extract(path)
    assert error.value.file == cities.FILE_NAME


def test_limits_default_to_the_constants_and_read_the_environment():
    assert Limits.from_env({}) == Limits(
        base.MAX_FILE_BYTES, base.MAX_UNCOMPRESSED_BYTES, base.MAX_COMPRESSION_RATIO, base.MAX_ARCHIVE_MEMBERS
    )
    env = {
        "TSUNAGARI_MAX_FILE_BYTES": "1000",
        "TSUNAGARI_MAX_UNPACKED_BYTES": "2_000",
        "TSUNAGARI_MAX_COMPRESSION_RATIO": "7",
        "TSUNAGARI_MAX_ARCHIVE_MEMBERS": "3",
    }
    assert Limits.from_env(env) == Limits(1000, 2000, 7, 3)
    with pytest.raises(EtlError, match="TSUNAGARI_MAX_FILE_BYTES"):
        Limits.from_env({"TSUNAGARI_MAX_FILE_BYTES": "lots"})


def test_environment_limit_is_applied_and_named_in_the_error(tmp_path, monkeypatch):
    path = write_xlsx(tmp_path / distribution.FILE_NAME, distribution_sheets())
    monkeypatch.setenv("TSUNAGARI_MAX_FILE_BYTES", "1000")
    with pytest.raises(SourceError) as error:
        distribution.extract(path)
    assert "limit 1000 bytes; set TSUNAGARI_MAX_FILE_BYTES or --max-file-bytes" in error.value.message


def test_member_count_limit_from_use_limits(tmp_path):
    path = write_kmz(
        tmp_path / "resource_map.kmz", {"doc.kml": kml_text({"L": [placemark("a", 139.4, 35.45)]}), "a.png": b"x"}
    )
    with use_limits(Limits.from_env({}).replace(max_archive_members=1)), pytest.raises(SourceError) as error:
        mymaps.extract(path)
    assert str(error.value) == (
        "resource_map.kmz: 圧縮ファイルの中身が多すぎます (too many archive members: 2, limit 1; "
        "set TSUNAGARI_MAX_ARCHIVE_MEMBERS or --max-archive-members)"
    )
    # Outside the block the default applies again.
    assert mymaps.extract(path).height == 1


def test_raised_unpacked_limit_lets_a_big_map_load(tmp_path, monkeypatch):
    pins = [placemark(f"団体{i}", 139.4, 35.45) for i in range(400)]
    path = write_kmz(tmp_path / "resource_map.kmz", {"doc.kml": kml_text({"L": pins})})
    monkeypatch.setenv("TSUNAGARI_MAX_UNPACKED_BYTES", "1000")
    with pytest.raises(SourceError, match="archive expands beyond 1000 bytes"):
        mymaps.extract(path)
    monkeypatch.setenv("TSUNAGARI_MAX_UNPACKED_BYTES", str(10 * 1024 * 1024))
    assert mymaps.extract(path).height == 400
