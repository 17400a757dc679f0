import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mipo_bench.judging.parse import PARSERS, get_parser, parse_first_int, parse_score
from mipo_bench.judging.templates import load_template, template_decoding
from mipo_bench.judging.winrate import compare, outcomes, win_rates


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
        # the shipped templates' own answer lines, echoed back with a score: a range after "Score" is the scale
        ("Score (1-5): 4", 4),  # personalization_score, rlaif_critic
        ("Score (1-5):4", 4),
        ("score (1 - 5): 2", 2),
        ("Score (1 to 5): 5", 5),
        ("Score [1-5]: 3", 3),
        ("Score 1-5: 2", 2),
        ("Score (out of 5): 3", 3),
        ("Score (1-5): 7", None),
        ("Score (1-5):", None),
        ("Score (1-5): none", None),
        ("###Feedback: clear and warm. [RESULT] 4", 4),  # rubric_grade
        ("Feedback: fine. [RESULT] (4)", 4),
        ("[RESULT] (an integer between 1 and 5)", None),
        ("Score: 4-5", 4),
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


@pytest.mark.parametrize(
    "reply,expected",
    [
        ("4", 4),  # the paper template's answer: "Only respond with a number between 1 and 5"
        ("5.", 5),
        ("Score: 3", 3),
        ("I'd say 2 - it ignores 3 of the preferences", 2),  # the FIRST integer, wherever it is
        ("Score (1-5): 4", 1),  # as the scripts: the range's 1 is the first integer
        ("4.5", 4),  # int(re.search(r'\d+', s).group()) reads the integer part
        ("-2", 2),  # the sign is not part of \d+
        ("10", None),  # scripts: 10 (never clamped); here a counted failure (deliberate correction)
        ("0", None),
        ("six", None),  # scripts: AttributeError -> CA scores 0, PRISM skips; here a counted failure
        ("", None),
        ("9" * 400, None),  # an int, never a float overflow
    ],
)
def test_paper_first_int(reply, expected):
    assert parse_first_int(reply) == expected
    assert get_parser("paper_first_int") is parse_first_int


def test_parser_registry_names_and_errors():
    assert {"tolerant", "paper_first_int"} <= set(PARSERS) and get_parser("tolerant") is parse_score
    with pytest.raises(ValueError, match="unknown score parser 'first'.*; known: .*paper_first_int.*tolerant"):
        get_parser("first")


def test_templates_declare_their_reply_budget_and_decoding():
    """Regression: rubric_grade writes feedback before [RESULT], so 8 tokens cut every score off."""
    budgets = {name: template_decoding(load_template(name)).max_new_tokens for name in ("rubric_grade", "paper")}
    assert budgets == {"rubric_grade": 512, "paper": 1024}
    bare = template_decoding(load_template("personalization_score"))
    assert (bare.max_new_tokens, bare.temperature, bare.retries, bare.first().temperature) == (8, 0.0, 2, 0)
    paper = template_decoding(load_template("paper"), seed=7)
    first = paper.first()
    assert (first.temperature, first.top_p, first.max_new_tokens, first.seed, paper.retries) == (0.1, 0.9, 1024, 7, 0)
    assert paper.retry(1).temperature == 0.1 and paper.retry(1).seed == 8  # re-asks: same sampling, a new seed
    assert template_decoding(load_template("paper"), max_new_tokens=4, retries=1).max_new_tokens == 4  # CLI wins


PAPER_SYSTEM = (
    "You are a helpful assistant, that evaluates another assistant's response based on how well the response is "
    "personalized to this user based on their stated preference. Give a score between 1 and 5, 1 if the response is "
    "general, and 5 if the response sufficiently addresses the user's preference. Only respond with a number between "
    "1 and 5 and do not provide an explanation."
)


def test_paper_template_is_the_scripts_messages_verbatim():
    from mipo_bench.judging.templates import judge_messages

    template = load_template("paper")
    assert template["parser"] == "paper_first_int"
    messages = judge_messages(template, "Plan a trip.", "Go </response> to Rome.", "likes trains")
    assert messages == [
        {"role": "system", "content": PAPER_SYSTEM},
        {
            "role": "user",
            "content": "User: Plan a trip.\n\nAssistant: Go </response> to Rome.\n\nUser's preference: likes trains",
        },
    ]


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("max_new_tokens", "many", "'max_new_tokens' must be a non-negative number"),
        ("max_new_tokens", 0, "'max_new_tokens' must be at least 1"),
        ("temperature", -1, "'temperature' must be a non-negative number"),
        ("parser", "first", "unknown score parser 'first'"),
    ],
)
def test_bad_template_fields_name_the_file(tmp_path, field, value, message):
    import yaml

    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"system": "s", "user": "{response}", field: value}))
    with pytest.raises(ValueError, match=message) as err:
        load_template(str(path))
    assert str(path) in str(err.value)


def test_compare_counts_unmatched_items_on_both_sides():
    """Regression: an item without counterpart is counted and named, never dropped from n."""
    ours = {"a": 4.0, "b": 3.0, "c": None, "only-ours": 5.0}
    theirs = {"a": 4.0, "b": 5.0, "c": 2.0, "only-theirs": 1.0, "also-theirs": 2.0}
    report = compare(ours, theirs)
    assert (report["wins"], report["ties"], report["losses"], report["failed"]) == (0, 1, 1, 1)
    assert (report["unmatched_samples"], report["unmatched_reference"], report["unmatched"]) == (1, 2, 3)
    assert report["unmatched_samples_ids"] == ["only-ours"]
    assert report["unmatched_reference_ids"] == ["only-theirs", "also-theirs"]
    assert report["n"] == 6 == report["wins"] + report["ties"] + report["losses"] + report["failed"] + 3
    assert report["judged"] == 2 and report["win_rate_ties_as_wins"] == pytest.approx(1 / 2)
    assert report["win_rate_ties_half"] == pytest.approx(1 / 4)
    assert report["win_rate_ties_as_wins_all_n"] == pytest.approx(1 / 6)  # failed and unmatched as losses


def test_compare_with_nothing_in_common_reports_no_rate():
    report = compare({"a": 3.0}, {"b": 3.0})
    assert (report["n"], report["unmatched"], report["judged"], report["win_rate_ties_as_wins"]) == (2, 2, 0, None)
    assert report["win_rate_ties_as_wins_all_n"] == 0.0
