"""Fill the stored tables into results/README.md, the results page.

The page is written by hand around blocks that name a table file:

    <!-- table: cifar10-cpu/table.md -->
    ...the file's text, put here by this tool...
    <!-- end table -->

`make report` re-draws the tables from the stored runs and then runs this tool; tools/check_sync.py fails when the
page and the tables are out of step. With --check, say whether the page is up to date and change nothing.
"""
import re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / 'results' / 'README.md'
BLOCK = re.compile(r'(<!-- table: (\S+) -->\n)(.*?)(<!-- end table -->)', re.S)


def page_text(page=PAGE):
    "The results page with every table block holding the current text of its file."
    def fill(m):
        table = page.parent / m.group(2)
        body = table.read_text().strip() + '\n' if table.exists() else f"(no {m.group(2)} yet: no runs stored)\n"
        return m.group(1) + body + m.group(4)
    return BLOCK.sub(fill, page.read_text())


def tables_named(page=PAGE):
    return [m.group(2) for m in BLOCK.finditer(page.read_text())]


if __name__ == '__main__':
    text = page_text()
    if '--check' in sys.argv:
        sys.exit(0 if text == PAGE.read_text() else "results/README.md is out of step with its tables: run make report")
    PAGE.write_text(text)
    print(f"{PAGE.relative_to(ROOT)} written with {len(tables_named())} tables")
