"""Train/validation splits (modules.data.splits)."""

import numpy as np
import pandas as pd
import pytest

from modules.data import (SPLIT_METHODS, check_no_group_leak, load_esc_folders, make_table,
                          split_parts, split_table, testing_subset)
from modules.data.fetch import project_root
from modules.data.splits import describe_split_notes, split_notes_of
from modules.parameters import SPLIT_CHOICES, ParameterError, Parameters
from modules.tasks.classification import describe_split

ESC10 = project_root().parent / "shared" / "datasets" / "ESC-10"
needs_esc10 = pytest.mark.skipif(not ESC10.is_dir(), reason=f"ESC-10 not at {ESC10}")


@pytest.fixture(scope="module")
def esc10():
    return load_esc_folders(ESC10)


def synthetic(n_classes=4, groups_per_class=10, files_per_group=3, with_fold=False):
    """Rows of several groups per class; group sizes vary so that splits are not trivial."""
    rows = []
    for c in range(n_classes):
        for g in range(groups_per_class):
            for f in range(files_per_group + g % 3):
                rows.append({"path": f"/data/c{c}/g{g}_{f}.wav", "label": f"class{c}",
                             "group": f"c{c}g{g}", "fold": g % 5 + 1 if with_fold else None})
    return make_table(rows)


def in_order(part, table):
    """Whether the rows of ``part`` appear in the same order as in ``table``."""
    position = {path: i for i, path in enumerate(table["path"])}
    order = [position[path] for path in part["path"]]
    return order == sorted(order)


@needs_esc10
def test_fold_split_on_esc10(esc10):
    train, validation = split_table(esc10, "fold", validation_fold=1)
    assert len(validation) == 80 and len(train) == 320
    assert (validation["fold"] == 1).all() and (train["fold"] != 1).all()
    assert validation["label"].value_counts().to_dict() == {label: 8 for label in
                                                            validation["label"].unique()}
    assert list(validation.index) == list(range(80))
    assert in_order(train, esc10) and in_order(validation, esc10)
    # "auto" picks folds, since every ESC-10 row has one.
    auto_train, auto_validation = split_table(esc10)
    pd.testing.assert_frame_equal(auto_validation, validation)


@needs_esc10
def test_group_split_on_esc10(esc10):
    train, validation = split_table(esc10, "group", validation_size=0.2, seed=1)
    check_no_group_leak(train, validation)
    assert len(train) + len(validation) == 400
    assert set(validation["label"]) == set(esc10["label"]) == set(train["label"])
    assert 50 <= len(validation) <= 110


def test_group_split_no_leak_deterministic_and_seeded():
    table = synthetic()
    train, validation = split_table(table, "group", validation_size=0.2, seed=42)
    assert not set(train["group"]) & set(validation["group"])
    check_no_group_leak(train, validation)
    # Stratified: every class on both sides, roughly 20 % in validation.
    assert set(train["label"]) == set(validation["label"]) == set(table["label"])
    assert 0.1 < len(validation) / len(table) < 0.3
    assert in_order(train, table) and in_order(validation, table)

    again_train, again_validation = split_table(table, "group", validation_size=0.2, seed=42)
    pd.testing.assert_frame_equal(again_validation, validation)
    pd.testing.assert_frame_equal(again_train, train)
    _, other = split_table(table, "group", validation_size=0.2, seed=7)
    assert set(other["group"]) != set(validation["group"])


def test_random_split_is_stratified_and_seeded():
    table = synthetic()
    train, validation = split_table(table, "random", validation_size=0.25, seed=3)
    assert len(validation) == int(np.ceil(0.25 * len(table)))
    assert set(train["label"]) == set(validation["label"]) == set(table["label"])
    counts = validation["label"].value_counts()
    assert counts.max() - counts.min() <= 1  # every class has the same number of rows
    _, again = split_table(table, "random", validation_size=0.25, seed=3)
    pd.testing.assert_frame_equal(again, validation)
    _, other = split_table(table, "random", validation_size=0.25, seed=4)
    assert set(other["path"]) != set(validation["path"])


