"""read_text: CP932, UTF-8 and UTF-8 with BOM detected; empty or binary files are SourceErrors."""

from __future__ import annotations

import codecs

import pytest

from etl.encoding import read_text
from etl.errors import SourceError

TEXT = "タイムスタンプ,団体名\r\n2025/01/15 10:23:45,（サンプル）さくら会・ＮＰＯ\r\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("cp932"), "cp932"),
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("utf-16"), "utf-16"),
        ("①②髙﨑".encode("cp932"), "cp932"),
        ("市名,人口\n大和市,244000\n".encode("cp932"), "cp932"),
        ("市名,人口\n大和市,244000\n".encode("euc_jp"), "euc-jp"),
    ],
)
def test_read_text_detects_encoding(tmp_path, data, encoding):
    path = tmp_path / "answers.csv"
    path.write_bytes(data)
    text, found = read_text(path)
    assert found == encoding
    assert not text.startswith("\ufeff")
    assert text == data.decode({"utf-8-sig": "utf-8-sig", "euc-jp": "euc_jp"}.get(encoding, encoding))


def test_ascii_is_utf8(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"a,b\r\n1,2\r\n")
    assert read_text(path) == ("a,b\r\n1,2\r\n", "utf-8")


@pytest.mark.parametrize("data", [b"", b"   \r\n", codecs.BOM_UTF8])
def test_empty_file_is_a_source_error(tmp_path, data):
    path = tmp_path / "survey_answers.csv"
    path.write_bytes(data)
    with pytest.raises(SourceError) as error:
        read_text(path)
    assert str(error.value) == "survey_answers.csv: ファイルが空です (empty file)"


def test_undecodable_file_is_a_source_error(tmp_path):
    path = tmp_path / "survey_answers.csv"
    path.write_bytes(b"\x81\x00\xff\xfe\x80" * 40)
    with pytest.raises(SourceError) as error:
        read_text(path)
    assert error.value.file == "survey_answers.csv"
    assert "undecodable" in error.value.message


def test_bad_bytes_after_a_utf8_bom(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(codecs.BOM_UTF8 + "団体".encode("cp932"))
    with pytest.raises(SourceError) as error:
        read_text(path)
    assert error.value.message == "文字コード utf-8 として読めません (undecodable as utf-8, byte 0)"


def test_missing_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError) as error:
        read_text(tmp_path / "nope.csv")
    assert error.value.file == "nope.csv"
