import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mipo_bench.data import extract

ABCD = list("ABCD")
CHOICES = [
    {"label": "A", "text": "Sunlight"},
    {"label": "B", "text": "cell wall"},
    {"label": "C", "text": "soil"},
    {"label": "D", "text": "ovary cells"},
]


@pytest.mark.parametrize(
    "text,strict,flexible",
    [
        ("... So the answer is 18.\n#### 18", "18", "18"),
        ("#### 1,000.", "1000", "1000"),
        ("#### $18", "18", "18"),
        ("#### -3.50", "-3.5", "-3.5"),
        ("#### 7.0", "7", "7"),
        ("She has 5 apples, then 12.", None, "12"),
        ("no numbers here", None, None),
        ("#### 4\n\n#### 5", "5", "5"),
        # a minus after a number (and a space) is subtraction, not a sign
        ("He gave 20 - 12", None, "12"),
        ("So 3-2", None, "2"),
        ("It was x = -3", None, "-3"),
        ("The total is -12.", None, "-12"),
        ("5 - -3", None, "-3"),
    ],
)
def test_numbers(text, strict, flexible):
    assert extract.number_strict(text) == strict
    assert extract.number_flexible(text) == flexible


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Reasoning... The answer is: B", "B"),
        ("the answer is (c).", "C"),
        ("THE ANSWER IS D", "D"),
        ("The answer is **A**.", "A"),
        ("The answer is [B]", "B"),
        ("The answer is: b.", "B"),
        ("The answer is a cell wall", None),  # 'a' is an article here, not option A
        ("The answer is: X.", None),  # the instruction's placeholder is never an answer
        ("The answer is A. Wait, no: the answer is C", "C"),  # the last statement wins
        ("I think B is right", None),  # strict needs 'the answer is'
    ],
)
def test_choice_strict(text, expected):
    assert extract.choice_strict(text, ABCD) == expected


def test_choice_strict_numeric_labels():
    labels = ["1", "2", "3", "4"]
    assert extract.choice_strict("The answer is: 3", labels) == "3"
    assert extract.choice_strict("The answer is: 7", labels) is None
    assert extract.choice_strict("The answer is: B", labels) is None


@pytest.mark.parametrize(
    "text,expected",
    [
        ("The answer is: B", "B"),
        ("The answer is the cell wall.", "B"),  # option text after 'the answer is'
        ("Step 1...\n(C)", "C"),  # a lone label on the last line
        ("Step 1...\nd.", "D"),
        ("The answer is: X.", None),
        ("The answer is: sunlight or soil", None),  # two options named: ambiguous
        ("Let me think about ovary cells.", "D"),  # last line names one option
    ],
)
def test_choice_flexible(text, expected):
    assert extract.choice_flexible(text, CHOICES) == expected


def test_placeholder_detection():
    assert extract.copies_placeholder("blah\nThe answer is: X.")
    assert extract.copies_placeholder("The answer is: <X>")
    assert not extract.copies_placeholder("The answer is: B")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.lists(st.sampled_from(list("ABCDE12345")), min_size=2, max_size=5, unique=True))
def test_fuzz_choices_never_return_a_non_label(text, labels):
    choices = [{"label": lab, "text": f"option {lab}"} for lab in labels]
    assert extract.choice_strict(text, labels) in labels + [None]
    assert extract.choice_flexible(text, choices) in labels + [None]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_numbers_are_canonical(text):
    for value in (extract.number_strict(text), extract.number_flexible(text)):
        if value is not None:
            float(value)
            assert "," not in value and "$" not in value and not value.endswith(".")


# --- the paper's extraction (the released scripts, PROTOCOL.md §4) ------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("So the answer is 18.\n#### 18", "18"),
        ("#### 1,200", "1"),  # the script's regex stops at the comma
        ("#### -5", "5"),  # and drops the sign
        ("#### $18.50.", "18.5"),
        ("#### 4\nthen #### 5", "4"),  # the FIRST marker, not the last
        ("#### the answer\n#### 7", None),  # no number between the first and the second marker: re-ask
        ("####", None),
        ("no marker, 12 apples", None),  # re-ask
        ("####3.", "3"),
        ("#### 0.5 liters", "0.5"),
    ],
)
def test_number_paper(text, expected):
    assert extract.number_paper(text) == expected


@pytest.mark.parametrize(
    "reply,expected",
    [("42", "42"), ("The answer is 1,200", "1"), ("-7", "7"), ("none", None), ("3.25 dollars", "3.25")],
)
def test_number_reask_takes_the_first_number(reply, expected):
    assert extract.number_reask(reply) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("The answer is: B", "B"),
        ("The answer is: <C>", "C"),
        ("the answer is (d)", None),  # lowercase letters are not read
        ("THE ANSWER IS A", "A"),
        ("The answer is: A. Wait, the answer is C", "A"),  # the first marker
        ("The answer is: <X>", None),  # the placeholder: X is not an option letter
        ('I copy "The answer is: <X>". Then: B', "B"),  # the first option letter anywhere after the first marker
        ("I think B.\nThe answer is: the second one, B", "B"),
        ("The answer is 4", None),  # digits are not letters
        ("B is right", None),  # no marker
        ("The answer is:A", "A"),
        ("The answer is: E", None),  # a 4-option item
    ],
)
def test_choice_paper(text, expected):
    assert extract.choice_paper(text, 4) == expected


def test_choice_paper_reads_e_on_five_option_items():
    assert extract.choice_paper("The answer is: E", 5) == "E"
