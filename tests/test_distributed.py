"""Multi-process training (nbs/06_distributed.ipynb): two gloo processes on the CPU against one process.

One pair of spawned processes runs every multi-process scenario (starting processes costs seconds each time), and
one test checks all its results; a second test runs `torchrun ... -m batch_curation.train` end to end, and resumes.
"Equal to one process" means within 1e-5 (absolute, float32: the sums run in a different order). The model in these
checks has no BatchNorm: on the CPU each process would normalise with its own shard's statistics (SyncBatchNorm
needs CUDA), which is not the single-process computation.
"""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from torch import nn
import torch.distributed as dist
from batch_curation.augment import SimCLRAugment, normalize
from batch_curation.data import DeviceBatches, procedural_dataset
from batch_curation.distributed import (DistributedCB, all_gather_rows, free_port, gather_with_grad, gradient_check,
                                        run_local, shard, shard_sizes, world_info)
from batch_curation.learner import Callback, CancelFitException, CheckpointCB, Learner, LossRecorderCB
from batch_curation.simclr import NTXentLoss, ProjectionHead, SimCLRModel

try: from batch_curation.curation import SCHEMES, make_curation
except ImportError: SCHEMES, make_curation = ('none',), None

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-5
EPOCHS, BATCH = 2, 25  # 4 steps per epoch; 25 images do not split evenly over 2 ranks (13 + 12), nor does a pool
SCHEME_ARGS = {'batch': dict(warmup_steps=2, window=4, seed=10_000), 'pair': dict(warmup_steps=2), 'mask': dict(warmup_steps=2, window=4),
               'overlap': dict(window=4), 'oracle': {}, 'huber': {},
               'batch-images': dict(pool='images', threshold='best', warmup_steps=2, seed=10_000)}  # scheme-variant: its args
SCHEMES_HERE = ['none'] + [s for s in SCHEME_ARGS if s.split('-')[0] in SCHEMES]


class FixedViews:
    "Views that do not depend on the generator, so that one process and two processes train on the same views."
    def __call__(self, x, generator=None):
        n, v = len(x), normalize(x)
        p = lambda flip: {'box': torch.tensor([0., 0., x.shape[-1], x.shape[-2]]).repeat(n, 1), 'flip': torch.full((n,), flip)}
        return v, 0.9 * v.flip(-1), p(False), p(True)


class TrustFixedViews(Callback):
    """Batch selection checks once that its new views differ from the first (a generator in step with the learner's
    would draw them again); `FixedViews` gives the same views whatever the generator, on purpose: skip the check."""
    order = 1.5  # after BatchSelectionCB.before_fit
    def before_fit(self):
        for cb in self.learn.cbs:
            if hasattr(cb, 'views_checked'): cb.views_checked = True


class Probe(Callback):
    "Record what the loss is about to see at every step."
    order = 50  # after the schemes
    def before_fit(self): self.steps = []
    def after_predict(self):
        l, step = self.learn, self.learn.step
        sel = next((cb for cb in l.cbs if type(cb).__name__ == 'BatchSelectionCB'), None)
        self.steps.append(dict(idx=step.idx.clone(), z1=step.z1.detach().clone(), last=getattr(sel, 'last', None),
                               **{k: v.detach().clone() for k, v in step.loss_kwargs.items()}))


class StopAfter(Callback):
    order = 200
    def __init__(self, n): self.n = n
    def after_epoch(self):
        if self.learn.epoch + 1 == self.n: raise CancelFitException()


def no_bn_model():
    "BatchNorm statistics are per process on the CPU (SyncBatchNorm needs CUDA), so the equality tests use a model without it."
    torch.manual_seed(0)
    return SimCLRModel(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()),
                       ProjectionHead([(8, 16, False, True), (16, 8, False, False)]))


