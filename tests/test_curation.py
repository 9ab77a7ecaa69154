"Curation criteria against references, the schemes' bookkeeping, resume, mixed precision and bad input (batch_curation.curation)."
import copy, json, math
from types import SimpleNamespace
import numpy as np, pytest, scipy.linalg, torch
import torch.nn.functional as F
from batch_curation.data import procedural_dataset, DeviceBatches
from batch_curation.augment import SimCLRAugment
from batch_curation.simclr import SimCLRModel, conv_backbone, simclr_head, NTXentLoss
from batch_curation.learner import (Learner, Callback, LossRecorderCB, RecorderCB, MetricsFileCB, CheckpointCB,
                                    MixedPrecisionCB, CancelFitException, Step, describe_metric, ORDER)
from batch_curation.criteria import *
from batch_curation.criteria import _psd_sqrt
from batch_curation.curation import *
import batch_curation.curation as curation
from _helpers import StopAfter

DS = procedural_dataset(n_train_per_class=24, n_test_per_class=4, size=16)


def make_model(): return SimCLRModel(conv_backbone((8, 16)), simclr_head(16, 32, 16))


def learner(cbs=(), seed=0, bs=48, labels=True):
    torch.manual_seed(seed)
    return Learner(make_model(), DeviceBatches(DS.train_x, bs, y=DS.train_y if labels else None, seed=seed),
                   SimCLRAugment(size=16), NTXentLoss(0.5), lr=0.05, cbs=[LossRecorderCB(), *cbs], seed=seed)


# --- criteria -------------------------------------------------------------------------------------------------

def frechet_reference(a, b):
    "Textbook formula in float64 with scipy's general matrix square root."
    a, b = a.double().numpy(), b.double().numpy()
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real))


@pytest.mark.parametrize("seed,n,d", [(0, 200, 4), (1, 500, 16), (2, 64, 32), (3, 1000, 3)])
def test_frechet_matches_scipy(seed, n, d):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=g, dtype=torch.float64)
    b = torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.randn(d, d, generator=g, dtype=torch.float64) * 0.5 + 0.3
    got = batch_frechet_distance(a, b, normalize=False).item()
    assert got == pytest.approx(frechet_reference(a, b), rel=1e-7, abs=1e-9)
    assert batch_frechet_distance(a, a, normalize=False).item() == pytest.approx(0, abs=1e-9)
    assert batch_frechet_distance(b, a, normalize=False).item() == pytest.approx(got, rel=1e-9)  # symmetric


def test_frechet_float32_input_is_computed_in_float64():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(128, 8, generator=g), torch.randn(128, 8, generator=g)
    fd = batch_frechet_distance(a, b)
    assert fd.dtype == torch.float64 and fd.item() == pytest.approx(frechet_reference(F.normalize(a), F.normalize(b)), rel=1e-6)
    assert batch_frechet_distance(a, a + 1e-3 * b).item() < 1e-5


def test_psd_sqrt_squares_back():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 6, generator=g, dtype=torch.float64); s = x.T @ x
    r = _psd_sqrt(s)
    assert torch.allclose(r @ r, s, atol=1e-10) and torch.allclose(r, r.T)


def test_box_iou_against_a_loop():
    g = torch.Generator().manual_seed(0)
    lo = torch.rand(50, 2, generator=g) * 20; b1 = torch.cat([lo, lo + 1 + torch.rand(50, 2, generator=g) * 12], 1)
    lo = torch.rand(50, 2, generator=g) * 20; b2 = torch.cat([lo, lo + 1 + torch.rand(50, 2, generator=g) * 12], 1)
    def ref(a, b):
        w = max(0., min(a[2], b[2]) - max(a[0], b[0])); h = max(0., min(a[3], b[3]) - max(a[1], b[1]))
        i = w * h; return i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)
    expected = torch.tensor([ref(a.tolist(), b.tolist()) for a, b in zip(b1, b2)])
    assert torch.allclose(box_iou(b1, b2), expected, atol=1e-6)
    assert torch.allclose(box_iou(b1, b1), torch.ones(50)) and torch.equal(box_iou(b1, b2), box_iou(b2, b1))


