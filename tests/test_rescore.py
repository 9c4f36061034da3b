"""Re-scoring matrices: numbers vs a hand-computed example, rows that cannot be copied between edits,
the demo world's ground truth through the same code path, and mapping inversion."""

import csv
import io
import json

import numpy as np
import pytest

from latentedit.scoring import rescore as R
from latentedit.errors import InputError, TagError


class PixelScorer:
    """A scorer whose score for attribute k is pixel (0, 0) channel k / 255: scores are set by hand."""

    attributes = ("a", "b")

    def predict(self, images, batch_size=128):
        return np.asarray(images)[:, 0, 0, :2].astype(np.float64) / 255


def images_with_scores(scores):
    """uint8 (N, 4, 4, 3) images whose PixelScorer scores are `scores` (N, 2) (multiples of 1/255)."""
    s = np.asarray(scores, np.float64)
    out = np.zeros((len(s), 4, 4, 3), np.uint8)
    out[:, :, :, :2] = np.round(s * 255).astype(np.uint8)[:, None, None, :]
    return out


BEFORE = [[0.2, 0.6], [0.4, 0.8], [0.6, 0.2], [0.0, 1.0]]
AFTER = [[0.6, 0.6], [0.8, 0.4], [0.4, 0.2], [1.0, 1.0]]


def test_matrix_matches_a_hand_computed_example():
    result = R.rescore_matrix({"+x": (images_with_scores(BEFORE), images_with_scores(AFTER))}, PixelScorer())
    assert result.rows == ["+x"] and result.columns == ["a", "b"] and result.n.tolist() == [4]
    # a: changes +0.4, +0.4, -0.2, +1.0 -> mean 0.4, population std sqrt(((0)^2*2 + 0.6^2 + 0.6^2) / 4) = 0.4243
    #    thresholded (>= 0.5) before 0,0,1,0 after 1,1,0,1 -> all 4 flip: 3 on, 1 off
    # b: changes 0, -0.4, 0, 0 -> mean -0.1, std sqrt((0.3^2 * 3 + 0.3^2) / 4) = 0.1732
    #    before 1,1,0,1 after 1,0,0,1 -> 1 flips off
    np.testing.assert_allclose(result.before, [[0.3, 0.65]], atol=1e-6)
    np.testing.assert_allclose(result.after, [[0.7, 0.55]], atol=1e-6)
    np.testing.assert_allclose(result.mean, [[0.4, -0.1]], atol=1e-6)
    np.testing.assert_allclose(result.std, [[np.sqrt(0.18), np.sqrt(0.03)]], atol=1e-6)
    np.testing.assert_allclose(result.flip, [[1.0, 0.25]])
    np.testing.assert_allclose(result.flip_on, [[0.75, 0.0]])
    np.testing.assert_allclose(result.flip_off, [[0.25, 0.25]])


def test_rows_come_from_their_own_edit_and_follow_dict_order():
    before = images_with_scores(BEFORE)
    mouth = images_with_scores([[0.8, 0.6], [0.8, 0.8], [0.8, 0.2], [0.8, 1.0]])  # moves a only
    hair = images_with_scores([[0.2, 0.0], [0.4, 0.0], [0.6, 0.0], [0.0, 0.0]])  # moves b only
    edits = {"+mouth": (before, mouth), "+hair": (before, hair)}
    result = R.rescore_matrix(edits, PixelScorer())
    assert result.rows == ["+mouth", "+hair"]
    assert not np.allclose(result.mean[0], result.mean[1])
    np.testing.assert_allclose(result.mean[0], [0.8 - 0.3, 0.0], atol=1e-6)
    np.testing.assert_allclose(result.mean[1], [0.0, -0.65], atol=1e-6)
    flipped = R.rescore_matrix(dict(reversed(edits.items())), PixelScorer())
    assert flipped.rows == ["+hair", "+mouth"]
    np.testing.assert_allclose(flipped.mean, result.mean[::-1])
    assert flipped.row("+mouth") == result.row("+mouth")
    assert result.digests[0] != result.digests[1] and "identical_inputs" not in result.notes


def test_identical_inputs_are_flagged():
    before, after = images_with_scores(BEFORE), images_with_scores(AFTER)
    result = R.rescore_matrix({"+x": (before, after), "+y": (before.copy(), after.copy())}, PixelScorer())
    assert result.notes["identical_inputs"] == [["+x", "+y"]]


def test_bad_inputs_are_one_line_errors():
    before = images_with_scores(BEFORE)
    with pytest.raises(InputError, match=r"edit '\+x': 4 images before but 2 after"):
        R.rescore_matrix({"+x": (before, before[:2])}, PixelScorer())
    with pytest.raises(InputError, match="non-empty dict"):
        R.rescore_matrix({}, PixelScorer())
    with pytest.raises(InputError, match="expected a"):
        R.score_change_matrix({"+x": np.zeros((2, 2))}, ["a", "b"])


def test_csv_and_json_carry_every_number():
    result = R.rescore_matrix({"+x": (images_with_scores(BEFORE), images_with_scores(AFTER))}, PixelScorer())
    rows = list(csv.DictReader(io.StringIO(result.to_csv())))
    assert [(r["edit"], r["attribute"]) for r in rows] == [("+x", "a"), ("+x", "b")]
    assert float(rows[0]["mean"]) == pytest.approx(0.4) and float(rows[1]["flip_off"]) == pytest.approx(0.25)
    assert rows[0]["source"] == "scorer" and rows[0]["n"] == "4"
    data = json.loads(result.to_json())
    assert data["rows"] == ["+x"] and data["mean"][0] == pytest.approx([0.4, -0.1])


def test_edit_name_is_built_from_the_edit():
    assert R.edit_name("long_hair", "short_hair") == "+long_hair -short_hair"
    assert R.edit_name(["closed_eyes"], None) == "+closed_eyes"
    assert R.edit_name(["a", "b"], ["c"]) == "+a +b -c"


def test_ground_truth_uses_the_same_path_with_read_attributes():
    before = {"open_mouth": np.array([0, 0, 1, 0]), "hair_length_class": np.array([0, 1, 2, 0]),
              "closed_eyes": np.array([0, 0, 0, 1])}
    opened = {**before, "open_mouth": np.array([1, 1, 1, 0]), "hair_length_class": np.array([1, 1, 2, 0])}
    attrs = ["open_mouth", "short_hair", "closed_eyes"]
    result = R.ground_truth_matrix({"+open_mouth": (before, opened), "nothing": (before, dict(before))}, attrs,
                                   notes={"readout": "test"})
    assert result.source == "ground truth" and result.notes["readout"] == "test"
    assert result.rows == ["+open_mouth", "nothing"]
    np.testing.assert_allclose(result.before[0], [0.25, 0.5, 0.25])
    np.testing.assert_allclose(result.mean[0], [0.5, -0.25, 0.0])  # 2 mouths open; 1 short hair grows
    np.testing.assert_allclose(result.flip_on[0], [0.5, 0.0, 0.0])
    np.testing.assert_allclose(result.flip_off[0], [0.0, 0.25, 0.0])
    np.testing.assert_array_equal(result.mean[1], 0)
    np.testing.assert_array_equal(R.shown_tags(before, ["closed_mouth", "long_hair"]), [[1, 0], [1, 0], [0, 1], [1, 0]])
    with pytest.raises(TagError, match="unknown tag 'open_mouht'"):
        R.shown_tags(before, ["open_mouht"])
