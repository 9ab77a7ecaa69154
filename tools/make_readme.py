"""Write README.md from nbs/index.ipynb (quarto-free stand-in for nbdev_readme).

Markdown cells are copied; code cells are shown as python blocks unless they carry `#| hide`;
`#|` directive lines are dropped; text and image outputs of shown cells are kept as text blocks / links.
"""
import sys
from pathlib import Path
import nbformat

ROOT = Path(__file__).resolve().parents[1]


def readme_text(nb_path=ROOT / 'nbs' / 'index.ipynb'):
    nb = nbformat.read(nb_path, as_version=4)
    parts = []
    for c in nb.cells:
        src = c.source.strip()
        if c.cell_type == 'markdown':
            parts.append(src.replace('](images/', '](nbs/images/').replace('](../', ']('))  # links relative to nbs/ -> to the root
            continue
        lines = src.splitlines()
        if any(l.strip().startswith('#|') and 'hide' in l for l in lines): continue
        code = '\n'.join(l for l in lines if not l.strip().startswith('#|')).strip()
        if code: parts.append(f"```python\n{code}\n```")
        for o in c.get('outputs', []):
            text = o.get('text') or o.get('data', {}).get('text/plain')
            if text: parts.append("```\n" + ''.join(text).rstrip() + "\n```")
    return '\n\n'.join(parts) + '\n'


if __name__ == '__main__':
    (ROOT / 'README.md').write_text(readme_text())
    print('README.md written from nbs/index.ipynb')
