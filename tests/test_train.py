"""bc_train end to end: a smoke run, bad flags, and resume after a real kill."""
import json, os, re, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch

ROOT = Path(__file__).resolve().parents[1]
BC_TRAIN = str(Path(sys.executable).with_name('bc_train'))


def run_cli(*args, **kw):
    return subprocess.run([BC_TRAIN, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, **kw)


def test_smoke_run_writes_run_folder(tmp_path):
    r = run_cli('--preset', 'smoke', '--out', str(tmp_path), '--name', 'smoke')
    assert r.returncode == 0, r.stderr[-3000:]
    d = tmp_path / 'smoke'
    s = json.loads((d / 'summary.json').read_text())
    assert s['epochs'] == 2 and 0 <= s['knn'] <= 1 and 0 <= s['knn10'] <= 1 and 0 <= s['linear'] <= 1
    assert s['git_commit'] and s['device'].startswith('cpu')
    lines = [json.loads(l) for l in (d / 'metrics.jsonl').read_text().splitlines()]
    assert [l['epoch'] for l in lines] == [1, 2] and all('loss' in l and 'images_per_s' in l for l in lines)
    assert json.loads((d / 'config.json').read_text())['preset'] == 'smoke'
    assert (d / 'metrics.png').stat().st_size > 1000


@pytest.mark.parametrize('args,msg', [
    (['--curation', 'magic'], "unknown curation scheme 'magic'"),
    (['--epochs', '0'], 'epochs=0'),
    (['--batch-size', '5000'], 'larger than the 2,000 training images'),
    (['--model', 'vgg11'], "unknown model 'vgg11'"),
    (['--data', 'no/such/images.tar.gz'], 'no/such/images.tar.gz: no such file'),
    (['--curation-args', '{bad'], '--curation-args is not a JSON object'),
])
def test_bad_flags(tmp_path, args, msg):
    r = run_cli('--preset', 'smoke', '--out', str(tmp_path), *args)
    assert r.returncode != 0 and msg in r.stderr, r.stderr[-3000:]
    assert 'Traceback' not in r.stderr


def test_bad_resume_folder(tmp_path):
    r = run_cli('--resume', str(tmp_path / 'nothing'))
    assert r.returncode != 0 and 'not a run folder' in r.stderr and 'Traceback' not in r.stderr
    bad = tmp_path / 'bad'; bad.mkdir()
    (bad / 'config.json').write_text(json.dumps({'preset': 'smoke', 'data': 'procedural', 'image_size': 16, 'model': 'conv',
                                                  'head_hidden': 64, 'head_out': 32, 'epochs': 2, 'batch_size': 64,
                                                  'knn_k': 20, 'out': str(tmp_path)}))
    (bad / 'checkpoint.pt').write_bytes(b'truncated')
    r = run_cli('--resume', str(bad))
    assert r.returncode != 0 and 'cannot read checkpoint' in r.stderr and 'Traceback' not in r.stderr


def _final_state(run_dir):
    return torch.load(run_dir / 'checkpoint.pt', weights_only=False)


def test_kill_and_resume_reproduces_uninterrupted_run(tmp_path):
    common = ['--preset', 'smoke', '--epochs', '4', '--out', str(tmp_path)]
    r = run_cli(*common, '--name', 'full'); assert r.returncode == 0, r.stderr[-3000:]
    # the same run, killed (SIGKILL) once its epoch-2 checkpoint is on disk
    p = subprocess.Popen([BC_TRAIN, *common, '--name', 'part'], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ck, t0 = tmp_path / 'part' / 'checkpoint.pt', time.time()
    while time.time() - t0 < 300 and p.poll() is None:
        if ck.exists() and torch.load(ck, weights_only=False)['epoch'] >= 2: break
        time.sleep(0.05)
    assert p.poll() is None, 'the run ended before it could be killed'
    p.send_signal(signal.SIGKILL); p.wait()
    killed_at = torch.load(ck, weights_only=False)['epoch']
    assert 2 <= killed_at < 4
    r = run_cli('--resume', str(tmp_path / 'part'), '--batch-size', '32')  # a changed setting is refused
    assert r.returncode != 0 and 'not batch_size' in r.stderr, r.stderr[-3000:]
    r = run_cli('--resume', str(tmp_path / 'part'), '--curation', 'none')  # the stored value: allowed (make train passes it)
    assert r.returncode == 0, r.stderr[-3000:]
    full, part = _final_state(tmp_path / 'full'), _final_state(tmp_path / 'part')
    assert full['epoch'] == part['epoch'] == 4
    for k, v in full['model'].items(): assert torch.equal(v, part['model'][k]), k
    losses = lambda d: [json.loads(l)['loss'] for l in (d / 'metrics.jsonl').read_text().splitlines()]
    assert losses(tmp_path / 'part') == losses(tmp_path / 'full')
    sf, sp = (json.loads((tmp_path / n / 'summary.json').read_text()) for n in ('full', 'part'))
    assert sf['knn'] == sp['knn'] and sf['linear'] == sp['linear']


def test_python_module_entry_point(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'batch_curation.train', '--preset', 'smoke', '--epochs', '1',
                        '--out', str(tmp_path), '--name', 'm'], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / 'm' / 'summary.json').exists()


def test_config_file_preset(tmp_path):
    "A config file's preset is used (and reported as chosen), and a --preset flag overrides it."
    cfg = tmp_path / 'arm.toml'
    cfg.write_text('preset = "smoke"\nepochs = 1\ncuration = "mask"\n')
    r = run_cli('--config', str(cfg), '--out', str(tmp_path), '--name', 'from-file')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'no GPU here' not in r.stdout and 'a GPU is available' not in r.stdout
    stored = json.loads((tmp_path / 'from-file' / 'config.json').read_text())
    assert stored['preset'] == 'smoke' and stored['epochs'] == 1 and stored['curation'] == 'mask' and stored['model'] == 'conv'
    from batch_curation.train import config_from_args, _parser
    c, _ = config_from_args(_parser().parse_args(['--config', str(cfg), '--preset', 'quick']))
    assert c.preset == 'quick' and c.train_subset == 10000 and c.epochs == 1


def test_planted_pairs_from_bc_train(tmp_path):
    "--plant-false-positives/negatives: the planting and detection statistics land in metrics.jsonl, next to a scheme."
    r = run_cli('--preset', 'smoke', '--out', str(tmp_path), '--name', 'planted', '--plant-false-positives', '0.3',
                '--plant-false-negatives', '0.1', '--curation', 'mask', '--curation-args', '{"warmup_epochs": 0}')
    assert r.returncode == 0, r.stderr[-3000:]
    last = [json.loads(l) for l in (tmp_path / 'planted' / 'metrics.jsonl').read_text().splitlines()][-1]
    assert 0.15 < last['plant_fp_rate'] < 0.45 and 0 < last['plant_fn_rate'] < 0.1
    for k in ('plant_fp_similarity_precision', 'plant_fp_trained_rate', 'plant_fp_dropped_recall', 'plant_fn_masked_precision',
              'plant_fp_r_frechet_paired'):
        assert k in last, k
    assert json.loads((tmp_path / 'planted' / 'config.json').read_text())['plant_false_positives'] == 0.3
    bad = run_cli('--preset', 'smoke', '--out', str(tmp_path), '--name', 'bad', '--plant-false-negatives', '0.8')
    assert bad.returncode != 0 and 'plant_false_negatives=0.8: plant a fraction between 0 and 0.5' in bad.stderr
    assert not (tmp_path / 'bad').exists()


def test_data_seed_fixes_the_subset_and_conv_width_the_net():
    from batch_curation.train import preset_config, build_data, build_model
    base = dict(data='procedural', train_subset=100, test_subset=50)
    a = build_data(preset_config('smoke', seed=1, data_seed=7, **base))
    b = build_data(preset_config('smoke', seed=2, data_seed=7, **base))
    c = build_data(preset_config('smoke', seed=2, **base))
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert not torch.equal(b.train_x, c.train_x)  # without data_seed the run's seed chooses
    narrow, wide = (build_model(preset_config('smoke', conv_width=w), 16) for w in (8, 16))
    count = lambda m: sum(p.numel() for p in m.backbone.parameters())
    assert narrow.backbone.feat_dim == 32 and count(narrow) < count(wide) / 3


def test_list_and_help_show_every_scheme_criterion_and_loss():
    "Every scheme with each of its arguments and their defaults, every criterion and loss with a line on what it means."
    from batch_curation.curation import SCHEMES, scheme_params
    from batch_curation.criteria import PAIR_CRITERIA, BATCH_CRITERIA, NEGATIVE_CRITERIA
    from batch_curation.simclr import LOSSES
    r, h = run_cli('--list'), run_cli('--help')
    assert r.returncode == 0 and h.returncode == 0 and r.stdout.strip() in h.stdout
    blocks = re.split(r'\n  (?=\S)', r.stdout)  # a scheme's line and its arguments' lines, indented further
    for s in SCHEMES:
        block = next(b for b in blocks if b.startswith(f'{s}: '))
        for k, v in scheme_params(s).items():
            if k != 'scorer_factory': assert f'\n      {k} = {json.dumps(v)}: ' in block, (s, k)
    for title, reg in (('batch criteria', BATCH_CRITERIA), ('pair criteria', PAIR_CRITERIA),
                       ('negative criteria', NEGATIVE_CRITERIA)):
        part = r.stdout.split(f'\n{title} (')[1].split('criteria (')[0]
        for k in reg: assert f'\n  {k}: ' in part and 'no description' not in part.split(f'\n  {k}: ')[1].split('\n')[0], k
    for k in LOSSES: assert f'\n  {k}' in r.stdout.split('\nlosses (')[1], k
    assert 'upper bound' not in r.stdout
