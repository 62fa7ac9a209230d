"""W&B's side of the side-by-side benchmark (wandb-side-by-side.ts): the rows that
side-by-side-probe.ts logs with trackside, logged with W&B's Python SDK, unmodified: ROWS rows of
WIDTH floats (100: f0..f99; 10: m0..m9, as stats.ts's makeRow), then run.finish(), which returns
once the run is synced (online, WANDB_BASE_URL pointing at trackside's server) or written
(WANDB_MODE=offline). Its last line is `RUN <entity/project/id>`, as the trackside probe's.

Usage: python wandb-sdk-probe.py ROWS WIDTH
"""
import sys

import wandb

rows, width = int(sys.argv[1]), int(sys.argv[2])


def wide(s):
    return {f"f{k}": s * 0.001 + k for k in range(100)}


def narrow(s):
    return {"m0": s, "m1": s * 0.5, "m2": s * 0.25, "m3": 1 / (s + 1), "m4": s % 7,
            "m5": s * 1.5, "m6": s * 2.5, "m7": s * 3.5, "m8": -s, "m9": s + 0.125}


row = wide if width == 100 else narrow
run = wandb.init(project="side-by-side")
for s in range(rows):
    run.log(row(s))
path = f"{run.entity}/{run.project}/{run.id}"
run.finish()
print(f"RUN {path}", flush=True)