def test_split_column():
    rows = [{"path": f"/{i}.wav", "label": "ab"[i % 2], "split": split}
            for i, split in enumerate(["train", "train", "validation", "test", "train",
                                       "validation"])]
    table = make_table(rows)
    train, validation = split_table(table, "split")
    assert train["path"].tolist() == ["/0.wav", "/1.wav", "/4.wav"]
    assert validation["path"].tolist() == ["/2.wav", "/5.wav"]  # "test" rows held out
    parts = split_parts(table, "split")
    assert parts.test["path"].tolist() == ["/3.wav"] and parts.note == ""
    # "auto" uses the split column when every row has one.
    pd.testing.assert_frame_equal(split_table(table)[1], split_table(table, "split")[1])
    pd.testing.assert_frame_equal(split_parts(table).test, parts.test)


def manifest_rows(n_per_class=10, groups=False):
    """A manifest with train and test rows only, as DCASE's foldN_train / foldN_evaluate."""
    rows = []
    for c in "ab":
        for i in range(n_per_class):
            rows.append({"path": f"/{c}{i}.wav", "label": c, "split": "test" if i < 3 else "train",
                         "group": f"{c}-source{i // 2}" if groups else None})
    return make_table(rows)


def test_train_and_test_rows_only_validation_is_carved_from_train_stratified():
    table = manifest_rows()
    parts = split_parts(table, "split", validation_size=0.25, seed=3)
    assert parts.test["path"].tolist() == [f"/{c}{i}.wav" for c in "ab" for i in range(3)]
    assert not set(parts.test["path"]) & (set(parts.train["path"]) | set(parts.validation["path"]))
    assert set(parts.train["path"]) | set(parts.validation["path"]) == {
        f"/{c}{i}.wav" for c in "ab" for i in range(3, 10)}
    # stratified: a quarter of 14 rounded up, 2 of each class
    assert parts.validation["label"].value_counts().to_dict() == {"a": 2, "b": 2}
    assert "validation is 4 of its 14 training rows" in parts.note
    assert "stratified by label" in parts.note and "6 test rows are held out" in parts.note
    again = split_parts(table, "split", validation_size=0.25, seed=3)
    pd.testing.assert_frame_equal(again.validation, parts.validation)  # from the seed alone


def test_carved_validation_keeps_groups_on_one_side():
    parts = split_parts(manifest_rows(groups=True), "split", validation_size=0.25, seed=1)
    check_no_group_leak(parts.train, parts.validation)
    assert "by group" in parts.note and len(parts.validation) > 0


def test_a_split_value_that_is_not_train_validation_or_test_is_refused():
    table = make_table([{"path": "/1.wav", "label": "a", "split": "train"},
                        {"path": "/2.wav", "label": "a", "split": "dev"},
                        {"path": "/3.wav", "label": "a", "split": "test"}])
    with pytest.raises(ValueError, match=r"1 row\(s\) have no split or one that is not train.*"
                                         r"/2.wav: 'dev'"):
        split_parts(table, "split")
    unsplit = make_table([{"path": "/1.wav", "label": "a", "split": "train"},
                          {"path": "/2.wav", "label": "a"}, {"path": "/3.wav", "label": "a",
                                                             "split": "test"}])
    with pytest.raises(ValueError, match=r"/2.wav: no split\)"):
        split_parts(unsplit, "split")


def test_test_fold_of_a_fold_split():
    table = synthetic(with_fold=True)
    parts = split_parts(table, "fold", validation_fold=1, test_fold=5)
    assert set(parts.validation["fold"]) == {1} and set(parts.test["fold"]) == {5}
    assert set(parts.train["fold"]) == {2, 3, 4}
    assert len(parts.train) + len(parts.validation) + len(parts.test) == len(table)
    with pytest.raises(ValueError, match="test_fold and validation_fold are both 1"):
        split_parts(table, "fold", validation_fold=1, test_fold=1)
    with pytest.raises(ValueError, match="test fold 9 has no rows"):
        split_parts(table, "fold", validation_fold=1, test_fold=9)


