"""Judges, one module a job:

- :mod:`.templates` / :mod:`.parse` — the judge templates (judges/*.yaml) and their score parsers (registered);
- :mod:`.calls` — the judge calls: one per (item, preference), batched, the reply parsed with bounded retries or the
  expected rating from the label log-probs (``scoring: logprob``), failures recorded, never defaulted;
- :mod:`.samples` — one judge run over an lm-eval samples file (response side and reference side), its files;
- :mod:`.pairwise` — a pairwise judge asked in both orders; :mod:`.winrate` — win-rates and the per-item rule;
- :mod:`.paper_judge` — which judge the paper used for a policy's family; :mod:`.folders` — where a judgment's
  files are; :mod:`.contexts` — the user contexts stage (PRISM, CA, Multi-Bench).
"""
