"""The leaderboard: a SQLite store of evaluation entries (:mod:`.store`), their ranking against the same base model
(:mod:`.rank`), and renderers for the terminal, Markdown, CSV (:mod:`.render`) and a static HTML page (:mod:`.page`).
"""

from .rank import leaderboard
from .store import ResultsStore

__all__ = ["ResultsStore", "leaderboard"]