def test_crop_overlap_of_real_views():
    x = DS.train_x[:32]
    v1, v2, p1, p2 = SimCLRAugment(size=16, scale=(1.0, 1.0), ratio=(1.0, 1.0))(x, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(crop_overlap(p1, p2), torch.ones(32), atol=1e-5)  # full-image crops overlap entirely
    v1, v2, p1, p2 = SimCLRAugment(size=16)(x, generator=torch.Generator().manual_seed(0))
    iou = crop_overlap(p1, p2)
    assert iou.shape == (32,) and (iou >= 0).all() and (iou <= 1).all() and iou.std() > 0.05


def test_similarities_and_bf16():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    S = negative_similarity(z1, z2)
    assert torch.isnan(S.diagonal()).all() and torch.allclose(S.nan_to_num(), S.T.nan_to_num())
    i, j = 1, 4
    ref = sum(F.cosine_similarity(a[i], b[j], dim=0) for a in (z1, z2) for b in (z1, z2)) / 4
    assert S[i, j].item() == pytest.approx(ref.item(), abs=1e-6)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert positive_similarity(z1.bfloat16(), z2.bfloat16()).dtype == torch.float32
        assert negative_similarity(z1.bfloat16(), z2.bfloat16()).dtype == torch.float32


def test_running_quantile_matches_numpy_and_round_trips():
    rq, seen = RunningQuantile(window=4, per_batch=8), []
    g = torch.Generator().manual_seed(0)
    for n in (8, 5, 8, 3, 8, 8):
        v = torch.randn(n, generator=g); rq.push(v); seen.append(v.tolist())
    window = [x for batch in seen[-4:] for x in batch]
    for q in (0.05, 0.5, 0.9):
        assert rq.quantile(q).item() == pytest.approx(float(np.quantile(window, q)), abs=1e-6)
    other = RunningQuantile(window=4, per_batch=8); other.load_state_dict(rq.state_dict())
    assert other.quantile(0.3).item() == rq.quantile(0.3).item()


def test_likely_false_negatives_keeps_a_negative_per_image():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(10, 4, generator=g)
    S = negative_similarity(z, z)
    m = likely_false_negatives(S, -2.)  # everything above threshold
    assert torch.equal(m, m.T) and not m.diagonal().any() and (m.sum(1) <= 8).all()
    assert (NTXentLoss()(z, z, neg_mask=m)).isfinite()


# --- schemes on a stand-in learner -----------------------------------------------------------------------------

def stand_in(B=16, n=64, y=None):
    return SimpleNamespace(batches=DeviceBatches(torch.zeros(n, 3, 2, 2, dtype=torch.uint8), B, y=y), epoch=0, n_epochs=2, iter=0,
                           device=torch.device('cpu'), memory_format=torch.contiguous_format, epoch_log={})


def test_pair_selection_keeps_the_best_pairs_and_subsets_everything():
    cb = PairSelectionCB(pool_factor=1.5, warmup_steps=0, seed=3)
    l = cb.learn = stand_in(B=8, n=40); cb.before_fit(); cb.before_epoch()
    l.step = Step(torch.arange(8) * 5)
    cb.before_batch()
    pool = l.step.idx.clone()
    assert len(pool) == 12 and len(set(pool.tolist())) == 12 and torch.equal(pool[:8], torch.arange(8) * 5)
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(12, 4, generator=g); noise = torch.rand(12, generator=g)
    z2 = z1 + noise[:, None] * 3 * torch.randn(12, 4, generator=g)
    st = l.step
    st.z1, st.z2, st.h1, st.h2 = z1, z2, z1 * 2, z2 * 2
    st.v1 = st.v2 = st.images = torch.arange(12.)
    st.p1 = {'box': torch.arange(48.).view(12, 4), 'flip': torch.zeros(12, dtype=torch.bool)}; st.p2 = dict(st.p1)
    scores = positive_similarity(z1, z2)
    cb.after_predict()
    keep = scores.topk(8).indices.sort().values
    st = l.step  # a new step: the kept pairs of the old one
    assert torch.equal(st.idx, pool[keep]) and torch.equal(st.z1, z1[keep]) and torch.equal(st.v2, torch.arange(12.)[keep])
    assert torch.equal(st.p1['box'], torch.arange(48.).view(12, 4)[keep]) and torch.equal(st.h2, 2 * z2[keep])
    assert torch.equal(st.images, torch.arange(12.)[keep]) and torch.equal(st.p2['flip'], torch.zeros(8, dtype=torch.bool))


def test_pair_selection_pool_too_large():
    cb = PairSelectionCB(pool_factor=3, warmup_steps=0)
    l = cb.learn = stand_in(B=16, n=32); cb.before_fit(); l.step = Step(torch.arange(16))
    with pytest.raises(ValueError, match='pool of 48 images needs more than the 32'): cb.before_batch()


def test_loss_mask_fixed_overlap_threshold_and_combination_with_oracle():
    y = torch.arange(16) % 4
    mask = LossMaskCB(positives='overlap', pos_threshold=0.5, negatives=None, warmup_steps=0)
    orc = OracleNegativesCB(labels=y)
    l = stand_in(B=16, n=16)
    for cb in (mask, orc): cb.learn = l; cb.before_fit(); cb.before_epoch()
    boxes = torch.tensor([[0., 0., 10., 10.]]).repeat(16, 1)
    shifted = boxes + torch.linspace(0, 10, 16)[:, None] * torch.tensor([1., 0., 1., 0.])
    z = torch.randn(16, 4)
    l.step = Step(torch.arange(16), p1={'box': boxes}, p2={'box': shifted}, z1=z, z2=z)
    mask.after_predict(); orc.after_predict()
    assert torch.equal(l.step.loss_kwargs['pos_weight'], (box_iou(boxes, shifted) >= 0.5).float())
    assert torch.equal(l.step.loss_kwargs['neg_mask'], (y[:, None] == y[None]).fill_diagonal_(False))
    mask.after_epoch(); orc.after_epoch()
    assert l.epoch_log['oracle_neg_masked'] == pytest.approx(3 / 15)
    assert l.epoch_log['mask_pos_masked'] == pytest.approx(1 - (box_iou(boxes, shifted) >= 0.5).float().mean().item())


def test_huber_penalty_values_and_gradient():
    u = F.normalize(torch.randn(4, 3), dim=1).requires_grad_()
    h = positive_huber(u, u.detach().clone())
    h.backward()
    assert h.item() == 0 and torch.isfinite(u.grad).all()  # no NaN gradient at distance 0
    a, b = torch.tensor([[1., 0.]]), torch.tensor([[0., 1.]])  # distance sqrt(2)
    assert positive_huber(a, b, delta=1.).item() == pytest.approx(math.sqrt(2) - 0.5)
    assert positive_huber(a, b, delta=2.).item() == pytest.approx(1.0)


# --- schemes in the Learner -----------------------------------------------------------------------------------

@pytest.mark.parametrize("score", list(BATCH_CRITERIA))
def test_batch_selection_every_score_runs_and_trains_on_a_candidate_with_gradient(score):
    class Check(Callback):
        order = 10
        def after_loss(s):
            assert s.learn.step.z1.requires_grad and s.learn.step.z1.shape == (48, 16) and torch.isfinite(s.learn.loss)
    sel = BatchSelectionCB(score=score, quantile=0.5, tries=3, window=4, warmup_steps=2)
    learn = learner([sel, Check(), RecorderCB()]); learn.epoch_log = {}
    learn.fit(2)
    assert sel.last is not None and 1 <= sel.last['tries'] <= 3


SELECTIONS = {'views': dict(quantile=0.4),
              'images-requeue': dict(pool='images', threshold='best', tries=3),
              'images-drop-hard': dict(pool='images', rejected='drop', prefer='hard', quantile=0.4),
              'frechet-paired-fixed': dict(score='frechet_paired', threshold='fixed', threshold_value=-0.9)}


@pytest.mark.parametrize('kind', list(SELECTIONS))
def test_batch_selection_resume_is_exact(tmp_path, kind):
    def go(run_dir, stop_after=None, resume=False):
        cbs = [BatchSelectionCB(window=5, warmup_steps=3, **SELECTIONS[kind]), LossMaskCB(window=5, warmup_steps=3),
               PairSelectionCB(warmup_steps=3), RecorderCB(), MetricsFileCB(run_dir, plot=False), CheckpointCB(run_dir, resume=resume)]
        if stop_after: cbs.append(StopAfter(stop_after))
        learn = learner(cbs); learn.fit(4)
        return learn
    full = go(tmp_path / 'full')
    go(tmp_path / 'part', stop_after=2)
    resumed = go(tmp_path / 'part', resume=True)
    assert resumed.step_losses == full.step_losses[len(full.step_losses) // 2:]
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()): assert torch.equal(a, b)
    logs = [json.loads(l) for l in (tmp_path / 'part' / 'metrics.jsonl').read_text().splitlines()]
    assert [r['sel_reject_rate'] for r in logs] == [r['sel_reject_rate'] for r in full.history]
    assert {'sel_reject_rate', 'sel_window_q50', 'mask_pos_masked', 'mask_neg_masked', 'mask_neg_same_class', 'pair_from_pool',
            'sel_trained_0', 'sel_iou_shift', 'pair_dropped_class0'} <= set(logs[-1])
    assert [r['sel_trained_1'] for r in logs] == [r['sel_trained_1'] for r in full.history]
    assert sum(r['sel_extra_forwards'] for r in full.history) > 0  # the scheme acted, so resume had something to restore


@pytest.mark.parametrize('kw', [dict(pool='images'), dict(pool='images', threshold='best', rejected='drop'),
                                dict(prefer='hard', score='frechet_paired')])
def test_batch_selection_in_warm_up_is_the_baseline(kw):
    "During the warm-up an image pool takes the epoch's batches in the baseline's order and draws no random number."
    base = learner()
    base.fit(2)
    learn = learner([BatchSelectionCB(warmup_steps=10 ** 6, **kw)])
    learn.fit(2)
    assert learn.step_losses == base.step_losses
    assert learn.batches.gen.get_state().equal(base.batches.gen.get_state())


def test_image_pool_trains_the_best_candidate_and_requeues_the_rest(monkeypatch):
    class Spy(Callback):
        order = 1.5  # after the selection: what the loss will see
        def before_fit(s): s.trained = []
        def after_predict(s): s.trained.append(s.learn.step.idx.clone())
    sel, spy = BatchSelectionCB(pool='images', threshold='best', tries=2, warmup_steps=0, seed=3), Spy()
    learn = learner([sel, spy])
    picks = []
    orig = curation.keep_best
    def keep_best(cands, scores, requeue=None):  # the choice of every step that drew candidates
        prefs, best = orig(cands, scores, requeue)
        picks.append(([c.idx.clone() for c in cands], prefs, best))
        return prefs, best
    monkeypatch.setattr(curation, 'keep_best', keep_best)
    learn.fit(1)
    assert len(picks) == len(learn.batches) and all(len(c) == 2 for c, _, _ in picks)
    for (cands, prefs, best), trained in zip(picks, spy.trained):
        assert prefs[best] == max(prefs) and torch.equal(cands[best], trained)
        assert not torch.equal(cands[0], cands[1])  # other images, not other views
    # requeued: a rejected batch's images come back as a later candidate of the same epoch
    rejected = [set(c[1 - b].tolist()) for c, _, b in picks[:2]]
    later = [set(i.tolist()) for c, _, _ in picks[2:] for i in c]
    assert all(any(r <= l for l in later) for r in rejected)


def test_running_quantile_samples_at_random_and_resumes():
    g = torch.Generator().manual_seed(0)
    offsets = torch.linspace(-1, 1, 128)
    batches = [(torch.randn(128, 128, generator=g) + offsets).fill_diagonal_(float('nan')) for _ in range(40)]
    a, b = RunningQuantile(30, 512, seed=1), RunningQuantile(30, 512, seed=1)
    for x in batches[:20]: a.push(x)
    b.load_state_dict(copy.deepcopy(a.state_dict()))
    for x in batches[20:]: a.push(x); b.push(x)
    assert torch.equal(a.buf.nan_to_num(7.), b.buf.nan_to_num(7.))
    pooled = torch.cat([x.flatten() for x in batches])
    true_q = torch.nanquantile(pooled, 0.99).item()
    assert abs(a.quantile(0.99).item() - true_q) < 0.06  # standard error about 0.02 with 30 x 512 samples


def test_warm_up_and_none_are_bit_identical_to_the_baseline():
    base = learner(); base.fit(2)
    for name in SCHEMES:
        extra = {} if name == 'none' else {'warmup_steps': 10 ** 6}
        learn = learner(make_curation(name, data=DS, **extra)); learn.fit(2)
        assert learn.step_losses == base.step_losses, name
        assert learn.aug_gen.get_state().equal(base.aug_gen.get_state()) and learn.batches.gen.get_state().equal(base.batches.gen.get_state())


def test_schemes_under_bf16_autocast():
    cbs = [MixedPrecisionCB()] + make_curation('batch', warmup_steps=1, huber_weight=0.1) + make_curation('mask', warmup_steps=1)
    learn = learner(cbs); learn.fit(2)
    assert all(math.isfinite(l) for l in learn.step_losses)


def test_frozen_scorer_from_a_checkpoint(tmp_path):
    trained = learner([CheckpointCB(tmp_path)]); trained.fit(1)
    cbs = make_curation('batch', scorer=str(tmp_path / 'checkpoint.pt'), scorer_factory=make_model, warmup_steps=0, window=3)
    sel = cbs[0]
    assert not any(p.requires_grad for p in sel.scorer.parameters()) and not sel.scorer.training
    for a, b in zip(sel.scorer.state_dict().values(), trained.model.state_dict().values()): assert torch.equal(a, b)
    learn = learner(cbs + [RecorderCB()]); learn.fit(1)
    assert 0 <= learn.epoch_log['sel_reject_rate'] <= 1
    h_scorer = make_curation('mask', scorer=trained.model, space='h', warmup_steps=0)[0]
    learn = learner([h_scorer]); learn.fit(1)
    assert 'pos_weight' in learn.step.loss_kwargs


def test_make_curation_errors():
    for name in SCHEMES[1:]: assert make_curation(name, data=DS)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) qantile, windw for curation scheme 'mask'; valid: positives"):
        make_curation('mask', qantile=0.1, windw=3)
    with pytest.raises(ValueError, match="unknown curation scheme 'best'"): make_curation('best')
    with pytest.raises(ValueError, match=r"quantile=1.5 must be in \(0, 1\)"): make_curation('batch', quantile=1.5)
    with pytest.raises(ValueError, match="pool_factor=0.5 must be >= 1"): make_curation('pair', pool_factor=0.5)
    with pytest.raises(ValueError, match="space='x'"): make_curation('mask', space='x')
    with pytest.raises(ValueError, match="scorer checkpoint nowhere.pt does not exist"):
        make_curation('batch', scorer='nowhere.pt', scorer_factory=make_model)
    with pytest.raises(ValueError, match="the oracle scheme needs labels"): learner(make_curation('oracle'), labels=False).fit(1)
    assert 'scorer' not in scheme_params('oracle') and 'huber_weight' not in scheme_params('huber')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA: checks that masking, pair selection and the oracle never wait for the GPU')
