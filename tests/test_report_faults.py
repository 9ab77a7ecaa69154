"""The report under faults a careful user meets: it never pools, drops or duplicates a run without saying so.

Run on copies of stored study runs (baseline and HCL, seeds 0-5: summary.json, config.json and metrics.jsonl) and on
copies of the results page, in temporary folders."""
import json, math, shutil, subprocess, sys
from pathlib import Path
import pytest
from batch_curation.report import load_runs, paired_differences, differences_table, holm_family, family_table

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / 'results' / 'cifar10-cpu'
TOOL = ROOT / 'tools' / 'make_results_page.py'


@pytest.fixture
def study(tmp_path):
    "baseline-s0..5 and hcl-s0..5 of the stored CPU study, copied."
    for arm in ('baseline', 'hcl'):
        for s in range(6):
            src, dst = STUDY / f'{arm}-s{s}', tmp_path / f'{arm}-s{s}'
            dst.mkdir()
            for f in ('summary.json', 'config.json', 'metrics.jsonl'): shutil.copy(src / f, dst / f)
    return tmp_path


def knn_row(runs):
    return next(r for r in paired_differences(runs) if r['arm'] == 'hcl')


def test_an_unfinished_run_is_named_and_its_comparison_says_so(study, capsys):
    whole = knn_row(load_runs(study))
    (study / 'hcl-s5' / 'summary.json').unlink()  # stopped in its last epoch
    runs = load_runs(study)
    assert 'unfinished run(s) left out (no summary.json): hcl-s5' in capsys.readouterr().err
    row = knn_row(runs)
    assert (whole['n'], row['n'], row['unfinished']) == (6, 5, ['hcl-s5'])
    assert '| hcl | knn | 5 of 6 (hcl-s5 unfinished) |' in differences_table([row])


def test_a_copy_under_another_seeds_name_is_refused(study):
    shutil.copytree(study / 'hcl-s0', study / 'hcl-s6')
    with pytest.raises(ValueError, match='hcl-s6 is named for seed 6 but holds a run of seed 0'): load_runs(study)


def test_the_same_run_under_two_arms_is_refused(study):
    shutil.copytree(study / 'hcl-s0', study / 'hcl-again-s0')
    with pytest.raises(ValueError, match='hold the same run'): load_runs(study)


def test_a_run_with_other_settings_is_not_pooled(study):
    s = study / 'hcl-s3' / 'summary.json'
    d = json.loads(s.read_text())
    s.write_text(json.dumps({**d, 'config': {**d['config'], 'temperature': 0.2, 'threads': 2}}))
    with pytest.raises(ValueError, match=r"arm 'hcl'.*temperature 0\.2 in hcl-s3, 0\.5 in hcl-s0") as e: load_runs(study)
    assert 'threads' not in str(e.value)  # where a run ran is not what it learnt


def test_a_torn_last_line_names_the_file(study):
    m = study / 'baseline-s2' / 'metrics.jsonl'
    lines = m.read_text().splitlines()
    m.write_text('\n'.join(lines[:-1] + [lines[-1][:40]]))
    with pytest.raises(ValueError, match=rf"{m} line {len(lines)}: not valid JSON"): load_runs(study)


def test_a_test_of_one_seed_stays_in_its_family(study):
    (study / 'dcl-s0').mkdir()  # DCL at one seed: a difference, but no p
    for f in ('summary.json', 'config.json', 'metrics.jsonl'): shutil.copy(STUDY / 'dcl-s0' / f, study / 'dcl-s0' / f)
    hcl, dcl = fam = holm_family(paired_differences(load_runs(study)), [('hcl', 'knn'), ('dcl', 'knn')], 'S')
    assert dcl['n'] == 1 and math.isnan(dcl['p'])
    assert hcl['p_holm'] == pytest.approx(min(1, 2 * hcl['p']))  # two tests, as declared, not one
    assert 'one seed: no interval; counted as p = 1 in Holm' in family_table(fam)


# ---- the results page tool ----

PAGE = """# Results

Hand-written text before.

<!-- table: study/table.md -->
old table
<!-- end table -->

Hand-written text between: {between}

<!-- table: study/other.md -->
old other
<!-- end table -->

Hand-written text after.
"""


def page_tool(tmp_path, page_text, *args):
    page = tmp_path / 'README.md'
    page.write_text(page_text)
    (tmp_path / 'study').mkdir(exist_ok=True)
    r = subprocess.run([sys.executable, TOOL, '--page', page, *args], capture_output=True, text=True, timeout=60)
    return r, page


def test_the_page_is_filled(tmp_path):
    (tmp_path / 'study').mkdir()
    (tmp_path / 'study' / 'table.md').write_text('| a |\n')
    (tmp_path / 'study' / 'other.md').write_text('| b |\n')
    r, page = page_tool(tmp_path, PAGE.format(between='kept'))
    assert r.returncode == 0, r.stderr
    assert page.read_text() == PAGE.format(between='kept').replace('old table', '| a |').replace('old other', '| b |')
    assert subprocess.run([sys.executable, TOOL, '--page', page, '--check'], timeout=60).returncode == 0


@pytest.mark.parametrize('broken,msg', [
    (PAGE.format(between='kept').replace('old table\n<!-- end table -->', 'old table'),
     'line 5: the block of study/table.md has no <!-- end table --> before the next table block (line 10)'),
    (PAGE.format(between='kept').replace('old other\n<!-- end table -->', 'old other'),
     'line 11: the block of study/other.md has no <!-- end table --> before the page ends'),
    (PAGE.format(between='<!-- end table -->'), 'line 9: <!-- end table --> closes no table block'),
    (PAGE.format(between='kept').replace('<!-- table: study/other.md -->\n', '<!-- table: study/other.md -->x\n'),
     "is not a table marker")])
def test_a_broken_block_changes_nothing(tmp_path, broken, msg):
    (tmp_path / 'study').mkdir()
    for t in ('table.md', 'other.md'): (tmp_path / 'study' / t).write_text('| new |\n')
    r, page = page_tool(tmp_path, broken)
    assert r.returncode != 0 and msg in r.stderr and 'was not changed' in r.stderr, r.stderr
    assert page.read_text() == broken


def test_a_missing_table_of_stored_runs_fails(tmp_path):
    (tmp_path / 'study' / 'baseline-s0').mkdir(parents=True)
    (tmp_path / 'study' / 'baseline-s0' / 'summary.json').write_text('{}')
    (tmp_path / 'study' / 'other.md').write_text('| b |\n')
    r, page = page_tool(tmp_path, PAGE.format(between='kept'))
    assert r.returncode != 0 and 'study/table.md, which is missing, while' in r.stderr and 'holds 1 finished runs' in r.stderr
    assert page.read_text() == PAGE.format(between='kept')
    shutil.rmtree(tmp_path / 'study' / 'baseline-s0')  # no runs stored yet: a placeholder
    r, page = page_tool(tmp_path, PAGE.format(between='kept'))
    assert r.returncode == 0 and '(no study/table.md yet: no runs stored)' in page.read_text(), r.stderr
