"""The record writers' table: aligned columns for people, errors apart."""

import io

from voxgender.io.records import RecordWriter


def test_the_table_aligns_each_column_and_leaves_error_records_to_stderr(capsys):
    out = io.StringIO()
    writer = RecordWriter("table", fields=("path", "label", "p_female", "error"), stream=out)
    writer.write({"path": "a-long-name.wav", "label": "female", "p_female": 0.98765})
    writer.write({"path": "bad.wav", "error": "bad.wav: not audio"})
    writer.write({"path": "b.wav", "label": "none", "p_female": None})
    writer.close()
    assert out.getvalue().splitlines() == [
        "path             label   p_female",
        "a-long-name.wav  female  0.988",
        "b.wav            none",
    ]
    assert capsys.readouterr().err == "error: bad.wav: not audio\n"


def test_a_table_of_only_errors_prints_nothing():
    out = io.StringIO()
    writer = RecordWriter("table", stream=out)
    writer.write({"path": "bad.wav", "error": "bad.wav: not audio"})
    writer.close()
    assert out.getvalue() == ""
