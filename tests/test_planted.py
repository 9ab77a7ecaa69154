"Planted bad pairs (batch_curation.planted): exact resume, the truth travels with the candidates, bad input."
import json
import pytest, torch
from batch_curation.data import procedural_dataset, DeviceBatches
from batch_curation.augment import SimCLRAugment
from batch_curation.simclr import SimCLRModel, conv_backbone, simclr_head, NTXentLoss
from batch_curation.learner import (Learner, Callback, LossRecorderCB, RecorderCB, MetricsFileCB, CheckpointCB,
                                    CancelFitException)
from batch_curation.curation import make_curation
from batch_curation.planted import *
from _helpers import StopAfter

DS = procedural_dataset(n_train_per_class=24, n_test_per_class=4, size=16)


def learner(cbs=(), seed=0):
    torch.manual_seed(seed)
    model = SimCLRModel(conv_backbone((8, 16)), simclr_head(16, 32, 16))
    return Learner(model, DeviceBatches(DS.train_x, 48, y=DS.train_y, seed=seed), SimCLRAugment(size=16), NTXentLoss(0.5),
                   lr=0.05, cbs=[LossRecorderCB(), RecorderCB(), *cbs], seed=seed)


@pytest.mark.parametrize('scheme,kw', [('batch', dict(pool='images', threshold='best')), ('mask', {}), ('pair', {})])
def test_planted_runs_resume_exactly(tmp_path, scheme, kw):
    def go(run_dir, stop_after=None, resume=False):
        cbs = planted_callbacks(0.25, 0.1, seed=3) + make_curation(scheme, data=DS, warmup_steps=2, **kw)
        cbs += [MetricsFileCB(run_dir, plot=False), CheckpointCB(run_dir, resume=resume)]
        if stop_after: cbs.append(StopAfter(stop_after))
        learn = learner(cbs)
        learn.fit(4)
        return learn
    full = go(tmp_path / 'full')
    go(tmp_path / 'part', stop_after=2)
    resumed = go(tmp_path / 'part', resume=True)
    assert resumed.step_losses == full.step_losses[len(full.step_losses) // 2:]
    logs = [json.loads(l) for l in (tmp_path / 'part' / 'metrics.jsonl').read_text().splitlines()]
    for key in ('plant_fp_rate', 'plant_fp_trained_rate', 'plant_fn_rate', 'plant_fp_similarity_precision'):
        assert [r[key] for r in logs] == [r[key] for r in full.history], key
    assert isinstance(resumed.augment, SimCLRAugment)  # the wrapper is removed after the fit


def test_the_truth_follows_what_is_trained():
    "Pair selection cuts the pool: the planted mask that reaches the loss is the kept pairs' own."
    class Check(Callback):
        order = 20
        def before_fit(s): s.n = 0
        def after_predict(s):
            l = s.learn.step
            assert len(l.p2['planted']) == len(l.idx) == 48
            s.n += 1
    check = Check()
    learn = learner(planted_callbacks(0.3, seed=1) + make_curation('pair', warmup_steps=0) + [check])
    learn.fit(1)
    assert check.n == len(learn.batches)


def test_views_of_the_same_planted_images_are_not_planted_again():
    "Batch selection over views re-draws views of the already planted images: no new duplicates appear."
    class Spy(Callback):
        order = 5
        def before_fit(s): s.dups = []
        def after_predict(s): s.dups.append(same_image_pairs(s.learn.step.idx).sum().item())
    spy = Spy()
    learn = learner(planted_callbacks(false_negatives=0.2, seed=0) + [spy])
    learn.fit(1)
    spy2 = Spy()
    sel = make_curation('batch', threshold='best', warmup_steps=0, seed=10_000)  # a seed apart from the views'
    learn2 = learner(planted_callbacks(false_negatives=0.2, seed=0) + sel + [spy2])
    learn2.fit(1)
    assert spy.dups[0] == spy2.dups[0] > 0  # the first batch is planted alike, and re-drawn views add no copies


@pytest.mark.parametrize('kw,msg', [(dict(false_positives=-0.1), 'false_positives=-0.1'),
                                    (dict(false_negatives=0.9), 'false_negatives=0.9')])
def test_bad_rates(kw, msg):
    with pytest.raises(ValueError, match=msg): PlantedPairsCB(**kw)
