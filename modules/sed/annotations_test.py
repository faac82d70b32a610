"""Annotation tables: Raven selection tables, plain CSV/TSV, validation and writing back."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modules.sed.annotations import (
    check_events,
    read_annotation_folder,
    read_annotations,
    sort_events,
    write_events_csv,
    write_raven_table,
)

RAVEN_HEADER = ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
                "High Freq (Hz)\tBegin File\tSpecies\n")


def raven_rows(selections):
    """Each selection twice, as Raven writes it: a Waveform 1 and a Spectrogram 1 row."""
    lines = []
    for number, begin, end, file, label in selections:
        for view, high in (("Waveform 1", 0), ("Spectrogram 1", 4000)):
            lines.append(f"{number}\t{view}\t1\t{begin}\t{end}\t0\t{high}\t{file}\t{label}\n")
    return "".join(lines)


@pytest.fixture
def raven_table(tmp_path):
    path = tmp_path / "annotations" / "site1.selections.txt"
    path.parent.mkdir()
    path.write_text(RAVEN_HEADER + raven_rows([
        (1, "12.5", "14.25", "rec_b.wav", "chainsaw"),
        (2, "3.0", "4.5", "rec_a.wav", "dog bark"),
        (3, "1.0", "2.0", "rec_b.wav", "dog bark"),
        (4, "2.75", "9.0", "rec_a.wav", "chainsaw"),
    ]))
    return path


def test_raven_table_one_row_per_selection_sorted_with_absolute_files(raven_table):
    events = read_annotations(raven_table)
    folder = raven_table.parent
    assert list(events.columns) == ["file", "onset", "offset", "label"]
    assert len(events) == 4  # the Waveform 1 duplicates are gone
    assert events["file"].tolist() == [str(folder / "rec_a.wav")] * 2 + [
        str(folder / "rec_b.wav")] * 2
    assert events["onset"].tolist() == [2.75, 3.0, 1.0, 12.5]
    assert events["offset"].tolist() == [9.0, 4.5, 2.0, 14.25]
    assert events["label"].tolist() == ["chainsaw", "dog bark", "dog bark", "chainsaw"]
    assert events["onset"].dtype == np.float64 and events["offset"].dtype == np.float64


def test_raven_audio_root_and_label_column(raven_table, tmp_path):
    text = raven_table.read_text().replace("Species", "Call type")
    raven_table.write_text(text)
    with pytest.raises(ValueError, match="no label column.*'Call type'.*Annotation"):
        read_annotations(raven_table)
    events = read_annotations(raven_table, audio_root=tmp_path / "audio", label_column="Call type")
    assert set(events["file"]) == {str(tmp_path / "audio" / "rec_a.wav"),
                                   str(tmp_path / "audio" / "rec_b.wav")}
    assert events["label"].tolist() == ["chainsaw", "dog bark", "dog bark", "chainsaw"]


def test_raven_table_named_after_its_recording(tmp_path):
    # No file column: "<recording>.Table.1.selections.txt" belongs to <recording>.wav beside it.
    path = tmp_path / "forest_2024-05-01.Table.1.selections.txt"
    path.write_text("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tAnnotation\n"
                    "1\tSpectrogram 1\t1\t5.5\t7\trumble\n"
                    "1\tWaveform 1\t1\t5.5\t7\trumble\n"
                    "2\tSpectrogram 1\t1\t0.5\t1\tgunshot\n")
    events = read_annotations(path)
    assert events["file"].tolist() == [str(tmp_path / "forest_2024-05-01.wav")] * 2
    assert events[["onset", "offset"]].to_numpy().tolist() == [[0.5, 1.0], [5.5, 7.0]]
    assert events["label"].tolist() == ["gunshot", "rumble"]

    other = tmp_path / "selections.txt"  # neither a file column nor a telling name
    other.write_text(path.read_text())
    with pytest.raises(ValueError, match="must be named <recording>.Table.1.selections.txt"):
        read_annotations(other)


def test_raven_windows_begin_path_and_file_offset(tmp_path):
    # Begin Path is the annotator's Windows path: only its name is kept. With a file sequence,
    # Begin Time counts from the first file; File Offset (s) is the time within Begin Path.
    path = tmp_path / "sequence.txt"
    path.write_text("Selection\tView\tBegin Time (s)\tEnd Time (s)\tBegin Path\tFile Offset (s)\t"
                    "Annotation\n"
                    "1\tSpectrogram 1\t3605.0\t3607.5\tC:\\Users\\ann\\rec_0002.wav\t5.0\trumble\n")
    events = read_annotations(path, audio_root=tmp_path / "audio")
    assert events["file"].tolist() == [str(tmp_path / "audio" / "rec_0002.wav")]
    assert events[["onset", "offset"]].to_numpy().tolist() == [[5.0, 7.5]]


def test_csv_with_aliases_and_relative_paths(tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    path = folder / "events.csv"
    path.write_text("Filename, Start, End, Class, notes\n"
                    "audio/rec_b.wav, 4.0, 6.5, chainsaw, loud\n"
                    "\n"
                    "audio/rec_a.wav, 10, 12, dog bark,\n"
                    f"{tmp_path / 'elsewhere' / 'rec_c.flac'}, 0.25, 0.5, dog bark,\n"
                    "audio/rec_a.wav, 1.5, 3, chainsaw,\n")
    events = read_annotations(path)
    # sorted by file (…/elsewhere/… < …/labels/…), then onset
    assert events["file"].tolist() == [str(tmp_path / "elsewhere" / "rec_c.flac")] + [
        str(folder / "audio" / "rec_a.wav")] * 2 + [str(folder / "audio" / "rec_b.wav")]
    assert events["onset"].tolist() == [0.25, 1.5, 10.0, 4.0]
    assert events["offset"].tolist() == [0.5, 3.0, 12.0, 6.5]
    assert events["label"].tolist() == ["dog bark", "chainsaw", "dog bark", "chainsaw"]
    moved = read_annotations(path, audio_root=tmp_path / "data")
    assert str(tmp_path / "data" / "audio" / "rec_b.wav") in set(moved["file"])
    assert str(tmp_path / "elsewhere" / "rec_c.flac") in set(moved["file"])  # absolute stays


def test_tsv_with_label_column(tmp_path):
    path = tmp_path / "events.tsv"
    path.write_text("recording\tbegin\tstop\tlabel\tcall\nr.wav\t1\t2\tx\telephant\n")
    assert read_annotations(path)["label"].tolist() == ["x"]
    assert read_annotations(path, label_column="call")["label"].tolist() == ["elephant"]


@pytest.mark.parametrize("row, reason", [
    ("r.wav,5,5,dog", "offset 5 s <= onset 5 s"),
    ("r.wav,6,5,dog", "offset 5 s <= onset 6 s"),
    ("r.wav,-1,5,dog", "negative onset time -1"),
    ("r.wav,1,2,", "missing label"),
    ("r.wav,one,2,dog", "onset 'one' is not a number of seconds"),
    ("r.wav,,2,dog", "missing onset time"),
    (",1,2,dog", "missing recording (empty file name)"),
    ("r.wav,1,2,nocall", "BirdNET 'nocall' row (its placeholder for a file without "
                         "detections, not a class)"),
])
def test_bad_rows_are_skipped_and_named(tmp_path, row, reason):
    # One bad row never costs the rest of the table: skipped, listed with table, line, reason.
    path = tmp_path / "bad.csv"
    path.write_text(f"file,onset,offset,label\nr.wav,0,1,cat\n{row}\nr.wav,7,8,cat\n")
    events = read_annotations(path)
    assert events["onset"].tolist() == [0.0, 7.0] and set(events["label"]) == {"cat"}
    assert events.attrs["skipped"] == [{"file": str(path), "line": 3, "reason": reason}]


def test_bad_raven_row_named_by_its_line(raven_table):
    text = raven_table.read_text().replace("\t2.75\t9.0\t", "\t9.5\t9.0\t")
    raven_table.write_text(text)
    events = read_annotations(raven_table)
    assert len(events) == 3 and 9.5 not in set(events["onset"])
    assert events.attrs["skipped"] == [{"file": str(raven_table), "line": 8,
                                        "reason": "offset 9 s <= onset 9.5 s"}]


def test_missing_column_lists_found_columns_and_aliases(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("file,start,duration,label\nr.wav,1,2,dog\n")
    with pytest.raises(ValueError) as caught:
        read_annotations(path)
    message = str(caught.value)
    assert str(path) in message and "no offset column" in message
    assert "'file', 'start', 'duration', 'label'" in message
    assert "offset, end, stop" in message and "\n" not in message


def test_unusable_tables_are_refused_in_one_line(tmp_path):
    raven = tmp_path / "no_end.txt"
    raven.write_text("Selection\tBegin Time (s)\tAnnotation\n1\t2.0\tdog\n")
    with pytest.raises(ValueError, match=r"no_end.txt: no Raven end time column; columns found: "
                                         r"'Selection', 'Begin Time \(s\)', 'Annotation'"):
        read_annotations(raven)
    ragged = tmp_path / "ragged.csv"  # a row with more fields than the header: that row only
    ragged.write_text("file,onset,offset,label\nr.wav,1,2,dog\nr.wav,3,4,dog,extra,more\n")
    events = read_annotations(ragged)
    assert events["onset"].tolist() == [1.0]
    assert events.attrs["skipped"] == [{"file": str(ragged), "line": 3,
                                        "reason": "6 fields, the header has 4"}]
    unnamed = tmp_path / "notes.txt"  # no file column, and a name that tells no recording
    unnamed.write_text("onset,offset,label\n1,2,dog\n")
    with pytest.raises(ValueError, match=r"notes.txt: no file column with a value .* must be "
                                         r"named <recording>.Table.1.selections.txt or") as c:
        read_annotations(unnamed)
    assert "\n" not in str(c.value)
    assert read_annotations(unnamed, recording="a.wav")["file"].tolist() == [
        str(tmp_path / "a.wav")]


def test_raven_round_trip(tmp_path, raven_table):
    events = read_annotations(raven_table)
    events.loc[0, "onset"] = 1 / 3  # a time with many digits
    events.loc[3, "file"] = str(raven_table.parent / "night" / "rec_c.wav")  # in a sub-folder
    expected = sort_events(events)
    path = tmp_path / "out" / "written.selections.txt"
    write_raven_table(events, path, sr=8000, audio_root=raven_table.parent)
    table = pd.read_csv(path, sep="\t")
    assert list(table.columns) == ["Selection", "View", "Channel", "Begin Time (s)",
                                   "End Time (s)", "Low Freq (Hz)", "High Freq (Hz)",
                                   "Annotation", "Begin File"]
    assert table["Selection"].tolist() == [1, 2, 3, 4]
    assert set(table["View"]) == {"Spectrogram 1"} and set(table["High Freq (Hz)"]) == {4000}
    assert table["Begin File"].tolist() == ["rec_a.wav", "rec_a.wav", "rec_b.wav",
                                            "night/rec_c.wav"]
    back = read_annotations(path, audio_root=raven_table.parent)
    pd.testing.assert_frame_equal(back, expected)

    # Written next to the recordings' folder: relative names resolve against the table's folder.
    beside = raven_table.parent / "copy.txt"
    write_raven_table(events, beside)
    pd.testing.assert_frame_equal(read_annotations(beside), expected)
    assert set(pd.read_csv(beside, sep="\t")["High Freq (Hz)"]) == {0}


def test_csv_round_trip_and_bad_events_refused(tmp_path, raven_table):
    events = read_annotations(raven_table)
    path = tmp_path / "events.csv"
    write_events_csv(events, path)  # the recordings are not under tmp_path: absolute names
    pd.testing.assert_frame_equal(read_annotations(path), events)
    near = raven_table.parent / "events.csv"
    write_events_csv(events, near)
    assert pd.read_csv(near)["file"].tolist()[0] == "rec_a.wav"
    pd.testing.assert_frame_equal(read_annotations(near), events)

    bad = events.copy()
    bad.loc[2, "offset"] = 0.5
    with pytest.raises(ValueError, match=r"events, row 3: offset 0.5 s <= onset 1 s"):
        write_raven_table(bad, tmp_path / "bad.txt")
    assert not (tmp_path / "bad.txt").exists()
    with pytest.raises(ValueError, match="missing column.*label"):
        check_events(events.drop(columns="label"))


def test_annotation_folder_reads_every_table(tmp_path, raven_table):
    folder = raven_table.parent
    sub = folder / "more"
    sub.mkdir()
    (sub / "extra.csv").write_text("file,onset,offset,label\nrec_c.wav,1,2,rooster\n")
    (folder / "README.txt").write_text("Annotated by A. Person in 2024.\n")
    with pytest.warns(UserWarning, match="README.txt: not an annotation table"):
        events = read_annotation_folder(folder)
    assert len(events) == 5
    assert str(sub / "rec_c.wav") in set(events["file"])
    assert events.equals(events.sort_values(["file", "onset"]).reset_index(drop=True))
    with pytest.raises(ValueError, match="no annotation tables"):
        read_annotation_folder(_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "clip.wav").write_bytes(b"")
    return folder


def test_folder_keeps_the_good_rows_and_names_the_bad_table(tmp_path):
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "a.csv").write_text("file,onset,offset,label\nr.wav,1,2,x\n")
    (folder / "b.csv").write_text("file,onset,offset,label\nr.wav,3,2,x\nr.wav,5,6,y\n")
    events = read_annotation_folder(folder)
    assert events["label"].tolist() == ["x", "y"]
    assert events.attrs["skipped"] == [{"file": str(folder / "b.csv"), "line": 2,
                                        "reason": "offset 2 s <= onset 3 s"}]
    (folder / "c.csv").write_text("file,start,duration,label\nr.wav,1,2,dog\n")
    with pytest.raises(ValueError, match=r"c.csv: no offset column"):
        read_annotation_folder(folder)
    assert os.path.isabs(read_annotations(folder / "a.csv")["file"].iloc[0])


# --------------------------------------------------------------------------------------------
# Tables as other tools write them. Each fixture is written the way the other tool writes it;
# the comment above it says what it follows.

from modules.sed.annotations import NotAnEventTable, WeakLabelList, read_weak_labels  # noqa: E402


def test_raven_pro_table_crlf_views_and_an_empty_label(tmp_path):
    # Raven Pro 1.6 "Save Selection Table": tab-separated, CRLF line ends (Windows), one row per
    # view (Waveform 1, Spectrogram 1) with the same Selection id, Begin File and File Offset (s)
    # columns added by the user, an Annotation column; selection 2 was left unannotated.
    header = ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
              "High Freq (Hz)\tBegin File\tFile Offset (s)\tAnnotation")
    rows = ["1\tWaveform 1\t1\t1.25\t2.5\t0.000\t0.000\tsite_a.wav\t1.25\tgibbon",
            "1\tSpectrogram 1\t1\t1.25\t2.5\t400.0\t2200.0\tsite_a.wav\t1.25\tgibbon",
            "2\tWaveform 1\t1\t4.0\t5.5\t0.000\t0.000\tsite_a.wav\t4.0\t",
            "2\tSpectrogram 1\t1\t4.0\t5.5\t300.0\t900.0\tsite_a.wav\t4.0\t",
            "3\tWaveform 1\t1\t3610.0\t3612.0\t0.000\t0.000\tsite_b.wav\t10.0\tgibbon",
            "3\tSpectrogram 1\t1\t3610.0\t3612.0\t500.0\t2000.0\tsite_b.wav\t10.0\tgibbon"]
    path = tmp_path / "site.Table.1.selections.txt"
    path.write_bytes(("\r\n".join([header] + rows) + "\r\n").encode("utf-8"))
    events = read_annotations(path)
    assert events[["onset", "offset", "label"]].to_numpy().tolist() == [
        [1.25, 2.5, "gibbon"], [10.0, 12.0, "gibbon"]]
    assert events["file"].tolist() == [str(tmp_path / "site_a.wav"), str(tmp_path / "site_b.wav")]
    assert events.attrs["skipped"] == [{"file": str(path), "line": 4, "reason": "missing label"}]
    # The same table saved by Excel: a UTF-8 byte-order mark before the header.
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    pd.testing.assert_frame_equal(read_annotations(path), events)


BIRDNET_OLD_HEADER = ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
                      "High Freq (Hz)\tSpecies Code\tCommon Name\tConfidence\n")
BIRDNET_HEADER = ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
                  "High Freq (Hz)\tCommon Name\tSpecies Code\tConfidence\tBegin Path\t"
                  "File Offset (s)\n")


def test_birdnet_tables_named_after_the_recording_and_nocall(tmp_path):
    # BirdNET-Analyzer's saveAsSelectionTable (analyze.py, 2021-22): the header above, one
    # "Spectrogram 1" row per detection, file named <recording>.BirdNET.selection.table.txt
    # (the audio extension dropped), no file column.
    old = tmp_path / "XC558716.BirdNET.selection.table.txt"
    old.write_text(BIRDNET_OLD_HEADER
                   + "1\tSpectrogram 1\t1\t0.0\t3.0\t150\t15000\teurwre\tEurasian Wren\t0.9213\n"
                   + "2\tSpectrogram 1\t1\t6.0\t9.0\t150\t15000\tgretit1\tGreat Tit\t0.5120\n")
    events = read_annotations(old)
    assert events["file"].tolist() == [str(tmp_path / "XC558716.wav")] * 2
    assert events["label"].tolist() == ["Eurasian Wren", "Great Tit"]  # Common Name
    assert read_annotations(old, label_column="Species Code")["label"].tolist() == [
        "eurwre", "gretit1"]
    # birdnet_analyzer/analyze/utils.py generate_raven_table (1.5+): Begin Path (the analysed
    # file's path) and File Offset (s) added; a file without detections gets one "nocall" row.
    audio = tmp_path / "audio" / "night.flac"
    new = tmp_path / "out" / "night.BirdNET.selection.table.txt"
    new.parent.mkdir()
    new.write_text(BIRDNET_HEADER
                   + f"1\tSpectrogram 1\t1\t0\t3\t0\t15000\tnocall\tnocall\t1.0\t{audio}\t0\n")
    events = read_annotations(new)
    assert events.empty and list(events.columns) == ["file", "onset", "offset", "label"]
    assert events.attrs["skipped"] == [{"file": str(new), "line": 2, "reason": (
        "BirdNET 'nocall' row (its placeholder for a file without detections, not a class)")}]
    new.write_text(BIRDNET_HEADER
                   + f"1\tSpectrogram 1\t1\t3.0\t6.0\t0\t15000\tTawny Owl\ttawowl1\t0.8\t{audio}\t3.0\n")
    assert read_annotations(new)[["file", "onset", "label"]].to_numpy().tolist() == [
        [str(audio), 3.0, "Tawny Owl"]]
    with pytest.raises(ValueError, match="names its recordings .*'Begin Path'"):
        read_annotations(new, recording="other.wav")


def test_koogu_selection_tables(tmp_path):
    # Koogu's inference.py _combine_and_write: no View column, "Low/High Frequency (Hz)", Score
    # and the label in Tags, and a last "Begin Path" column left empty (its format is " ").
    # Analysing one file gives <stem>.selections.txt without Begin File.
    single = tmp_path / "NARW_0001.selections.txt"
    single.write_text("Selection\tBegin Time (s)\tEnd Time (s)\tLow Frequency (Hz)\t"
                      "High Frequency (Hz)\tScore\tTags\tBegin Path\n"
                      "1\t12.000000\t14.000000\t50.00\t250.00\t0.97\tNARW\t \n"
                      "2\t30.500000\t32.500000\t50.00\t250.00\t0.61\tNARW\t \n")
    events = read_annotations(single)
    assert events["file"].tolist() == [str(tmp_path / "NARW_0001.wav")] * 2
    assert events[["onset", "offset", "label"]].to_numpy().tolist() == [
        [12.0, 14.0, "NARW"], [30.5, 32.5, "NARW"]]
    # combine_outputs: Begin File and File Offset (s) added, Begin Time counting from the
    # start of the first file of the folder (the second file starts at 900 s).
    combined = tmp_path / "results.selections.txt"
    combined.write_text("Selection\tBegin Time (s)\tEnd Time (s)\tLow Frequency (Hz)\t"
                        "High Frequency (Hz)\tBegin File\tFile Offset (s)\tScore\tTags\t"
                        "Begin Path\n"
                        "1\t12.000000\t14.000000\t50.00\t250.00\tA.wav\t12.000000\t0.97\tNARW\t \n"
                        "2\t905.000000\t907.000000\t50.00\t250.00\tB.wav\t5.000000\t0.88\t\t \n")
    events = read_annotations(combined)
    assert events[["file", "onset", "offset"]].to_numpy().tolist() == [
        [str(tmp_path / "A.wav"), 12.0, 14.0]]
    assert events.attrs["skipped"] == [{"file": str(combined), "line": 3,
                                        "reason": "missing label"}]


def test_sed_eval_event_list_forms(tmp_path):
    # sed_eval.io.load_event_list / dcase_util MetaDataContainer.load, headerless forms:
    # [onset offset label] (DCASE 2016 task 3 .ann, tab-separated; the recording is named by the
    # list), [file onset offset label] (comma-separated), [file scene onset offset label] and
    # DCASE 2017 task 3's [file scene onset offset label source identifier].
    ann = tmp_path / "a001.ann"
    ann.write_text("21.64715\t23.00552\talert\n7.546220\t9.014880\tdoorslam\n")
    events = read_annotations(ann)
    assert events["file"].tolist() == [str(tmp_path / "a001.wav")] * 2
    assert events[["onset", "label"]].to_numpy().tolist() == [[7.54622, "doorslam"],
                                                             [21.64715, "alert"]]
    other = tmp_path / "list.txt"
    other.write_text(ann.read_text())
    with pytest.raises(ValueError, match="list.txt: an event list without a file column"):
        read_annotations(other)
    assert set(read_annotations(other, recording="b.wav")["file"]) == {str(tmp_path / "b.wav")}

    four = tmp_path / "four.csv"
    four.write_text("audio/b093.wav,0.5,1.25,car\naudio/b093.wav,two,3,car\n"
                    "audio/b094.wav,2,3,brakes squeaking\n")
    events = read_annotations(four)
    assert events["label"].tolist() == ["car", "brakes squeaking"]
    assert events.attrs["skipped"] == [{"file": str(four), "line": 2,
                                        "reason": "onset 'two' is not a number of seconds"}]
    seven = tmp_path / "street.txt"
    seven.write_text("audio/street/a001.wav\tstreet\t1.589213\t2.38382\tpeople walking\tm\ta001\n"
                     "audio/street/a001.wav\tstreet\t4.0\t5.5\tcar\tm\ta001\n"
                     "audio/street/a002.wav\n")
    events = read_annotations(seven)
    assert events["label"].tolist() == ["people walking", "car"]
    assert events.attrs["empty_files"] == [str(tmp_path / "audio" / "street" / "a002.wav")]
    pairs = tmp_path / "pairs.txt"  # sed_eval's [onset offset]: events without a class
    pairs.write_text("1.0\t2.0\n3\t4\n")
    with pytest.raises(ValueError, match="pairs.txt: only onset, offset pairs"):
        read_annotations(pairs, recording="a.wav")
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("a.wav\t1\t2\tdog\n1.0\t2.0\tcat\n")
    assert read_annotations(mixed).attrs["skipped"] == [{"file": str(mixed), "line": 2, "reason": (
        "3 fields; expected the list's form: file onset offset label")}]
    pairs.unlink(), mixed.unlink()
    five = tmp_path / "five.txt"
    five.write_text("a.wav\thome\t1\t2\tdishes\n")
    assert read_annotations(five)["label"].tolist() == ["dishes"]


def test_dcase2019_tsv_with_files_without_events(tmp_path):
    # DCASE 2019 task 4 metadata/validation/validation.tsv: header filename onset offset
    # event_label, tab-separated; a clip without events is its name followed by empty fields.
    path = tmp_path / "validation.tsv"
    path.write_text("filename\tonset\toffset\tevent_label\n"
                    "YOTsn73eqbfc_10.000_20.000.wav\t0.163\t0.665\tAlarm_bell_ringing\n"
                    "YU0Cg_t_3TdI_30.000_40.000.wav\t\t\t\n"
                    "Y70CtvdsGQf4_2.000_12.000.wav\t\t\t\n"
                    "YOTsn73eqbfc_10.000_20.000.wav\t2.0\t4.5\tSpeech\n")
    events = read_annotations(path, audio_root=tmp_path / "audio")
    assert events["label"].tolist() == ["Alarm_bell_ringing", "Speech"]
    assert events.attrs["empty_files"] == [
        str(tmp_path / "audio" / "Y70CtvdsGQf4_2.000_12.000.wav"),
        str(tmp_path / "audio" / "YU0Cg_t_3TdI_30.000_40.000.wav")]
    assert events.attrs["skipped"] == []


def test_weak_labels(tmp_path):
    # DCASE 2019 task 4 metadata/train/weak.tsv: filename, event_labels (comma-separated).
    path = tmp_path / "weak.tsv"
    path.write_text("filename\tevent_labels\n"
                    "Y-BJNMHMZDcU_50.000_60.000.wav\tAlarm_bell_ringing,Dog\n"
                    "Y00pbt6aJV8Y_350.000_360.000.wav\tSpeech\n"
                    "\tDog\n")
    with pytest.raises(WeakLabelList, match="weak.tsv: a clip-level .* read_weak_labels"):
        read_annotations(path)
    labels = read_weak_labels(path)
    assert labels["file"].tolist() == [str(tmp_path / "Y-BJNMHMZDcU_50.000_60.000.wav"),
                                       str(tmp_path / "Y00pbt6aJV8Y_350.000_360.000.wav")]
    assert labels["labels"].tolist() == [["Alarm_bell_ringing", "Dog"], ["Speech"]]
    assert labels.attrs["skipped"] == [{"file": str(path), "line": 4,
                                        "reason": "missing file name"}]
    # dcase_util's headerless tags form: [file][tab][tags delimited with ;]
    bare = tmp_path / "tags.txt"
    bare.write_text("a.wav\tdog;cat\nb.wav\tcat\n")
    assert read_weak_labels(bare)["labels"].tolist() == [["dog", "cat"], ["cat"]]
    unquoted = tmp_path / "weak.csv"  # a comma-separated copy, the label list not quoted
    unquoted.write_text("filename,event_labels\na.wav,Dog,Cat\nb.wav,\"Speech,Dog\"\n")
    assert read_weak_labels(unquoted)["labels"].tolist() == [["Dog", "Cat"], ["Speech", "Dog"]]
    unquoted.unlink()
    strong = tmp_path / "strong.tsv"
    strong.write_text("filename\tonset\toffset\tevent_label\na.wav\t1\t2\tdog\n")
    with pytest.raises(ValueError, match="an event table"):
        read_weak_labels(strong)
    # In a folder, a weak-label list (and DCASE's filename-only unlabel_in_domain.tsv) is no
    # event table: left out with a warning and listed as skipped.
    (tmp_path / "unlabel_in_domain.tsv").write_text("filename\nY1.wav\nY2.wav\n")
    with pytest.warns(UserWarning, match="weak"):
        events = read_annotation_folder(tmp_path)
    assert [(s["file"], s["line"]) for s in events.attrs["skipped"]] == [
        (str(tmp_path / "tags.txt"), None), (str(tmp_path / "unlabel_in_domain.tsv"), None),
        (str(tmp_path / "weak.tsv"), None)]
    assert issubclass(WeakLabelList, NotAnEventTable)


def test_inspect_annotations_command(tmp_path, capsys):
    from modules.cli import main

    folder = tmp_path / "tables"
    folder.mkdir()
    # A BirdNET-Analyzer table (generate_raven_table, 1.5+) with a nocall file and a Raven Pro
    # table with an empty annotation (both views), as in the tests above.
    (folder / "a.BirdNET.selection.table.txt").write_text(
        BIRDNET_HEADER
        + f"1\tSpectrogram 1\t1\t0.0\t3.0\t0\t15000\tGreat Tit\tgretit1\t0.9\t{tmp_path}/a.wav\t0.0\n"
        + f"2\tSpectrogram 1\t1\t6.0\t9.0\t0\t15000\tGreat Tit\tgretit1\t0.7\t{tmp_path}/a.wav\t6.0\n")
    (folder / "b.BirdNET.selection.table.txt").write_text(
        BIRDNET_HEADER
        + f"1\tSpectrogram 1\t1\t0\t3\t0\t15000\tnocall\tnocall\t1.0\t{tmp_path}/b.wav\t0\n")
    (folder / "c.Table.1.selections.txt").write_text(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tAnnotation\n"
        "1\tWaveform 1\t1\t2.0\t2.5\t\n1\tSpectrogram 1\t1\t2.0\t2.5\t\n"
        "2\tWaveform 1\t1\t4.0\t5.0\tWren\n2\tSpectrogram 1\t1\t4.0\t5.0\tWren\n")
    assert main(["inspect", "annotations", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "3 events, 2 labels, 2 recordings, 7.00 s annotated in total" in out
    assert "Great Tit" in out and str(tmp_path / "a.wav") in out
    assert "rows skipped: 2" in out
    assert f"{folder / 'b.BirdNET.selection.table.txt'}, line 2: BirdNET 'nocall' row" in out
    assert f"{folder / 'c.Table.1.selections.txt'}, line 2: missing label" in out

    headerless = tmp_path / "list.txt"
    headerless.write_text("1.0\t2.0\tdog\n")
    with pytest.raises(SystemExit, match="spectrain inspect annotations: .*list.txt: an event "
                                         "list without a file column"):
        main(["inspect", "annotations", str(headerless)])
    assert main(["inspect", "annotations", str(headerless), "--recording", "r.wav"]) == 0
    assert "1 events, 1 labels, 1 recordings" in capsys.readouterr().out
    weak = tmp_path / "weak.tsv"
    weak.write_text("filename\tevent_labels\nY1.wav\tDog,Cat\nY2.wav\tDog\n")
    assert main(["inspect", "annotations", str(weak)]) == 0
    out = capsys.readouterr().out
    assert "2 clips, 2 labels" in out and "Dog" in out


def test_clips_prints_the_skipped_rows(tmp_path, capsys):
    import soundfile

    from modules.cli import main

    soundfile.write(tmp_path / "rec.wav", np.zeros(16000 * 30, "float32"), 16000)
    table = tmp_path / "rec.Table.1.selections.txt"  # Raven Pro, one view, one empty label
    table.write_text("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tAnnotation\n"
                     "1\tSpectrogram 1\t1\t2.0\t3.0\tdog\n2\tSpectrogram 1\t1\t8.0\t9.0\t\n")
    assert main(["clips", "--annotations", str(table), "--output", str(tmp_path / "out"),
                 "--clip-length", "5", "--backgrounds", "0", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "annotation rows skipped: 1" in out and f"{table}, line 3: missing label" in out
    assert "1 clips" in out
