"""A run that diverges leaves a folder that can be restarted, and a resume never quietly changes what a run is.

- NaN before the first checkpoint: no false word about a checkpoint; the folder is marked (`diverged.json`), the same
  name is refused with the way out, a resume at the same rate is refused, and `--resume RUN --lr X` begins it again.
- NaN in a later epoch: a resume at the same rate is refused; `--resume RUN --lr X` restarts from the last checkpoint
  at the new peak rate (the same schedule, scaled), recorded in config.json and summary.json, and the record of the
  divergence is kept.
- Another number of threads on resume is said, and recorded.
"""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from batch_curation.learner import Callback
from batch_curation.train import preset_config, set_up, fit_run, RunDiverged

ROOT = Path(__file__).resolve().parents[1]
BC_TRAIN = str(Path(sys.executable).with_name('bc_train'))
SMALL = ['--preset', 'smoke', '--train-subset', '320', '--test-subset', '200', '--knn-k', '5', '--threads', '1']


def run_cli(*args, **kw):
    return subprocess.run([BC_TRAIN, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, 'OMP_NUM_THREADS': '1'}, **kw)


def test_nan_before_any_checkpoint(tmp_path):
    run = tmp_path / 'd'
    r = run_cli(*SMALL, '--lr', '1e6', '--out', tmp_path, '--name', 'd')
    assert r.returncode == 1 and 'non-finite at epoch 1' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-3000:]
    assert 'good checkpoint' not in r.stderr and 'checkpoint (' not in r.stderr  # no word of a checkpoint there is not
    assert f'--resume {run} --lr 5e+05' in r.stderr and 'it had no checkpoint' in r.stderr
    assert sorted(p.name for p in run.iterdir()) == ['config.json', 'diverged.json']
    rec = json.loads((run / 'diverged.json').read_text())
    assert rec['epoch'] == 1 and rec['lr'] == 1e6 and rec['checkpoint'] is None and rec['config']['lr'] == 1e6
    again = run_cli(*SMALL, '--lr', '0.03', '--out', tmp_path, '--name', 'd')  # the same name: refused, with the way
    assert again.returncode == 1 and f'--resume {run} --lr 5e+05' in again.stderr, again.stderr[-3000:]
    same = run_cli('--resume', run)
    assert same.returncode == 1 and 'would train into the same NaN' in same.stderr, same.stderr[-3000:]
    ok = run_cli('--resume', run, '--lr', '0.03')
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert json.loads((run / 'config.json').read_text())['lr'] == 0.03
    s = json.loads((run / 'summary.json').read_text())
    assert s['config']['lr'] == 0.03 and s['segments'][-1]['lr'] == 0.03 and 'after_divergence' in s['segments'][-1]
    assert (run / 'diverged-1.json').exists() and not (run / 'diverged.json').exists()


class Explode(Callback):
    "The loss turns NaN in epoch `epoch` (from 1), at its third step."
    order = 5
    def __init__(self, epoch): self.epoch = epoch
    def after_predict(self):
        if self.learn.epoch + 1 == self.epoch and self.learn.iter == 2:
            self.learn.step.z1 = self.learn.step.z1 * float('nan')


def test_nan_in_a_later_epoch_restarts_from_the_last_checkpoint_at_a_lower_rate(tmp_path):
    c = preset_config('smoke', epochs=3, train_subset=320, test_subset=200, knn_k=5, threads=1, out=str(tmp_path),
                      name='d')
    r = set_up(c, progress=False)
    r.learn.add_cbs(Explode(epoch=2))
    with pytest.raises(RunDiverged) as e: fit_run(r)
    run = tmp_path / 'd'
    assert 'non-finite at epoch 2, step 3' in str(e.value) and 'last checkpoint (epoch 1)' in str(e.value)
    assert f'--resume {run} --lr 0.015' in str(e.value)
    rec = json.loads((run / 'diverged.json').read_text())
    assert rec['checkpoint'] == 'epoch 1' and rec['lr'] == 0.03 and rec['metrics_after_checkpoint'] == []
    same = run_cli('--resume', run, '--epochs', '3')
    assert same.returncode == 1 and 'would train into the same NaN' in same.stderr and 'epoch 1' in same.stderr
    other = run_cli('--resume', run, '--lr', '0.015')
    assert other.returncode == 0, other.stderr[-3000:]
    full = run_cli(*SMALL, '--epochs', '3', '--out', tmp_path, '--name', 'full')  # the same run, never diverged
    assert full.returncode == 0, full.stderr[-3000:]
    lines = lambda d: [json.loads(l) for l in (d / 'metrics.jsonl').read_text().splitlines()]
    a, b = lines(run), lines(tmp_path / 'full')
    assert a[0] == {**a[0], **{k: b[0][k] for k in ('loss', 'lr')}}  # epoch 1 comes from the checkpoint
    for x, y in zip(a[1:], b[1:]): assert x['lr'] == pytest.approx(y['lr'] / 2)  # the schedule, at half the peak
    s = json.loads((run / 'summary.json').read_text())
    assert [p['lr'] for p in s['segments']] == [0.03, 0.015] and [p['from_epoch'] for p in s['segments']] == [0, 1]
    assert json.loads((run / 'config.json').read_text())['lr'] == 0.015
    assert json.loads((run / 'diverged-1.json').read_text())['epoch'] == 2


def test_a_thread_change_on_resume_is_said_and_recorded(tmp_path):
    p = subprocess.Popen([BC_TRAIN, *SMALL, '--epochs', '3', '--out', str(tmp_path), '--name', 't'], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    ck, t0 = tmp_path / 't' / 'checkpoint.pt', time.time()
    while time.time() - t0 < 300 and p.poll() is None and not ck.exists(): time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 130, err[-3000:]
    r = run_cli('--resume', tmp_path / 't', '--threads', '2')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'trained on 1 CPU thread(s) so far and continues on 2' in r.stderr and '--threads 1' in r.stderr
    s = json.loads((tmp_path / 't' / 'summary.json').read_text())
    assert [p['threads'] for p in s['segments']] == [1, 2] and s['threads'] == 2
