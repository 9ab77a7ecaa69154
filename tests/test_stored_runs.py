"""The stored CPU-study runs re-run bit for bit: the first two epochs of a run, from its own config.json.

By default five runs: two of stage 2 and three of stage 3 (a positive mask by crop IoU, random negatives, a loss
option), the code paths a change of the step is most likely to move. BC_STORED_RUNS=all adds seed 0 of every other
stage-3 arm (about a minute each on one thread): run it after any change to the training step.

Every field of the stored `metrics.jsonl` is compared exactly except the two that measure time (fields added since
the runs were stored, such as the crop IoU of masked positives, are not in them). The runs trained on CIFAR-10
(a fixed subset of 10,000 images): the test needs the archive that BC_CIFAR10_ARCHIVE names, and is skipped without.
"""
import json, os
from pathlib import Path
import pytest, torch
from batch_curation.train import TrainConfig, build_data, build_learner
from _helpers import StopAfter

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / 'results' / 'cifar10-cpu'
TIMING = ('epoch_time', 'images_per_s')  # wall-clock measurements: the only fields that may differ
EPOCHS = 2

needs_archive = pytest.mark.skipif(not os.environ.get('BC_CIFAR10_ARCHIVE'),
                                   reason='set BC_CIFAR10_ARCHIVE to the CIFAR-10 archive the stored runs trained on')


DEFAULT = ['mask-s0', 'batch-images-frechet-s0', 'pos-iou-s0', 'neg-random-s0', 'hcl-s0']
STAGE3 = sorted(f'{c.stem}-s0' for c in (ROOT / 'configs' / 'cifar10-cpu' / 'stage3').glob('*.toml'))
RUNS = DEFAULT + [r for r in STAGE3 if r not in DEFAULT] if os.environ.get('BC_STORED_RUNS') == 'all' else DEFAULT


def test_the_runs_are_stored():
    "A stored run named here that went missing would otherwise be a failure only where the archive is."
    missing = [r for r in DEFAULT + STAGE3 if not (STUDY / r / 'metrics.jsonl').exists()]
    assert not missing, f'not in {STUDY}: {missing}'


@needs_archive
@pytest.mark.parametrize('run', RUNS)
def test_stored_run_repeats_its_first_epochs(run, tmp_path):
    stored = [json.loads(l) for l in (STUDY / run / 'metrics.jsonl').read_text().splitlines()[:EPOCHS]]
    c = TrainConfig(**{**json.loads((STUDY / run / 'config.json').read_text()), 'out': str(tmp_path), 'name': run})
    threads = torch.get_num_threads()
    torch.set_num_threads(c.threads)
    try:
        learn = build_learner(c, build_data(c), tmp_path / run, progress=False)
        history = learn.fit(c.epochs, cbs=[StopAfter(EPOCHS)])  # the full schedule of c.epochs, stopped early
    finally: torch.set_num_threads(threads)
    assert len(history) == EPOCHS
    for old, new in zip(stored, history):
        assert set(old) <= set(new), f"epoch {old['epoch']}: not logged again: {sorted(set(old) - set(new))}"
        differ = {k: (old[k], new[k]) for k in old if k not in TIMING and old[k] != new[k]}
        assert not differ, f"{run}, epoch {old['epoch']}: stored != re-run: {differ}"
