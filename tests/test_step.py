"""The step object, the callback order, the metric registry, and what a checkpoint of older code holds.

Runs stored by earlier code resume under this code: a checkpoint keys each callback's state by its class name, so
the names of the callbacks that keep state, and the keys of their states, must stay as they were.
"""
import torch
import pytest
from batch_curation.data import procedural_dataset, DeviceBatches
from batch_curation.augment import SimCLRAugment
from batch_curation.simclr import SimCLRModel, conv_backbone, simclr_head, NTXentLoss
from batch_curation.learner import Learner, Step, ORDER, learner_state, LRScheduleCB, describe_metric, METRICS
from batch_curation.criteria import PAIR_CRITERIA, pair_score
from batch_curation.curation import make_curation
from batch_curation.planted import planted_callbacks

DS = procedural_dataset(n_train_per_class=12, n_test_per_class=2, size=12)


def learner(cbs=()):
    torch.manual_seed(0)
    model = SimCLRModel(conv_backbone((8, 16)), simclr_head(16, 32, 16))
    return Learner(model, DeviceBatches(DS.train_x, 24, y=DS.train_y), SimCLRAugment(size=12), NTXentLoss(0.5),
                   lr=0.05, cbs=[LRScheduleCB(), *cbs])


def test_rows_cut_every_per_pair_field_and_both_sides_of_the_negative_mask():
    B = 6
    st = Step(torch.arange(B) * 2, images=torch.zeros(B, 3, 4, 4), v1=torch.randn(B, 3, 4, 4), v2=torch.randn(B, 3, 4, 4),
              p1={'box': torch.rand(B, 4)}, p2={'box': torch.rand(B, 4)}, mean=(0.5,) * 3, std=(0.2,) * 3,
              h1=torch.randn(B, 5), h2=torch.randn(B, 5), z1=torch.randn(B, 3), z2=torch.randn(B, 3))
    st.add_loss_kwargs(pos_weight=torch.arange(B).float(), neg_mask=torch.eye(B, dtype=torch.bool).roll(1, 0))
    st.add_loss_kwargs(pos_weight=torch.full((B,), 2.))  # weights multiply
    keep = torch.tensor([1, 3, 4])
    sub = st.rows(keep)
    assert torch.equal(sub.idx, st.idx[keep]) and torch.equal(sub.z2, st.z2[keep]) and torch.equal(sub.h1, st.h1[keep])
    assert torch.equal(sub.p2['box'], st.p2['box'][keep]) and sub.mean == st.mean
    assert torch.equal(sub.loss_kwargs['pos_weight'], 2 * keep.float())
    assert torch.equal(sub.loss_kwargs['neg_mask'], st.loss_kwargs['neg_mask'][keep][:, keep])
    assert len(sub) == 3 and 'z1=(3, 3) float32' in repr(sub)


def test_the_step_carries_the_normalisation_of_its_views():
    learn = learner()
    st = learn.draw_views(Step(torch.arange(4)))
    assert (st.mean, st.std) == (learn.augment.mean, learn.augment.std)
    colours = st.v1.mean((2, 3)) * torch.tensor(st.std) + torch.tensor(st.mean)
    assert ((colours >= 0) & (colours <= 1)).all()  # back in fractions of 255


def test_callback_orders_come_from_the_one_table():
    learn = learner(make_curation('batch', warmup_steps=0) + make_curation('mask', warmup_steps=0) + planted_callbacks(0.2))
    for cb in learn.cbs:
        name = next(c.__name__ for c in type(cb).__mro__ if c.__name__ in ORDER)
        assert cb.order == ORDER[name], type(cb).__name__
    assert list(ORDER.values()) == sorted(ORDER.values())  # the table reads top to bottom in running order


def test_a_new_pair_criterion_is_one_function_and_one_line():
    "Registered once, a criterion is a choice of masking and pair selection, and planted pairs score it."
    PAIR_CRITERIA['brightness'] = lambda e1, e2, step: -(step.v1.mean((1, 2, 3)) - step.v2.mean((1, 2, 3))).abs()
    try:
        for scheme, kw in (('mask', dict(positives='brightness', negatives='none')), ('pair', dict(score='brightness'))):
            hist = learner(planted_callbacks(0.3) + make_curation(scheme, warmup_steps=0, **kw)).fit(1)
            assert 'plant_fp_brightness_precision' in hist[-1] and describe_metric('plant_fp_brightness_precision')
    finally: del PAIR_CRITERIA['brightness']


def test_the_mean_colour_criterion_is_registered():
    st = Step(torch.arange(2), v1=torch.zeros(2, 3, 4, 4), v2=torch.ones(2, 3, 4, 4), mean=(0.5,) * 3, std=(0.25,) * 3)
    assert torch.allclose(pair_score('colour', None, None, st), torch.full((2,), -(3 * 0.25 ** 2) ** 0.5))


STATE_KEYS = {  # the callbacks that keep state, by class name, and the keys old checkpoints hold (new ones may add more)
    'LRScheduleCB': None, 'RunSettingsCB': {'config', 'segments'}, 'BatchSelectionCB': {'window', 'gen'}, 'PairSelectionCB': {'gen'},
    'LossMaskCB': {'pos', 'neg'}, 'PlantedPairsCB': {'gen'}}


@pytest.mark.parametrize('scheme,kw,extra', [('batch', {}, set()), ('pair', {}, set()), ('mask', {}, set()),
                                             ('mask', dict(positives='random', negatives='random'), {'random'})])
def test_checkpoint_layout_is_what_older_code_wrote(scheme, kw, extra):
    learn = learner(make_curation(scheme, warmup_steps=1, **kw) + planted_callbacks(0.2))
    learn.fit(1)
    cbs = learner_state(learn, 1)['cbs']
    name = {'batch': 'BatchSelectionCB', 'pair': 'PairSelectionCB', 'mask': 'LossMaskCB'}[scheme]
    assert set(cbs) == {'LRScheduleCB', name, 'PlantedPairsCB'}
    assert STATE_KEYS[name] | extra <= set(cbs[name]) and STATE_KEYS['PlantedPairsCB'] <= set(cbs['PlantedPairsCB'])
    if scheme == 'mask': assert set(cbs[name]['pos']) == {'buf', 'pos', 'gen'}
