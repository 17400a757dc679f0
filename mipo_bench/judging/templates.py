"""Judge templates (``judges/*.yaml``): their messages, their decoding and the parser that reads their replies.

A template has ``system`` and ``user`` (``str.format`` fields: query, response, preference, reference, criteria,
score1..score5), and optionally:

- ``max_new_tokens``: the reply budget the template needs (a bare score: a few tokens; feedback then a score: ~512);
- ``temperature`` / ``top_p``: its decoding (default greedy); judging is always seeded;
- ``retries``: sampled re-asks of an unparseable reply before it counts as failed (default 2);
- ``parser``: a name in :data:`mipo_bench.judging.parse.PARSERS` (default ``tolerant``);
- ``quote_response``: whether the response is quoted (default true; see :func:`quote`);
- ``score_first``: whether the reply begins with the score (default true; false for a template that asks for
  feedback first, e.g. rubric_grade): ``scoring: logprob`` reads the reply's first token, so it needs true;
- ``query``: what fills ``{query}``: ``raw`` (the default: the user's query as asked, PRISM's script) or
  ``personalized`` (the paper's personalized prompt, the query plus the user's context: what the CA and Multi-Bench
  scripts put after "User:", PROTOCOL.md §5.1).

The command line's ``--max-new-tokens`` / ``--retries`` override the template's values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ..core.chat import user_chat
from ..core.resources import resource_dir
from ..generation import SamplingParams
from .parse import DEFAULT_PARSER, get_parser

DEFAULT_MAX_NEW_TOKENS = 8
DEFAULT_RETRIES = 2
QUERY_KINDS = ("raw", "personalized")
_NUMERIC = {"max_new_tokens": int, "temperature": (int, float), "top_p": (int, float), "retries": int}


def template_path(name: str | Path) -> Path:
    path = Path(name) if Path(name).is_file() else resource_dir("judges") / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no judge template {str(name)!r} (a path or a name in judges/)")
    return path


def load_template(name: str | Path) -> dict:
    """The template as a dict (with ``path``), its fields checked so a typo fails here, naming the file."""
    path = template_path(name)
    template = yaml.safe_load(path.read_text())
    if not isinstance(template, dict):
        raise ValueError(f"{path}: a judge template is a YAML mapping")
    for key in ("system", "user"):
        if not isinstance(template.get(key), str):
            raise ValueError(f"{path}: judge template needs a {key!r} text field")
    for key, kind in _NUMERIC.items():
        value = template.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind) or value < 0):
            raise ValueError(f"{path}: {key!r} must be a non-negative number, not {value!r}")
    if template.get("max_new_tokens") == 0:
        raise ValueError(f"{path}: 'max_new_tokens' must be at least 1")
    if not isinstance(template.get("score_first", True), bool):
        raise ValueError(f"{path}: 'score_first' must be true or false, not {template.get('score_first')!r}")
    if template.get("query", "raw") not in QUERY_KINDS:
        raise ValueError(f"{path}: 'query' must be one of {QUERY_KINDS}, not {template.get('query')!r}")
    try:
        get_parser(template.get("parser", DEFAULT_PARSER))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return {**template, "path": str(path)}


@dataclass(frozen=True)
class Decoding:
    """How a template's judge is asked: the first reply, then the re-asks for unparseable replies."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    retries: int = DEFAULT_RETRIES
    seed: int = 0

    def first(self) -> SamplingParams:
        if self.temperature <= 0:  # greedy: top_p is unused (left at its default, so cache keys stay stable)
            return SamplingParams(temperature=0, max_new_tokens=self.max_new_tokens, seed=self.seed)
        return SamplingParams(
            temperature=self.temperature, top_p=self.top_p, max_new_tokens=self.max_new_tokens, seed=self.seed
        )

    def retry(self, attempt: int) -> SamplingParams:
        """Re-ask ``attempt`` (1, 2, ...): the template's own sampling, or T=0.7/top-p 0.95 for a greedy one."""
        sampled = self.temperature > 0
        return SamplingParams(
            temperature=self.temperature if sampled else 0.7,
            top_p=self.top_p if sampled else 0.95,
            max_new_tokens=self.max_new_tokens,
            seed=self.seed + attempt,
        )


def template_decoding(
    template: dict, max_new_tokens: int | None = None, retries: int | None = None, seed: int = 0
) -> Decoding:
    """The template's decoding with the caller's overrides (None keeps the template's value)."""
    if max_new_tokens is not None and max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, not {max_new_tokens}")
    if retries is not None and retries < 0:
        raise ValueError(f"retries must be non-negative, not {retries}")
    return Decoding(
        max_new_tokens=max_new_tokens or template.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS,
        temperature=float(template.get("temperature", 0.0)),
        top_p=float(template.get("top_p", 1.0)),
        retries=retries if retries is not None else template.get("retries", DEFAULT_RETRIES),
        seed=seed,
    )


def template_parser(template: dict):
    return get_parser(template.get("parser", DEFAULT_PARSER))


def quote(response: str) -> str:
    """Keep the judged text inside its tags: a response cannot close the block and speak to the judge."""
    return response.replace("<response>", "&lt;response&gt;").replace("</response>", "&lt;/response&gt;")


def judged_query(template: dict, query: str, context: str | None) -> str:
    """What the template's ``{query}`` is: the raw query, or the personalized prompt the user's context makes."""
    if template.get("query", "raw") != "personalized":
        return query
    from ..data.prompts import personalized_prompt

    return personalized_prompt(query, context)


def judge_messages(
    template: dict,
    query: str,
    response: str,
    preference: str = "",
    rubric: dict | None = None,
    reference: str | None = None,
    context: str | None = None,
) -> list[dict]:
    """``[system, user]`` for one (item, preference). The response is quoted unless the template says
    ``quote_response: false`` (the paper's template, which sends it verbatim). A ``query: personalized`` template gets
    the paper's personalized prompt of ``query`` and ``context`` (the user's whole context; ``preference`` when none
    is given) instead of the raw query."""
    fields = {
        "query": judged_query(template, query, context or preference),
        "response": quote(response) if template.get("quote_response", True) else response,
        "preference": preference,
        "reference": reference or "(none)",
        "criteria": "",
        **{f"score{k}": "" for k in range(1, 6)},
    }
    if rubric:
        fields["criteria"] = rubric["criteria"]
        fields.update({f"score{k}": rubric["score_descriptions"][str(k)] for k in range(1, 6)})
    user = template["user"].format(**fields)
    return user_chat(user, template["system"])