def test_schemes_make_no_host_sync_on_cuda():
    from batch_curation.learner import DeviceCB
    class Strict(Callback):
        def __init__(self, order, mode): self.order, self.mode = order, mode
        def before_batch(self): torch.cuda.set_sync_debug_mode(self.mode)
        def after_predict(self): torch.cuda.set_sync_debug_mode(self.mode)
    cbs = [DeviceCB(), Strict(1.5, 'error'), *make_curation('pair', warmup_steps=1), *make_curation('mask', warmup_steps=1),
           OracleNegativesCB(warmup_steps=1), Strict(4.5, 'default'), Strict(-20, 'default')]
    torch.manual_seed(0)
    learn = Learner(make_model(), DeviceBatches(DS.train_x, 48, y=DS.train_y, device='cuda'), SimCLRAugment(size=16),
                    NTXentLoss(0.5), lr=0.05, cbs=cbs)
    try: learn.fit(1)
    finally: torch.cuda.set_sync_debug_mode('default')


def test_every_study_config_builds_its_scheme():
    import tomllib
    from pathlib import Path
    files = sorted((Path(__file__).resolve().parents[1] / 'configs').rglob('*.toml'))
    assert len(files) >= 15
    for f in files:
        c = tomllib.loads(f.read_text())
        cbs = make_curation(c.get('curation', 'none'), data=DS, **c.get('curation_args', {}))
        assert (c.get('curation', 'none') == 'none') == (cbs == []), f


