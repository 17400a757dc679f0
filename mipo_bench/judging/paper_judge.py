"""Which judge scores a policy's personalization responses by default: the paper's, by the policy's model family.

The paper judges Qwen policies with ``Qwen/Qwen2.5-14B-Instruct`` and Llama policies with
``meta-llama/Meta-Llama-3-8B-Instruct`` "to avoid any cross-model inconsistencies" (PROTOCOL.md §5.1; the scripts'
``--use_qwen`` flag). Any other model (e.g. the embedded SmolLM2 demo) has no paper judge: it judges itself, and
everything that shows the judge says so (self-judging). Nothing is loaded or downloaded here: the judge is a spec
string, loaded later by whoever judges.

    choice = paper_judge("Qwen/Qwen2.5-1.5B-Instruct")
    choice.judge, choice.reason       # ("Qwen/Qwen2.5-14B-Instruct", "the policy's name names Qwen ...")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

QWEN_JUDGE = "Qwen/Qwen2.5-14B-Instruct"
LLAMA_JUDGE = "meta-llama/Meta-Llama-3-8B-Instruct"
PAPER_JUDGES = {"qwen": QWEN_JUDGE, "llama": LLAMA_JUDGE}
LLAMA3_VOCAB = 128256  # Llama 3's tokenizer; a llama-architecture model with another vocabulary (SmolLM2: 49152) is
# not of the paper's Llama family


@dataclass(frozen=True)
class JudgeChoice:
    """The judge of a policy and why.

    Args:
        judge: the judge's model spec.
        reason: one line saying how it was chosen (shown and recorded beside the table).
        self_judging: the judge is the policy itself (no paper judge for its family, or the user asked for it).
        policy: the policy it judges (its model spec), for the judge audit's family check.
    """

    judge: str
    reason: str
    self_judging: bool
    policy: str | None = None

    def __iter__(self):
        """``judge, reason = paper_judge(policy)``."""
        return iter((self.judge, self.reason))

    def as_dict(self) -> dict:
        return {"judge": self.judge, "reason": self.reason, "self_judging": self.self_judging, "policy": self.policy}


def _config_family(path: Path) -> tuple[str | None, str] | None:
    """(family or None, why) from a local model directory's ``config.json``; None when it has none."""
    config = path / "config.json"
    if not config.is_file():
        return None
    try:
        raw = json.loads(config.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    model_type = str(raw.get("model_type") or "")
    if model_type.startswith("qwen"):
        return "qwen", f"its config.json's model_type is {model_type}"
    if model_type == "llama":
        vocab = raw.get("vocab_size")
        if vocab in (None, LLAMA3_VOCAB):
            return "llama", "its config.json's model_type is llama"
        return None, f"its config.json's model_type is llama but its vocabulary ({vocab}) is not Llama 3's"
    return None, f"its config.json's model_type is {model_type or 'not given'}"


def model_family(policy: str) -> tuple[str | None, str]:
    """("qwen" / "llama" / None, why): a local directory by its config, anything else by its name."""
    path = Path(str(policy)).expanduser()
    if path.is_dir():
        found = _config_family(path)
        if found is not None:
            return found
    name = str(policy).lower()
    for family in PAPER_JUDGES:
        if family in name:
            return family, f"its name contains {family!r}"
    return None, "its name names neither Qwen nor Llama"


def paper_judge(policy: str) -> JudgeChoice:
    """The paper's judge for ``policy`` (Qwen → Qwen2.5-14B-Instruct, Llama → Llama-3-8B-Instruct); any other
    model judges itself, marked ``self_judging``."""
    family, why = model_family(policy)
    if family is None:
        return JudgeChoice(str(policy), f"no paper judge for this policy ({why}): it judges itself", True, str(policy))
    judge = PAPER_JUDGES[family]
    return JudgeChoice(judge, f"the paper's judge for {family} policies ({why})", judge == str(policy), str(policy))


def choose_judge(policy: str, judge: str | None = None) -> JudgeChoice:
    """``judge`` when the user gave one (self-judging when it is the policy), else :func:`paper_judge`."""
    if judge:
        return JudgeChoice(judge, "given by the user (--judge)", judge == str(policy), str(policy))
    return paper_judge(policy)
