"""The benchmark scripts run end to end in their smallest settings on the CPU and write what they promise.

Only that they work is tested here: their timings are figures to read (printed, with ratios), never asserted."""
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bench(script, *args, env=None):
    r = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / script), *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=900, env={**os.environ, **(env or {})})
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_bench_augment():
    out = bench('bench_augment.py', '--n-images', '256', '--batch-size', '128', '--pil-batch-size', '64', '--num-workers', '0',
                '--min-seconds', '0.2')
    assert 'views/s' in out and 'ratio: batched / PIL = ' in out


def test_bench_epoch(tmp_path):
    f = tmp_path / 'epoch.json'
    out = bench('bench_epoch.py', '--device', 'cpu', '--data', 'procedural', '--train-subset', '256', '--batch-size', '64',
                '--model', 'conv', '--epochs', '1', '--no-lightly', '--json', str(f))
    res = json.loads(f.read_text())
    assert res['ours_eager'] > 0 and len(res['ours_eager_epochs']) == 1 and res['batch_size'] == 64 and res['images'] == 256
    assert 'ours_eager' in out and 'lightly' not in res


def test_bench_curation(tmp_path):
    f = tmp_path / 'curation.json'
    out = bench('bench_curation.py', '--tiny', '--epochs', '1', '--json', str(f))
    res = json.loads(f.read_text())['results']
    assert [r['scheme'] for r in res] == ['none', 'mask', 'batch'] and res[0]['ratio'] == 1.0
    assert all(r['s_per_epoch'] > 0 for r in res)
    assert 'mask_pos_masked' in res[1]['last_epoch'] and 'sel_reject_rate' in res[2]['last_epoch']  # curation was active when timed
    assert '<=1.10' in out and '<=1.40' in out


def test_bench_curation_times_config_files(tmp_path):
    "--configs: one arm per bc_train config file, with that file's loss, curation, batch size and threads."
    common = 'model = "conv"\nconv_width = 16\nhead_hidden = 32\nhead_out = 16\nbatch_size = 32\nthreads = 1\n'
    (tmp_path / 'plain.toml').write_text(common + 'curation = "none"\n')
    (tmp_path / 'hcl.toml').write_text(common + 'loss = "hcl"\nloss_args = { tau_plus = 0.1, beta = 1.0 }\n')
    (tmp_path / 'pos-iou.toml').write_text(common + 'curation = "mask"\n'
                                           'curation_args = { positives = "overlap", negatives = "none" }\n')
    f = tmp_path / 'configs.json'
    out = bench('bench_curation.py', '--tiny', '--epochs', '1', '--json', str(f), '--configs',
                *(str(tmp_path / n) for n in ('plain.toml', 'hcl.toml', 'pos-iou.toml')))
    res = json.loads(f.read_text())['results']
    assert [r['scheme'] for r in res] == ['plain', 'hcl', 'pos-iou'] and res[0]['ratio'] == 1.0
    assert [r['loss'] for r in res] == ['nt_xent', 'hcl', 'nt_xent'] and res[1]['loss_args']['beta'] == 1.0
    assert {r['batch_size'] for r in res} == {32} and {r['threads'] for r in res} == {1}
    assert 'mask_pos_masked' in res[2]['last_epoch']  # the mask was on in the timed epoch
    assert 'pos-iou' in out and 'MISSED' not in out and ' ok' not in out  # no GPU targets for config arms


def test_bench_curation_names_a_bad_config_file(tmp_path):
    (tmp_path / 'typo.toml').write_text('batch_sise = 32\n')
    r = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'bench_curation.py'), '--tiny', '--configs',
                        str(tmp_path / 'typo.toml')], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and 'typo.toml' in r.stderr and 'batch_sise' in r.stderr and 'Traceback' not in r.stderr