def test_test_fold_of_a_group_split_is_another_fold_of_the_same_k_fold():
    table = synthetic()
    parts = split_parts(table, "group", validation_fold=2, test_fold=4, n_folds=5, seed=7)
    for one, other in ((parts.train, parts.validation), (parts.train, parts.test),
                       (parts.validation, parts.test)):
        check_no_group_leak(one, other)
    # the same folds as a plain group split gives for validation_fold 2 and 4
    _, fold2 = split_table(table, "group", validation_fold=2, n_folds=5, seed=7)
    _, fold4 = split_table(table, "group", validation_fold=4, n_folds=5, seed=7)
    pd.testing.assert_frame_equal(parts.validation, fold2)
    pd.testing.assert_frame_equal(parts.test, fold4)
    with pytest.raises(ValueError, match="test_fold must be between 1 and 5"):
        split_parts(table, "group", n_folds=5, test_fold=6)


def test_test_fold_is_refused_where_it_means_nothing():
    with pytest.raises(ValueError, match="test_fold applies to the 'fold' and 'group' splits"):
        split_parts(synthetic().assign(group=np.nan), "random", test_fold=2)


def test_auto_falls_back_to_group_then_random():
    grouped = synthetic()
    pd.testing.assert_frame_equal(split_table(grouped, seed=5)[1],
                                  split_table(grouped, "group", seed=5)[1])
    ungrouped = grouped.assign(group=np.nan)
    pd.testing.assert_frame_equal(split_table(ungrouped, seed=5)[1],
                                  split_table(ungrouped, "random", seed=5)[1])


def test_split_errors():
    table = synthetic(with_fold=True)
    with pytest.raises(ValueError, match=r"validation fold 9 has no rows; the table's folds are "
                                         r"\[1, 2, 3, 4, 5\]"):
        split_table(table, "fold", validation_fold=9)
    with pytest.raises(ValueError, match="needs a fold on every row"):
        split_table(synthetic(), "fold")
    with pytest.raises(ValueError, match="unknown split method 'folds'"):
        split_table(table, "folds")
    with pytest.raises(ValueError, match="needs a 'split' column"):
        split_table(table, "split")
    with pytest.raises(ValueError, match="needs at least 5 groups"):
        split_table(synthetic(n_classes=1, groups_per_class=3), "group")


def test_check_no_group_leak_lists_groups():
    train = make_table([{"path": "/a", "label": "x", "group": "p1"},
                        {"path": "/b", "label": "x", "group": "p2"},
                        {"path": "/c", "label": "x"}])
    validation = make_table([{"path": "/d", "label": "x", "group": "p2"},
                             {"path": "/e", "label": "x"}])
    with pytest.raises(ValueError, match=r"1 group\(s\) have rows in both train and "
                                         r"validation: p2"):
        check_no_group_leak(train, validation)
    check_no_group_leak(train.iloc[[0, 2]], validation)  # rows without a group never leak


def test_testing_subset():
    table = synthetic()  # 4 classes of 39 rows
    subset = testing_subset(table, per_class=4, seed=0)
    assert subset["label"].value_counts().to_dict() == {f"class{c}": 4 for c in range(4)}
    assert in_order(subset, table) and list(subset.index) == list(range(16))
    pd.testing.assert_frame_equal(subset, testing_subset(table, per_class=4, seed=0))
    assert set(testing_subset(table, 4, seed=1)["path"]) != set(subset["path"])
    # Classes with fewer rows than per_class are kept whole.
    small = table[table["label"] != "class0"].head(45).reset_index(drop=True)
    assert len(testing_subset(small, per_class=100)) == 45
    with pytest.raises(ValueError, match="per_class must be at least 1"):
        testing_subset(table, per_class=0)


# --- k-fold group splits and the official split --------------------------------------------------

def test_group_fold_one_is_the_split_given_before_n_folds():
    """Recorded jobs keep their splits: these validation groups were computed before
    validation_fold/n_folds applied to "group"."""
    table = synthetic()
    expected = {
        (42, 0.2): ["c0g0", "c0g2", "c1g5", "c1g6", "c2g3", "c2g8", "c3g1", "c3g9"],
        (3, 0.25): ["c0g1", "c0g3", "c0g4", "c1g0", "c1g2", "c1g6", "c2g4", "c2g8", "c3g0",
                    "c3g2", "c3g6"],
    }
    for (seed, size), groups in expected.items():
        for fold in (1, None):
            _, validation = split_table(table, "group", validation_fold=fold,
                                        validation_size=size, seed=seed)
            assert sorted(set(validation["group"])) == groups
        # n_folds equal to round(1 / validation_size) is the same split.
        _, same = split_table(table, "group", validation_size=0.5, seed=seed,
                              n_folds=round(1 / size))
        assert sorted(set(same["group"])) == groups


