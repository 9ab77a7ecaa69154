"The exported analysis of 08_insights on small synthetic inputs (batch_curation.insights)."
import json
import numpy as np, torch
from batch_curation.insights import (flagged_precision, overlap_table, plot_overlap, detection_table, detection_markdown,
                                     trained_share_table, trained_share_markdown, recovery_differences)
from batch_curation.report import load_runs


def test_flagged_precision_finds_planted_same_class_pairs():
    "Negatives made most similar exactly when same-class: the top quantiles are all same-class, the base rate is 1/C."
    g = torch.Generator().manual_seed(0)
    y = torch.arange(100) % 10
    same = y[:, None] == y[None]
    sims = torch.rand(100, 100, generator=g) * 0.5 + same.float()  # same-class pairs score above every other
    rows = flagged_precision(dict(neg=[sims], same=[same]), quantiles=(0.9, 0.99))
    assert abs(rows[0][2] - 450 / 4950) < 1e-6  # 10 classes of 10: 450 of 4,950 pairs are same-class
    assert rows[1][2] < 1 and rows[2][2] == 1.0  # top 10% holds 495 pairs, more than the 450 same-class ones
    assert [r[3] for r in rows] == [4950, 495, 50]


def test_overlap_table_correlation_and_bins():
    iou = torch.linspace(0, 1, 400)
    r, bins = overlap_table(dict(pos=[2 * iou[:200], 2 * iou[200:]], iou=[iou[:200], iou[200:]]), n_bins=4)
    assert abs(r - 1) < 1e-5 and len(bins) == 4
    assert [round(m, 2) for _, _, m in bins] == [0.25, 0.75, 1.25, 1.75]


def fake_planted(root, arm, seed, last):
    d = root / f'{arm}-s{seed}'
    d.mkdir()
    (d / 'summary.json').write_text(json.dumps(dict(knn=0.4, linear=0.5, config=dict(seed=seed))))
    (d / 'metrics.jsonl').write_text(json.dumps(dict(epoch=1, knn=0.4, **last)) + '\n')


def test_detection_and_trained_share_tables(tmp_path):
    base = dict(plant_fp_rate=0.3, plant_fp_similarity_precision=0.7, plant_fp_similarity_recall=0.6,
                plant_fp_r_alignment=-0.8, plant_fp_trained_rate=0.3, plant_fp_drawn_rate=0.3)
    for seed in (0, 1):
        fake_planted(tmp_path, 'fp30-baseline', seed, base)
        fake_planted(tmp_path, 'fp30-mask', seed, {**base, 'plant_fp_dropped_precision': 0.5 + 0.1 * seed,
                                                   'plant_fp_trained_rate': 0.15})
    runs = load_runs(tmp_path)
    rows = detection_table(runs)
    sim = next(d for d in rows if d['criterion'] == 'positive similarity')
    assert sim['runs'] == 2 and sim['precision'] == 0.7 and sim['chance'] == 0.3  # read from the baseline arm only
    dropped = next(d for d in rows if d['criterion'].startswith('loss masking'))
    assert dropped['runs'] == 2 and abs(dropped['precision'] - 0.55) < 1e-9
    assert next(d for d in rows if d['criterion'].startswith('batch alignment'))['r'] == -0.8
    assert '| false positives, 30% | positive similarity | 0.700 | 0.600 | 0.300 | - | 2 |' in detection_markdown(rows)
    share = trained_share_table(runs)
    assert [(d['arm'], d['trained']) for d in share] == [('fp30-baseline', 0.3), ('fp30-mask', 0.15)]
    assert '| fp30-mask | 2 | 1-1 | 0.3000 | 0.1500 | 50% | 50% |' in trained_share_markdown(share)


def test_plot_overlap_is_a_2d_histogram_with_the_correlation_in_the_title():
    import matplotlib
    matplotlib.use('Agg')
    iou = torch.linspace(0, 1, 500)
    fig = plot_overlap(dict(pos=[iou], iou=[iou]))
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == 'pairs'  # the panel and its colour bar
    assert fig.axes[0].get_title() == 'positive pairs (r = 1.00)'


def test_recovery_differences_pairs_each_arm_with_its_own_baseline(tmp_path):
    for seed, (b0, b30, m30) in enumerate([(0.50, 0.45, 0.47), (0.52, 0.46, 0.49), (0.49, 0.44, 0.46)]):
        for arm, knn in (('fp00-baseline', b0), ('fp30-baseline', b30), ('fp30-mask', m30)):
            d = tmp_path / f'{arm}-s{seed}'
            d.mkdir()
            (d / 'summary.json').write_text(json.dumps(dict(knn=knn, linear=knn, config=dict(seed=seed))))
    rows = recovery_differences(load_runs(tmp_path), metrics=('knn',))
    got = {r['arm']: (r['n'], round(r['mean'], 6)) for r in rows}
    assert got == {'fp30-baseline - fp00-baseline': (3, round(-5.333333, 6)), 'fp30-mask - fp30-baseline': (3, 2.333333)}


def test_trained_share_averages_the_epochs_a_scheme_acted():
    "The removed share is the mean over the epochs the scheme acted (its warm-up left out), and the last one apart."
    h = [dict(epoch=1, mask_active=0., plant_fp_rate=0.3, plant_fp_trained_rate=0.3),
         dict(epoch=2, mask_active=1., plant_fp_rate=0.3, plant_fp_trained_rate=0.18),
         dict(epoch=3, mask_active=1., plant_fp_rate=0.3, plant_fp_trained_rate=0.12)]
    rows = trained_share_table([dict(arm='fp30-mask', seed=0, history=h, summary={})])
    assert rows[0]['epochs'] == '2-3' and abs(rows[0]['trained'] - 0.15) < 1e-9 and rows[0]['trained_last'] == 0.12
    assert '| fp30-mask | 1 | 2-3 | 0.3000 | 0.1500 | 50% | 60% |' in trained_share_markdown(rows)
