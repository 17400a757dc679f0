import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mipo_bench.judging.parse import parse_score
from mipo_bench.judging.winrate import outcomes, win_rates


@pytest.mark.parametrize(
    "reply,expected",
    [
        ("4", 4),
        (" 5\n", 5),
        ("Score: 3", 3),
        ("score:2", 2),
        ("[RESULT] 4", 4),
        ("Feedback... [RESULT] 1", 1),
        ("4/5", 4),
        ("3 out of 5", 3),
        ("**5**", 5),
        ("Rating: 4", 4),
        ("The score is 2.", 2),
        ("6", None),
        ("0", None),
        ("Score: 7", None),
        ("3.5", None),
        ("great answer", None),
        ("", None),
        ("[RESULT] 9", None),
        ("-1", None),
    ],
)
def test_parse_score(reply, expected):
    assert parse_score(reply) == expected


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_parse_score_never_accepts_out_of_range(reply):
    score = parse_score(reply)
    assert score is None or (isinstance(score, int) and 1 <= score <= 5)


@settings(max_examples=200, deadline=None)
@given(st.integers(-1000, 1000))
def test_parse_score_bare_integers(n):
    assert parse_score(str(n)) == (n if 1 <= n <= 5 else None)


def test_win_rates_count_ties_both_ways():
    res = outcomes([5, 3, 2, None, 4], [4, 3, 5, 2, 1])
    assert res == [1, 0, -1, None, 1]
    report = win_rates(res)
    assert (report["wins"], report["ties"], report["losses"], report["failed"]) == (2, 1, 1, 1)
    assert report["win_rate_ties_as_wins"] == pytest.approx(3 / 4)
    assert report["win_rate_ties_half"] == pytest.approx(2.5 / 4)
    low, high = report["win_rate_ties_as_wins_ci"]
    assert 0 <= low <= report["win_rate_ties_as_wins"] <= high <= 1
