"""The paper's prompts, verbatim from the released scripts (../shared/PROTOCOL.md §2, §4.1), shared by the lm-eval
tasks, the pair builders, the re-ask pass and the demo. Every prompt is ONE user message.

Math (GSM8K, SVAMP): the instruction, the 8 exemplars, then "New question: …" (PROTOCOL §2.1).
Multiple choice (ARC, and MMLU with "the same template"): the instruction, the question, options lettered A, B, C, …
by position as "A: text", the instruction repeated, no trailing "Answer:" (PROTOCOL §2.2).
Personalization: the PRISM script's personalized and base (no-context) prompts (PROTOCOL §2.3).
"""

from __future__ import annotations

from .sampling import LETTERS

# FEWSHOT_SOURCES of the released gsm.py/svamp.py (the same 8 questions as OLMES STD:GSM8k): (question, answer, short).
GSM8K_EXEMPLARS = [
    (
        "There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, "
        "there will be 21 trees. How many trees did the grove workers plant today?",
        "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have "
        "been 21 - 15 = 6. So the answer is 6.",
        "6",
    ),
    (
        "If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
        "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. So the answer is 5.",
        "5",
    ),
    (
        "Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?",
        "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, "
        "they had 74 - 35 = 39. So the answer is 39.",
        "39",
    ),
    (
        "Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did "
        "Jason give to Denny?",
        "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. "
        "So the answer is 8.",
        "8",
    ),
    (
        "Shawn has five toys. For Christmas, he got two toys each from his mom and dad. "
        "How many toys does he have now?",
        "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9. "
        "So the answer is 9.",
        "9",
    ),
    (
        "There were nine computers in the server room. Five more computers were installed each day, from monday to "
        "thursday. How many computers are now in the server room?",
        "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 computers "
        "were added. 9 + 20 is 29. So the answer is 29.",
        "29",
    ),
    (
        "Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf "
        "balls did he have at the end of wednesday?",
        "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, "
        "he had 35 - 2 = 33 golf balls. So the answer is 33.",
        "33",
    ),
    (
        "Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
        "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars "
        "left. 23 - 15 is 8. So the answer is 8.",
        "8",
    ),
]

MATH_INSTRUCTION = (
    "You are a helpful math assistant. Solve the following problem step-by-step and give the final answer after ####."
)
MCQ_INSTRUCTION = (
    "You are a helpful assistant. The following is a multiple choice question with answer choices. Your response "
    'should show clear and concise reasoning, and you should end with "The answer is: <X>", where X is the correct '
    "letter choice."
)
MCQ_REMINDER = 'Your response should end with "The answer is: <X>", where X is the correct letter choice.'

PERSONALIZED_PROMPT = (
    "Give me short 2-3 sentence answers to the following prompt: {prompt} Please respect the following requirements "
    "made by the user: {request} Respond with short 2-3 sentences."
)
BASE_PROMPT = "Give me short 2-3 sentence answers to the following prompt: {prompt} Respond with short 2-3 sentences."


def math_prompt(question: str) -> str:
    """The scripts' ``augmented_prompt``: instruction, 8 exemplars, "New question: …" (stripped, as eval passes it)."""
    examples = "\n\n".join(
        f"Example {i + 1}:\nQuestion: {q}\nAnswer: {a}\n#### {short}" for i, (q, a, short) in enumerate(GSM8K_EXEMPLARS)
    )
    return f"{MATH_INSTRUCTION}\n\n{examples}\n\nNew question: {question}".strip()


def mcq_prompt(question: str, choices: list[dict]) -> str:
    """The ARC script's prompt; options are lettered by position (the dataset's own labels are not shown)."""
    options = "\n".join(f"{LETTERS[i]}: {c['text']}" for i, c in enumerate(choices))
    return f"{MCQ_INSTRUCTION}\n\n{question}\n\n{options}\n\n{MCQ_REMINDER}"


def task_prompt(record: dict) -> str:
    """The eval-task prompt of a normalized record (multiple choice if it has choices)."""
    if record.get("choices"):
        return mcq_prompt(record["question"], record["choices"])
    return math_prompt(record["question"])


def reask_prompt(dataset: str, response: str) -> str:
    """The math scripts' second pass: ask the same model for the number in its own reasoning."""
    from .spec import DATASETS, dataset_spec

    prompt = dataset_spec(dataset).reask_prompt
    if prompt is None:
        reasked = sorted(name for name, spec in DATASETS.items() if spec.reask_prompt)
        raise ValueError(f"no re-ask prompt for {dataset!r}; the paper re-asks on {reasked}")
    return prompt + response


def personalized_prompt(prompt: str, context: str | None) -> str:
    """The paper's personalized prompt (the query plus the user's requirements), or its base prompt without context."""
    if not context:
        return BASE_PROMPT.format(prompt=prompt)
    return PERSONALIZED_PROMPT.format(prompt=prompt, request=context)
