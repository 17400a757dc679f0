"""What each row of a paper-scale rehearsal trained on, read from its run directories (written by
benchmarks/rehearse_paper_scale.py): the measures behind issue 22's defects, for a before / after comparison.

    python benchmarks/plan_fidelity.py runs/rehearsal        # the folder holding table1/ and table2/

Prints, as JSON: for Table 1's SFT (Revision) rows, the share of the bad responses they revised that were written for
another user's context (§5.1), for none, or for the user's own; for Table 2's RLVR rows, the optimizer steps and the
rollouts; for each table's pairs, the sampling they were drawn with (top-k and repetition penalty included) and the
pair strategy. Works on run directories of any layout: it follows each train manifest to the data file it read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REQUIREMENTS = "Please respect the following requirements made by the user: "


def requirement(prompt: str) -> str | None:
    if REQUIREMENTS not in prompt:
        return None
    return prompt.split(REQUIREMENTS, 1)[1].rsplit(" Respond with short 2-3 sentences.", 1)[0]


def manifests(table: Path) -> dict[str, dict]:
    return {str(p.parent.relative_to(table)): json.loads(p.read_text()) for p in table.rglob("train.manifest.json")}


def revision_contexts(table: Path) -> dict:
    out = {}
    for where, m in manifests(table).items():
        if not where.endswith("/sft_revision"):
            continue
        rows = [json.loads(line) for line in Path(m["data"]).read_text().splitlines() if line.strip()]
        kinds = {"another user's context": 0, "no context": 0, "the user's own context": 0}
        for r in rows:
            own, bad = requirement(r["prompt"][0]["content"]), requirement(r["rejected_prompt"])
            key = "no context" if bad is None else "the user's own context" if bad == own else "another user's context"
            kinds[key] += 1
        out[where] = {"pairs": len(rows), **kinds, "data": m["data"]}
    return out


def rlvr_steps(table: Path) -> dict:
    out = {}
    for where, m in manifests(table).items():
        if not where.endswith("/rlvr"):
            continue
        log = (table / where / "train_log.jsonl").read_text().splitlines()
        steps = sum('"loss"' in line for line in log)
        s = m["settings"]
        prompts = json.loads(Path(m["data"]).with_name("prompts.manifest.json").read_text())["source"]["n"]
        out[where] = {
            "prompts": prompts,
            "optimizer_steps": steps,
            "rollouts": prompts * s["num_generations"] * s["num_train_epochs"],
            "epochs": s["num_train_epochs"],
            "update_passes": s.get("num_iterations", 1),
        }
    return out


def pairs_sampling(table: Path) -> dict:
    out = {}
    for path in sorted(table.rglob("pairs.manifest.json")):
        m = json.loads(path.read_text())
        sampling = {k: m["sampling"].get(k) for k in ("temperature", "top_p", "max_new_tokens", "top_k")}
        sampling["repetition_penalty"] = m["sampling"].get("repetition_penalty")
        defaults = m.get("model_generation_defaults") or {}
        out[str(path.parent.parent.relative_to(table))] = {
            "strategy": m["strategy"],
            "sampling": sampling,
            "model_defaults_recorded": {k: defaults.get(k) for k in ("top_k", "repetition_penalty")},
        }
    return out


def main(root: str) -> dict:
    root = Path(root)
    report = {}
    if (root / "table1").is_dir():
        report["table1_revision_bad_responses"] = revision_contexts(root / "table1")
        report["table1_pairs"] = pairs_sampling(root / "table1")
    if (root / "table2").is_dir():
        report["table2_rlvr"] = rlvr_steps(root / "table2")
        report["table2_pairs"] = pairs_sampling(root / "table2")
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/rehearsal")
