"""Train/validation splits (modules.data.splits)."""

import numpy as np
import pandas as pd
import pytest

from modules.data import (check_no_group_leak, load_esc_folders, make_table, split_table,
                          testing_subset)
from modules.data.fetch import project_root

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
    assert validation["path"].tolist() == ["/2.wav", "/5.wav"]  # "test" rows left out
    # Without "validation" rows, "test" rows are the validation part.
    no_validation = make_table([row | {"split": "test" if row["split"] == "validation"
                                       else row["split"]} for row in rows])
    _, validation = split_table(no_validation, "split")
    assert validation["path"].tolist() == ["/2.wav", "/3.wav", "/5.wav"]
    # "auto" uses the split column when every row has one.
    pd.testing.assert_frame_equal(split_table(table)[1], split_table(table, "split")[1])


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