def test_image_pool_under_notebook_progress_bars_keeps_the_baseline_order():
    "The notebook progress bar wraps what the learner iterates, so an image pool draws each epoch's order once."
    from batch_curation.learner import ProgressCB
    base = learner([ProgressCB(notebook=True, plot=False)])
    base.fit(2)
    learn = learner([BatchSelectionCB(pool='images', warmup_steps=10 ** 6), ProgressCB(notebook=True, plot=False)])
    learn.fit(2)
    assert learn.step_losses == base.step_losses
    assert learn.batches.gen.get_state().equal(base.batches.gen.get_state())


def test_loss_masking_takes_none_as_a_string():
    "Config files (TOML) have no null: 'none' turns a side of loss masking off, as None does."
    cb = make_curation('mask', positives='none', negatives='none')[0]
    assert cb.positives is None and cb.negatives is None
    with pytest.raises(ValueError, match="unknown positives 'nothing'"): make_curation('mask', positives='nothing')


@pytest.mark.parametrize("scheme,kw", [('batch', {}), ('batch', dict(pool='images', threshold='best')),
                                       ('pair', {}), ('mask', dict(negatives='similarity')), ('overlap', {}),
                                       ('oracle', {}), ('mask', dict(huber_weight=0.1))])
def test_every_logged_statistic_is_described(scheme, kw):
    "The metric registry is the one home of the statistics: whatever a scheme logs, it declares."
    cbs = make_curation(scheme, data=DS, **{'warmup_epochs': 0, **kw})
    hist = learner(cbs).fit(1)
    logged = [k for k in hist[-1] if k.split('_')[0] in ('sel', 'pair', 'mask', 'oracle', 'huber')]
    assert logged, f"{scheme} logged no statistics"
    assert [k for k in logged if describe_metric(k) is None] == []
    assert {k for k in logged if k in CURATION_PLOT_KEYS}, f"{scheme}: none of its statistics is plotted"