def test_group_k_fold_partitions_groups():
    table = synthetic()
    seen = []
    for fold in range(1, 4):
        train, validation = split_table(table, "group", validation_fold=fold, n_folds=3, seed=0)
        assert not set(train["group"]) & set(validation["group"])
        assert len(train) + len(validation) == len(table)
        assert set(validation["label"]) == set(table["label"])  # stratified
        seen.append(set(validation["group"]))
    assert set().union(*seen) == set(table["group"])
    assert sum(map(len, seen)) == table["group"].nunique()
    for bad in (0, 4):
        with pytest.raises(ValueError, match=r"validation_fold must be between 1 and 3"):
            split_table(table, "group", validation_fold=bad, n_folds=3)
    with pytest.raises(ValueError, match="n_folds must be a whole number of at least 2"):
        split_table(table, "group", n_folds=1)
    with pytest.raises(ValueError, match="needs at least 50 groups; the table has 40"):
        split_table(table, "group", n_folds=50)


def test_official_split_on_synthetic():
    table = synthetic()
    groups = sorted(set(table["group"]))
    official = {group: ("test" if i % 4 == 0 else "validation" if i % 4 == 1 else "train")
                for i, group in enumerate(groups[:20])}  # 20 groups listed, 20 not
    table["split"] = pd.array([official.get(group, np.nan) for group in table["group"]],
                              dtype=table["group"].dtype)
    train, validation = split_table(table, "official", validation_size=0.25, seed=1)
    check_no_group_leak(train, validation)
    assert len(train) + len(validation) == len(table)
    assert in_order(train, table) and in_order(validation, table)
    listed = table["split"].notna()
    assert set(table.loc[listed & (table["split"] == "train"), "path"]) <= set(train["path"])
    assert set(table.loc[table["split"].isin(["test", "validation"]), "path"]) <= set(
        validation["path"])
    # The unlisted groups: a group split of their own (4 folds from validation_size 0.25).
    rest = table[~listed].reset_index(drop=True)
    _, rest_validation = split_table(rest, "group", validation_size=0.25, seed=1)
    assert set(validation["group"]) - set(official) == set(rest_validation["group"])
    # Every row listed: exactly the split column, test and validation together.
    everything = table.copy()
    everything["split"] = everything["group"].map(
        lambda group: "test" if int(group[-1]) % 3 == 0 else "train").astype(
        table["group"].dtype)
    train, validation = split_table(everything, "official")
    assert (validation["split"] == "test").all() and (train["split"] == "train").all()
    # "auto" never picks "official".
    pd.testing.assert_frame_equal(split_table(table, seed=5)[1],
                                  split_table(table, "group", seed=5)[1])


def test_official_split_errors():
    table = synthetic()
    with pytest.raises(ValueError, match="no row has one; use 'group'"):
        split_table(table, "official")
    half = table.copy()
    half.loc[:5, "split"] = "holdout"
    with pytest.raises(ValueError, match="unknown split value"):
        split_table(half, "official")
    # Unlisted rows without groups cannot be split by group.
    few = table.copy()
    few.loc[few["group"] != "c0g0", "split"] = "train"
    few.loc[few["group"] == "c0g0", "group"] = np.nan
    with pytest.raises(ValueError, match="needs a group on every row; .* without an official "
                                         "split"):
        split_table(few, "official")


def crossing_table():
    """Groups g0..g5 listed whole (g0-g3 train, g4-g5 test); g6 listed 2 train + 1 test, g7
    1 train + 2 test, g8 1 train + 1 test (a tie): recordings, not groups, are assigned, as in
    ICBHI's published file. g9 has one row listed (test) and one not."""
    sides = {"g0": "ttt", "g1": "ttt", "g2": "ttt", "g3": "ttt", "g4": "vvv", "g5": "vvv",
             "g6": "ttv", "g7": "tvv", "g8": "tv", "g9": "v-"}
    rows = []
    for group, listed in sides.items():
        for k, side in enumerate(listed):
            rows.append({"path": f"/data/{group}_{k}.wav", "label": f"class{k % 2}",
                         "group": group,
                         "split": {"t": "train", "v": "test", "-": None}[side]})
    return make_table(rows)


