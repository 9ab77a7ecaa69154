#!/usr/bin/env python
"""Train the stored baseline design again and keep its full learner state at chosen epochs, for the detector benchmark.

    python tools/detector_checkpoints.py --seeds 0 1 --epochs 2 5 10 20 30 --out data/detector-checkpoints

Each seed is one run folder `OUT/baseline-sSEED` (config, metrics.jsonl, checkpoint.pt, summary.json) with
`epochNN.pt` beside it: the learner state after epoch NN, batches and view generators included, so that the benchmark
draws the next epoch's batches exactly as training would. The config is the stored baseline's
(configs/cifar10-cpu/stage1/baseline.toml), so its metrics repeat the stored run's bit for bit; the script checks that
at the end. A stopped seed resumes; a finished one is skipped. Checkpoints are git-ignored (data/ holds them).
"""
import argparse, json, sys
from pathlib import Path
from batch_curation.train import preset_config, read_config_file, set_up, fit_run
from batch_curation.insights import BankSnapshotCB

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'configs' / 'cifar10-cpu' / 'stage1' / 'baseline.toml'
STORED = ROOT / 'results' / 'cifar10-cpu'


def snapshot_run(seed:int, epochs:list, out:Path)->Path:
    "Train (or resume) baseline seed `seed` into `out/baseline-sSEED` with snapshots at `epochs`; returns the folder."
    run = out / f'baseline-s{seed}'
    if (run / 'summary.json').exists() and all((run / f'epoch{e:02d}.pt').exists() for e in epochs):
        print(f"finished: {run}", flush=True)
        return run
    file = read_config_file(CONFIG)
    c = preset_config(file.pop('preset'), **{**file, 'seed': seed, 'out': str(out), 'name': run.name})
    r = set_up(c, resume_dir=run if (run / 'checkpoint.pt').exists() else None, progress=False)
    r.learn.add_cbs(BankSnapshotCB(run, epochs))
    fit_run(r)
    return run


def same_as_stored(run:Path)->bool:
    "Whether the run's per-epoch metrics equal the stored baseline's of its seed (timings aside)."
    stored = STORED / run.name / 'metrics.jsonl'
    if not stored.exists(): return True
    timing = ('epoch_time', 'images_per_s')
    rows = lambda p: [{k: v for k, v in json.loads(l).items() if k not in timing} for l in p.read_text().splitlines()]
    return rows(stored) == rows(run / 'metrics.jsonl')


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--epochs', type=int, nargs='+', default=[2, 5, 10, 20, 30])
    p.add_argument('--out', type=Path, default=ROOT / 'data' / 'detector-checkpoints')
    a = p.parse_args()
    for s in a.seeds:
        run = snapshot_run(s, a.epochs, a.out)
        if not same_as_stored(run): sys.exit(f"{run}: its metrics differ from the stored {STORED / run.name}")
        print(f"{run}: repeats the stored baseline-s{s} bit for bit", flush=True)