def learner(scheme='none', distributed=False, views='fixed', cbs=()):
    ds = procedural_dataset(n_train_per_class=10, n_test_per_class=1, size=12)
    rank = world_info()[0] if distributed else 0
    cur = make_curation(scheme.split('-')[0], data=ds, **SCHEME_ARGS.get(scheme, {})) if scheme != 'none' else []
    aug = FixedViews() if views == 'fixed' else SimCLRAugment(size=12)
    return Learner(no_bn_model(), DeviceBatches(ds.train_x, BATCH, y=ds.train_y, seed=0), aug, NTXentLoss(0.5), lr=0.05,
                   cbs=[LossRecorderCB(), Probe(), *cur, *cbs, *([DistributedCB()] if distributed else []),
                        *([TrustFixedViews()] if views == 'fixed' else [])], seed=rank)


def state(learn): return {k: v.clone() for k, v in learn.model.state_dict().items()}


def probe(learn): return next(cb for cb in learn.cbs if isinstance(cb, Probe)).steps


# ---- what each of the two processes runs ----

def _gathers():
    rank, world, _ = world_info()
    out = {}
    sizes = shard_sizes(5, world)  # 3 + 2 rows
    g = torch.arange(5 * 6).reshape(5, 2, 3)
    mine = [shard(t, rank, world) for t in (g.float(), g % 2 == 0, g.to(torch.uint8), g)]
    out['rows'] = all_gather_rows(mine, sizes)
    # gradients with a different loss on each rank, against PyTorch's differentiable all_gather
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(rank), requires_grad=True)
    w = torch.randn(8, 3, generator=torch.Generator().manual_seed(10 + rank))
    (gather_with_grad(x, [4, 4]) * w).sum().backward(); out['grad_ours'] = x.grad.clone(); x.grad = None
    import torch.distributed.nn.functional as dnf
    (torch.cat(dnf.all_gather(x)) * w).sum().backward(); out['grad_torch'] = x.grad.clone()
    out['w'] = w
    # one DDP step of the model against one process, with curation's weights and mask
    g2 = torch.Generator().manual_seed(3)
    v1, v2 = torch.randn(10, 3, 12, 12, generator=g2), torch.randn(10, 3, 12, 12, generator=g2)
    pw, nm = (torch.rand(10, generator=g2) > 0.3).float(), torch.rand(10, 10, generator=g2) < 0.2
    out['check'] = gradient_check(no_bn_model(), v1, v2, temperature=0.2, pos_weight=pw, neg_mask=nm)
    return out


def _learners(schemes, tmp):
    out = {'equal': {}}
    for s in schemes:  # the same views as one process: losses and weights must be those of one process
        learn = learner(s, distributed=True); learn.fit(EPOCHS)
        out['equal'][s] = dict(losses=learn.step_losses, state=state(learn))
    for s in ('batch', 'mask', 'batch-images'):  # random views: decisions on the global batch agree across ranks
        if s in schemes:
            learn = learner(s, distributed=True, views='random'); learn.fit(EPOCHS)
            out[f'agree_{s}'] = probe(learn)
    # resume: 3 epochs in one go, against 2 epochs, a stop, and a resume to 3 (every rank loads rank 0's checkpoint)
    s = 'batch' if 'batch' in schemes else 'none'
    rank = world_info()[0]
    full = learner(s, True, 'random', [CheckpointCB(Path(tmp) / 'full', save=rank == 0)]); full.fit(3)
    part = learner(s, True, 'random', [CheckpointCB(Path(tmp) / 'part', save=rank == 0), StopAfter(2)]); part.fit(3)
    dist.barrier()  # rank 0 has written its checkpoint
    res = learner(s, True, 'random', [CheckpointCB(Path(tmp) / 'part', resume=True, save=rank == 0)]); res.fit(3)
    dcb = next(cb for cb in full.cbs if isinstance(cb, DistributedCB))
    out['resume'] = dict(full=full.step_losses, part=part.step_losses, resumed=res.step_losses, full_state=state(full),
                         resumed_state=state(res), aug_states=dcb.state_dict()['aug_states'])
    return out


def _worker(schemes, tmp):
    return dict(gathers=_gathers(), learners=_learners(schemes, tmp))


def test_two_processes_agree_with_one_process(tmp_path):
    "One 2-process gloo run (starting processes costs seconds, so all multi-process checks share it)."
    two = run_local(_worker, SCHEMES_HERE, str(tmp_path), world_size=2)
    check_all_gather_rows(two); check_gather_backward(two); check_ddp_step(two)
    for scheme in SCHEMES_HERE: check_training_equals_one_process(two, scheme)
    for scheme in ('batch', 'mask', 'batch-images'):
        if scheme in SCHEMES_HERE: check_decisions_agree(two, scheme)
    check_resume(two)


