"""Ctrl-C keeps the steps done: a learner stopped within an epoch and resumed from its checkpoint ends as one that ran on.

`bc_train` asks the learner to stop at the end of a step (`learn.stop_requested`); `CheckpointCB` then saves a
checkpoint within the epoch that holds what every callback has gathered (appendix A2). Here the same request comes
from a callback, for plain SimCLR and for every curation scheme, with planted pairs and a debiased loss too; the
resumed learner must give the same epoch logs (all but the times) and the same final weights, bit for bit.
"""
import pytest, torch
from batch_curation.data import procedural_dataset
from batch_curation.learner import Callback, StoppedEarly, CheckpointCB, MetricsFileCB, simclr_learner, read_checkpoint
from batch_curation.simclr import SimCLRModel, conv_backbone, simclr_head, make_loss
from batch_curation.curation import make_curation
from batch_curation.planted import planted_callbacks

DS = procedural_dataset(n_train_per_class=24, n_test_per_class=6, size=12)
TIMES = ('epoch_time', 'images_per_s')


class StopAt(Callback):
    "Ask the learner to stop at the end of step `step` (from 0) of epoch `epoch` (from 0), as Ctrl-C does in bc_train."
    def __init__(self, epoch=None, step=None): self.at = (epoch, step)
    def after_step(self):
        if (self.learn.epoch, self.learn.iter) == self.at: self.learn.stop_requested = True


def learner(run_dir, scheme, kw, resume=False, stop=(None, None), plant=False, loss='nt_xent'):
    torch.manual_seed(0)
    model = SimCLRModel(conv_backbone((8, 16)), simclr_head(16, 32, 16))
    cbs = [StopAt(*stop), CheckpointCB(run_dir, every=1, resume=resume), MetricsFileCB(run_dir, plot=False)]
    cbs += make_curation(scheme, data=DS, **kw) + (planted_callbacks(0.2, 0.1, seed=3) if plant else [])
    return simclr_learner(model, DS, cbs, batch_size=24, knn_k=5, progress=False, device='cpu', seed=1,
                          loss_func=make_loss(loss, 0.5, **({'tau_plus': 0.1} if loss != 'nt_xent' else {})))


CASES = {
    'none': ('none', {}, {}),
    'batch-views': ('batch', dict(warmup_steps=2, quantile=0.6), {}),
    'batch-images-frechet': ('batch', dict(warmup_steps=2, pool='images', score='frechet', quantile=0.6), {}),
    'pair': ('pair', dict(warmup_steps=2), {}),
    'mask': ('mask', dict(warmup_steps=2), {}),
    'mask-random-bank': ('mask', dict(warmup_steps=2, positives='random', negatives='bank_neighbours'), {}),
    'mask-support': ('mask', dict(warmup_steps=2, negatives='support'), {}),
    'oracle-planted': ('oracle', dict(warmup_steps=2), dict(plant=True)),
    'huber-dcl': ('mask', dict(warmup_steps=2, huber_weight=0.1), dict(loss='dcl')),
}


@pytest.mark.parametrize('case', CASES)
def test_stopped_within_an_epoch_and_resumed_ends_as_the_uninterrupted_run(case, tmp_path):
    scheme, kw, more = CASES[case]
    full = learner(tmp_path / 'full', scheme, kw, **more)
    full.fit(3)
    part = learner(tmp_path / 'part', scheme, kw, stop=(1, 3), **more)
    with pytest.raises(StoppedEarly) as e: part.fit(3)
    assert (e.value.epochs_done, e.value.steps_done) == (1, 4)
    m = read_checkpoint(tmp_path / 'part' / 'checkpoint.pt')['mid_epoch']
    assert m['steps'] == 4 and len(m['batches']) == len(full.batches)
    resumed = learner(tmp_path / 'part', scheme, kw, resume=True, **more)
    resumed.fit(3)
    strip = lambda h: [{k: 'nan' if v != v else v for k, v in r.items() if k not in TIMES} for r in h]  # NaN == NaN
    assert strip(resumed.history) == strip(full.history)
    for k, v in full.model.state_dict().items(): assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_a_stop_at_an_epoch_end_saves_that_epoch(tmp_path):
    "Asked in the epoch's last step (or while it evaluates), the learner saves the whole epoch, whatever `every` says."
    learn = learner(tmp_path / 'run', 'none', {}, stop=(0, len(DS.train_x) // 24 - 1))
    learn.cbs[1].every = 5
    with pytest.raises(StoppedEarly) as e: learn.fit(3)
    assert (e.value.epochs_done, e.value.steps_done) == (1, 0)
    s = read_checkpoint(tmp_path / 'run' / 'checkpoint.pt')
    assert s['epoch'] == 1 and 'mid_epoch' not in s


def test_a_checkpoint_of_other_callbacks_is_refused(tmp_path):
    learn = learner(tmp_path / 'run', 'mask', dict(warmup_steps=2), stop=(0, 2))
    with pytest.raises(StoppedEarly): learn.fit(2)
    other = learner(tmp_path / 'run', 'none', {}, resume=True)
    with pytest.raises(ValueError, match='a learner with a LossMaskCB, and this one has none'): other.fit(2)
