"""Tag filtering: thesis bounds scaled with the run size, and a reason for every dropped tag."""

import numpy as np
import pytest

from latentedit.directions.filtering import default_max_count, default_min_count, filter_tags, thesis_max_count
from latentedit.errors import TagError

VOCAB = ["long_hair", "short_hair", "rare_tag", "everywhere", "rating:safe", "open_mouth", "all_of_them",
         "nowhere"]


def test_defaults_scale_the_thesis_bounds_with_run_size():
    assert (default_min_count(10200), thesis_max_count(10200)) == (100, 3400)
    assert (default_min_count(1000), thesis_max_count(1000)) == (10, 333)
    assert (default_min_count(50), thesis_max_count(50)) == (1, 16)
    assert (default_max_count(10200), default_max_count(1000), default_max_count(50)) == (10100, 990, 49)


def test_default_upper_bound_keeps_common_attributes_drops_near_universal():
    counts = [4500, 3399, 100, 10100, 10200, 101, 10099, 0]
    result = filter_tags(VOCAB, counts, 10200)
    assert result.kept == ["long_hair", "short_hair", "open_mouth", "all_of_them"]
    assert result.dropped["everywhere"] == "in 10100 samples (>= max 10100)"


def test_reasons_at_thesis_size():
    counts = [2000, 3399, 100, 3400, 10200, 101, 10200, 0]
    result = filter_tags(VOCAB, counts, 10200, max_count=thesis_max_count(10200))
    assert result.kept == ["long_hair", "short_hair", "open_mouth"]
    assert result.dropped == {
        "rare_tag": "in 100 samples (<= min 100)",
        "everywhere": "in 3400 samples (>= max 3400)",
        "rating:safe": "rating tag",
        "all_of_them": "in 10200 of 10200 samples (no direction can be fitted)",
        "nowhere": "in 0 of 10200 samples (no direction can be fitted)",
    }
    assert result.reason("long_hair") is None and result.reason("rare_tag") == "in 100 samples (<= min 100)"
    assert result.kept_indices(VOCAB).tolist() == [0, 1, 5]
    assert result.summary() == "kept 3 of 8 tags in 10200 samples (count > 100 and < 3400)"


def test_include_exclude_and_explicit_bounds():
    counts = [12, 300, 5, 9000, 50, 200, 1000, 0]
    result = filter_tags(VOCAB, counts, 1000, include=["rare_tag", "rating:safe", "nowhere"],
                         exclude=["open_mouth"])
    assert result.kept == ["long_hair", "short_hair", "rare_tag"]
    assert result.dropped["open_mouth"] == "excluded"
    assert result.dropped["rating:safe"] == "rating tag"
    assert result.dropped["everywhere"] == "in 9000 of 1000 samples (no direction can be fitted)"
    assert result.dropped["nowhere"] == "in 0 of 1000 samples (no direction can be fitted)"

    tight = filter_tags(VOCAB, counts, 1000, min_count=31, max_count=250)
    assert tight.kept == ["open_mouth"]
    assert tight.dropped["long_hair"] == "in 12 samples (<= min 31)"
    assert tight.dropped["short_hair"] == "in 300 samples (>= max 250)"


def test_binary_matrix_input():
    Y = np.zeros((300, 3), np.uint8)
    Y[:298, 0], Y[:2, 1], Y[:60, 2] = 1, 1, 1
    result = filter_tags(["a", "b", "c"], Y, 300)
    assert result.counts == {"a": 298, "b": 2, "c": 60}
    assert result.kept == ["c"]
    assert result.dropped == {"a": "in 298 samples (>= max 297)", "b": "in 2 samples (<= min 3)"}
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="0/1 labels"):
        filter_tags(["a", "b", "c"], rng.random((300, 3)), 300)


def test_unknown_or_conflicting_names():
    with pytest.raises(TagError) as e:
        filter_tags(VOCAB, np.ones(len(VOCAB)), 10, include=["long_hiar"])
    assert str(e.value) == "unknown tag 'long_hiar'; did you mean long_hair, short_hair?"
    with pytest.raises(TagError) as e:
        filter_tags(VOCAB, np.ones(len(VOCAB)), 10, exclude=["xyzzy"])
    assert str(e.value).startswith("unknown tag 'xyzzy'; known tags: all_of_them, everywhere")
    with pytest.raises(TagError) as e:
        filter_tags(VOCAB, np.ones(len(VOCAB)), 10, include=["long_hair"], exclude=["long_hair"])
    assert str(e.value) == "tag 'long_hair' is both included and excluded; pick one"