def check_all_gather_rows(two):
    "Uneven shards (3 + 2 rows) and four dtypes come back whole, in rank order."
    g = torch.arange(5 * 6).reshape(5, 2, 3)
    for r in two:
        for got, want in zip(r['gathers']['rows'], (g.float(), g % 2 == 0, g.to(torch.uint8), g)):
            assert got.dtype == want.dtype and torch.equal(got, want), want.dtype


def check_gather_backward(two):
    "With a different loss on each rank, the gradient of a rank's rows sums the contributions of all ranks' losses."
    w = torch.cat([two[0]['gathers']['w'], two[1]['gathers']['w']])  # rank q's loss weighs the gathered rows with w_q
    for r, res in enumerate(two):
        want = w[:8][4 * r:4 * r + 4] + w[8:][4 * r:4 * r + 4]  # d/dx_r of sum_q (gathered * w_q).sum()
        torch.testing.assert_close(res['gathers']['grad_ours'], want)
        torch.testing.assert_close(res['gathers']['grad_ours'], res['gathers']['grad_torch'])  # torch.distributed.nn's


def check_ddp_step(two):
    "One DDP step with curation's pos_weight and neg_mask: the loss and gradients of one process on the whole batch."
    for r in two:
        c = r['gathers']['check']
        assert c['loss_diff'] < TOL and c['grad_diff'] < TOL * max(1., c['grad_max']), c
    assert two[0]['gathers']['check']['loss'] == two[1]['gathers']['check']['loss']


def check_training_equals_one_process(two, scheme):
    "Two epochs of the Learner with DistributedCB (and a curation scheme): the losses and weights of one process."
    one = learner(scheme); one.fit(EPOCHS)
    for r in two:
        got = r['learners']['equal'][scheme]
        torch.testing.assert_close(torch.tensor(got['losses']), torch.tensor(one.step_losses), atol=TOL, rtol=0, msg=f"losses, {scheme}")
        for k, v in state(one).items(): torch.testing.assert_close(got['state'][k], v, atol=TOL, rtol=0, msg=f"{k}, {scheme}")
    for k, v in two[0]['learners']['equal'][scheme]['state'].items():
        assert torch.equal(v, two[1]['learners']['equal'][scheme]['state'][k]), f"replicas differ: {k}, {scheme}"