def test_official_split_keeps_groups_on_both_sides_as_published():
    table = crossing_table()
    train, validation = split_table(table, "official")
    published = table[table["split"].notna()]
    assert set(train["path"]) >= set(published.loc[published["split"] == "train", "path"])
    assert set(validation["path"]) >= set(published.loc[published["split"] == "test", "path"])
    assert len(train) + len(validation) == len(table)  # nothing dropped
    assert set(train["group"]) & set(validation["group"]) == {"g6", "g7", "g8"}
    assert "/data/g9_1.wav" in set(validation["path"])  # the unlisted row follows its group
    notes = split_notes_of(train)
    assert notes == split_notes_of(validation)
    assert notes["method"] == "official" and notes["unlisted"] == ["g9_1"]
    assert notes["crossing_groups"] == [
        {"group": "g6", "recordings": {"train": ["g6_0", "g6_1"], "test": ["g6_2"]}},
        {"group": "g7", "recordings": {"train": ["g7_0"], "test": ["g7_1", "g7_2"]}},
        {"group": "g8", "recordings": {"train": ["g8_0"], "test": ["g8_1"]}}]
    assert notes["matched_by_fields"] == notes["unmatched"] == []
    line = describe_split_notes(notes)
    assert line.startswith("3 patient(s) on both sides of the published split, kept as "
                           "published: g6 (train: g6_0, g6_1; test: g6_2), g7 (train: g7_0; "
                           "test: g7_1, g7_2), g8 (train: g8_0; test: g8_1)")
    assert "1 recording(s) not in the published split, placed by patient: g9_1" in line
    # Other methods attach no notes.
    assert split_notes_of(split_table(table, "group", n_folds=2)[0]) is None
    assert describe_split_notes(None) is None


def test_official_patients_moves_crossing_groups_to_their_larger_side():
    table = crossing_table()
    train, validation = split_table(table, "official_patients")
    check_no_group_leak(train, validation)
    assert len(train) + len(validation) == len(table)
    assert {"g6", "g8"} <= set(train["group"])  # most rows on train; a tie goes to train
    assert "g7" in set(validation["group"])
    notes = split_notes_of(validation)
    assert notes["method"] == "official_patients"
    assert [(entry["group"], entry["moved_to"]) for entry in notes["crossing_groups"]] == [
        ("g6", "train"), ("g7", "validation"), ("g8", "train")]
    assert "each moved to the side holding most of its recordings (ties to train)" in (
        describe_split_notes(notes))
    # Groups listed on one side are where "official" puts them.
    official_train, _ = split_table(table, "official")
    whole = ~table["group"].isin(["g6", "g7", "g8"])
    assert (set(official_train["path"]) & set(table.loc[whole, "path"])
            == set(train["path"]) & set(table.loc[whole, "path"]))
    # Without groups on both sides it is "official".
    disjoint = table[whole].reset_index(drop=True)
    for first, second in zip(split_table(disjoint, "official"),
                             split_table(disjoint, "official_patients")):
        pd.testing.assert_frame_equal(first, second)
    assert "no patient on both sides" in describe_split_notes(
        split_notes_of(split_table(disjoint, "official")[0]))


def test_split_choices_are_checked_where_they_are_set():
    assert SPLIT_CHOICES == SPLIT_METHODS
    params = Parameters()
    params.split = "official_patients"
    with pytest.raises(ParameterError, match="parameter 'split' is one of .*official_patients.*"
                                             "got 'oficial_patients'; did you mean "
                                             "'official_patients'"):
        params.split = "oficial_patients"
    with pytest.raises(ValueError, match="unknown split method 'oficial'; .*did you mean "
                                         "'official'"):
        split_table(crossing_table(), "oficial")
    params.validation_size = 0.25
    assert describe_split(params).startswith("official_patients (the dataset's own split, each "
                                             "patient on both sides moved")
    params.split = "official"
    assert "patients on both sides kept" in describe_split(params)