@pytest.mark.parametrize('negatives', ['support', 'bank_neighbours', 'random'])
def test_loss_masking_resumes_exactly_with_every_kind_of_state(tmp_path, negatives):
    "Random scores, support views and last epoch's memory bank all continue where they stopped after a resume."
    def go(run_dir, stop_after=None, resume=False):
        cbs = [LossMaskCB(positives='random', negatives=negatives, window=5, warmup_steps=3), RecorderCB(),
               MetricsFileCB(run_dir, plot=False), CheckpointCB(run_dir, resume=resume)]
        if stop_after: cbs.append(StopAfter(stop_after))
        learn = learner(cbs)
        learn.fit(4)
        return learn
    full = go(tmp_path / 'full')
    go(tmp_path / 'part', stop_after=2)
    resumed = go(tmp_path / 'part', resume=True)
    assert resumed.step_losses == full.step_losses[len(full.step_losses) // 2:]
    logs = [json.loads(l) for l in (tmp_path / 'part' / 'metrics.jsonl').read_text().splitlines()]
    assert [r['mask_neg_masked'] for r in logs] == [r['mask_neg_masked'] for r in full.history]
    assert full.history[-1]['mask_neg_masked'] > 0  # the detector acted after the resume, so its state mattered


# --- the schemes' own seeds (curation_seed) ---------------------------------------------------------------------

def test_new_views_in_step_with_the_learner_are_refused():
    "Seed 0 everywhere, no warm-up, 'best': the 'new views' candidate would be the first batch again, a run without selection."
    sel = BatchSelectionCB(pool='views', threshold='best', warmup_steps=0, seed=0)
    with pytest.raises(ValueError, match=r'seed 0\) is in step with the learner.*--curation-seed'):
        learner([sel], seed=0).fit(1)


def test_a_scheme_seed_of_its_own_draws_other_views():
    "With a seed of its own (what preset_config derives) the second candidate differs, and so does its score."
    sel = BatchSelectionCB(pool='views', threshold='best', warmup_steps=0, seed=10_000)
    learner([sel], seed=0).fit(1)
    assert sel.last['tries'] == 2 and sel.last['scores'][0] != sel.last['scores'][1]
    assert sel.learn.epoch_log['sel_score_gap'] != 0


def test_preset_config_derives_the_curation_seed_and_stored_configs_keep_zero(tmp_path):
    from batch_curation.train import TrainConfig, preset_config, build_data, build_learner, CURATION_SEED_OFFSET
    assert [preset_config('smoke', seed=s).curation_seed for s in (0, 3)] == [CURATION_SEED_OFFSET, 3 + CURATION_SEED_OFFSET]
    assert preset_config('smoke', seed=3, curation_seed=0).curation_seed == 0  # given: kept
    assert TrainConfig().curation_seed == 0  # a stored config.json without the key: the schemes' default seed, as before
    def mask_seeds(**kw):
        c = preset_config('smoke', curation='mask', out=str(tmp_path), name='r', **kw)
        learn = build_learner(c, build_data(c), tmp_path / 'r', progress=False)
        return [cb.seed for cb in learn.cbs if isinstance(cb, LossMaskCB)]
    assert mask_seeds(seed=2) == [2 + CURATION_SEED_OFFSET]
    assert mask_seeds(seed=2, curation_seed=0) == [0]  # today's behaviour of every stored run
    assert mask_seeds(seed=2, curation_args={'seed': 7}) == [7]  # the scheme's own argument wins


def test_random_masks_differ_between_seeds_with_their_own_curation_seed(tmp_path):
    "The random controls drew the same scores in every seed; with curation_seed from the run's seed they differ."
    from batch_curation.train import preset_config, build_data, build_learner
    def dropped(seed, **kw):
        c = preset_config('smoke', curation='mask', curation_args={'positives': 'random', 'negatives': 'none',
                          'warmup_epochs': 0.}, seed=seed, epochs=1, out=str(tmp_path), name=f'r{seed}', **kw)
        learn = build_learner(c, build_data(c), tmp_path / f'r{seed}', progress=False)
        cb = next(cb for cb in learn.cbs if isinstance(cb, LossMaskCB))
        return random_scores(64, torch.Generator().manual_seed(cb.seed + 2), pairs=True)
    assert torch.equal(dropped(0, curation_seed=0), dropped(1, curation_seed=0))  # the stage-3 controls: the same draws
    assert not torch.equal(dropped(0), dropped(1))
