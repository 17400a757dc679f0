"""The stages that load a model to measure something about it, beside evaluation/ (which runs lm-eval):

- :mod:`.mi_meter` — the MI meter: a model's responses scored under a reference, with and without the context;
- :mod:`.entropy` — the entropy pass of Figures 2-3: next-token probabilities over the option letters;
- :mod:`.critic_accuracy` — Table 6: a judge's (or the RLAIF critic's) accuracy against human labels;
- :mod:`.judge_compare` — a judgment asked again: the other scoring, and a pairwise judge in both orders.

Each is a cached stage in a run directory; what they write, analysis/ reads.
"""