def check_decisions_agree(two, scheme):
    "With random views, every rank sees the same global batch and makes the same curation decisions."
    s0, s1 = (r['learners'][f'agree_{scheme}'] for r in two)
    assert len(s0) == len(s1) == EPOCHS * (100 // BATCH)
    for a, b in zip(s0, s1):
        assert a.keys() == b.keys() and a['last'] == b['last'], scheme
        for k in a:
            if torch.is_tensor(a[k]): assert torch.equal(a[k], b[k]), f"{k}, {scheme}"
        assert len(a['idx']) == BATCH  # the global batch
    if scheme == 'batch': assert any(a['last'] and a['last']['tries'] > 1 for a in s0), 'no batch was re-drawn'
    if scheme == 'mask': assert any('pos_weight' in a and (a['pos_weight'] == 0).any() for a in s0), 'no pair was dropped'


def check_resume(two):
    "2 epochs, a stop and a resume to 3 give the uninterrupted 3 epochs on every rank; the ranks' view generators differ."
    for r in two:
        res = r['learners']['resume']
        n = len(res['full']) // 3
        assert res['part'] == res['full'][:2 * n] and res['resumed'] == res['full'][2 * n:]
        for k, v in res['full_state'].items(): assert torch.equal(v, res['resumed_state'][k]), k
    a0, a1 = two[0]['learners']['resume']['aug_states']
    assert not torch.equal(a0, a1)


def torchrun(*args):
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '1', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', str(free_port()), '-m', 'batch_curation.train', *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, 'OMP_NUM_THREADS': '1'})


def test_torchrun_bc_train_writes_one_run_folder_and_resumes(tmp_path):
    r = torchrun('--preset', 'smoke', '--device', 'cpu', '--epochs', '1', '--train-subset', '320', '--out', str(tmp_path), '--name', 'ddp')
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert [p.name for p in tmp_path.iterdir()] == ['ddp']
    d = tmp_path / 'ddp'
    assert {'config.json', 'metrics.jsonl', 'checkpoint.pt', 'summary.json'} <= {p.name for p in d.iterdir()}
    assert not [p for p in d.iterdir() if p.name.startswith('.')]  # no temporary files left by any rank
    assert r.stdout.count('summary:') == 1  # only rank 0 reports
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    r = torchrun('--resume', str(d), '--epochs', '2')  # every rank loads rank 0's checkpoint
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ['ddp', 'ddp-extended-to-2']  # a finished run is kept
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before
    d = tmp_path / 'ddp-extended-to-2'
    s = json.loads((d / 'summary.json').read_text())
    assert s['world_size'] == 2 and s['epochs'] == 2 and s['epochs_this_process'] == 1 and 0 <= s['knn'] <= 1
    assert [json.loads(l)['epoch'] for l in (d / 'metrics.jsonl').read_text().splitlines()] == [1, 2]
    assert torch.load(d / 'checkpoint.pt', weights_only=False)['epoch'] == 2


def _rank_pids(parent:int)->dict:
    "The torchrun workers of `parent`: {rank: pid}, from their environment."
    out = {}
    for pid in (int(p) for p in os.listdir('/proc') if p.isdigit()):
        try:
            if open(f'/proc/{pid}/stat').read().split()[3] != str(parent): continue
            env = dict(e.split('=', 1) for e in open(f'/proc/{pid}/environ', 'rb').read().decode().split('\0') if '=' in e)
        except OSError: continue
        if 'RANK' in env: out[int(env['RANK'])] = pid
    return out


def test_a_killed_rank_and_a_resume_in_another_number_of_processes(tmp_path):
    "The other rank says how to resume (no 'bug'); one process may not quietly continue what two trained."
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '1', '--nproc_per_node', '2', '--master_addr',
           '127.0.0.1', '--master_port', str(free_port()), '-m', 'batch_curation.train', '--preset', 'smoke', '--device',
           'cpu', '--epochs', '30', '--train-subset', '320', '--test-subset', '200', '--knn-k', '5', '--out', str(tmp_path),
           '--name', 'ddp']
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, 'OMP_NUM_THREADS': '1'})
    ck, t0 = tmp_path / 'ddp' / 'checkpoint.pt', time.time()
    while time.time() - t0 < 300 and p.poll() is None and not ck.exists(): time.sleep(0.05)
    time.sleep(0.5)
    ranks = _rank_pids(p.pid)
    assert p.poll() is None and set(ranks) == {0, 1}, (ranks, p.poll())
    os.kill(ranks[1], signal.SIGKILL)
    out, err = p.communicate(timeout=300)
    assert p.returncode != 0 and 'this is a bug' not in err, err[-3000:]
    said = [l for l in err.splitlines() if l.startswith('bc_train: error: ')]
    assert said and 'resume with: ' in said[0] and f"--nproc_per_node 2 -m batch_curation.train --resume {tmp_path / 'ddp'}" \
        in said[0], err[-3000:]
    one = subprocess.run([sys.executable, '-m', 'batch_curation.train', '--resume', str(tmp_path / 'ddp')], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert one.returncode == 1 and 'trained by 2 process(es) and would continue in 1' in one.stderr, one.stderr[-3000:]
    assert '--other-world-size' in one.stderr and 'Traceback' not in one.stderr
    done = torch.load(ck, weights_only=False)['epoch']
    ok = subprocess.run([sys.executable, '-m', 'batch_curation.train', '--resume', str(tmp_path / 'ddp'), '--epochs',
                         str(done + 1), '--other-world-size'], cwd=ROOT, capture_output=True, text=True, timeout=300,
                        env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert ok.returncode == 0, ok.stderr[-3000:]
    s = json.loads((tmp_path / 'ddp' / 'summary.json').read_text())
    assert [g['world_size'] for g in s['segments']] == [2, 1] and s['world_size'] == 1
