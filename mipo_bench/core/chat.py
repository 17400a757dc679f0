"""Chat messages as every layer passes them: a list of ``{"role", "content"}`` dicts (TRL's conversational format)."""

from __future__ import annotations


def user_chat(text: str, system: str | None = None) -> list[dict]:
    """One user message, after a system message when ``system`` is given (and not blank)."""
    head = [{"role": "system", "content": system}] if system and system.strip() else []
    return head + [{"role": "user", "content": text}]


def is_chat(messages) -> bool:
    """A non-empty list of ``{"role", "content"}`` messages whose contents are strings."""
    return (
        isinstance(messages, (list, tuple))
        and bool(messages)
        and all(isinstance(m, dict) and "role" in m and isinstance(m.get("content"), str) for m in messages)
    )


def last_user_text(messages) -> str:
    """The content of the last user message ("" when there is none)."""
    users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1] if users and isinstance(users[-1], str) else ""
