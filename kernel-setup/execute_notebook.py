#!/usr/bin/env python3
"""Execute one notebook headless with the project's tslab kernel and export it to HTML.

  execute_notebook.py NOTEBOOK OUT_DIR --kernel NAME [--timeout SECONDS] [--plotly MIN_JS]

Writes OUT_DIR/<name>.ipynb (executed, also when a cell fails) and OUT_DIR/<name>.html. The HTML
is made to stand alone: the exporter's <script src> tags into this system's paths (require.js
and MathJax under /usr/share on Debian) are dropped, none of our outputs need them, and the
minified plotly.js given by --plotly is inlined once in its head, where the figures' own
scripts find it.
Exit 1 with the failing cell's number, its first source line and its own output when a cell
fails. tslab hands nbclient an empty error message, so the output the cell wrote (stdout and
stderr) is what names the problem; an error thrown in a timer or an unawaited promise never
fails the cell at all and shows only on stderr, so stderr lines that look like errors fail
the run too.
"""
import argparse
import copy
import json
import os
import re
import sys
import tempfile

import nbformat
from nbformat.sign import NotebookNotary
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter

ERROR_LINE = re.compile(r"\b(Error|Unhandled|uncaught|rejection)\b", re.IGNORECASE)


def cell_text(cell):
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename', '')}: {out.get('evalue', '')}")
            parts.extend(out.get("traceback", []))
    return "".join(p if p.endswith("\n") else p + "\n" for p in parts if p).strip()


def describe(nb, index):
    cell = nb.cells[index]
    first = (cell.source.strip().splitlines() or [""])[0]
    return f"cell {index + 1} (`{first[:80]}`)"


LOCAL_SCRIPT = re.compile(r'<script[^>]*\bsrc="(?:file://|/usr/|/opt/)[^"]*"[^>]*>\s*</script>\s*', re.IGNORECASE)
LOCAL_CONFIG = re.compile(r'<script type="text/x-mathjax-config">.*?</script>\s*', re.IGNORECASE | re.DOTALL)


def standalone(html, plotly):
    """The report without references to this machine's paths, with one plotly.js inlined."""
    html = LOCAL_SCRIPT.sub("", html)
    html = LOCAL_CONFIG.sub("", html)
    if plotly:
        with open(plotly, encoding="utf-8") as f:
            bundle = f.read()
        html = html.replace("</head>", '<script type="text/javascript">' + bundle + "</script>\n</head>", 1)
    return html


PLOTLY_MIME = "application/vnd.plotly.v1+json"
DATA_ELSEWHERE = re.compile(r'data-rr-figure="([^"]+)"')


def with_chart_data(nb):
    """A copy of the notebook for the HTML report: a chart's HTML form holds no data in the saved
    notebook (its plotly MIME form has it, once); the report has only the HTML form, so the data
    goes into the empty <script type="application/json"> beside the chart's script."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            html = data.get("text/html")
            if PLOTLY_MIME not in data or not html:
                continue
            html = "".join(html) if isinstance(html, list) else html
            m = DATA_ELSEWHERE.search(html)
            if not m:
                continue
            slot = f'<script type="application/json" id="{m.group(1)}-data"></script>'
            payload = json.dumps(data[PLOTLY_MIME]).replace("</", "<\\/")
            data["text/html"] = html.replace(slot, slot.replace("></script>", ">" + payload + "</script>"), 1)
    return nb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("notebook")
    ap.add_argument("out_dir")
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--plotly", help="minified plotly.js to inline in the HTML report")
    a = ap.parse_args()

    name = os.path.splitext(os.path.basename(a.notebook))[0]
    # The kernel's launcher appends errors thrown outside any cell (timers, promises) here.
    errors = tempfile.NamedTemporaryFile(prefix="kernel-errors-", suffix=".log", delete=False)
    errors.close()
    os.environ["RETAIL_REPR_KERNEL_ERRORS"] = errors.name
    nb = nbformat.read(a.notebook, as_version=4)
    client = NotebookClient(nb, kernel_name=a.kernel, timeout=a.timeout,
                            resources={"metadata": {"path": os.path.dirname(os.path.abspath(a.notebook))}})
    failure = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
        failure = e

    os.makedirs(a.out_dir, exist_ok=True)
    # Signed as Jupyter signs what its user ran: opened later, its charts' scripts may run.
    try:
        NotebookNotary().sign(nb)
    except Exception as e:  # a read-only Jupyter data dir: the copy opens untrusted, nothing else
        print(f"note: executed copy not signed ({e})", file=sys.stderr)
    nbformat.write(nb, os.path.join(a.out_dir, name + ".ipynb"))
    html, _ = HTMLExporter().from_notebook_node(with_chart_data(nb))
    html = standalone(html, a.plotly)
    with open(os.path.join(a.out_dir, name + ".html"), "w", encoding="utf-8") as f:
        f.write(html)

    with open(errors.name, encoding="utf-8") as f:
        late = f.read().strip()
    os.unlink(errors.name)

    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if failure is not None:
        # The failing cell is the last one that ran (it has an execution count or outputs).
        ran = [i for i in code_cells if nb.cells[i].get("execution_count") or nb.cells[i].get("outputs")]
        where = describe(nb, ran[-1]) if ran else "a cell"
        text = cell_text(nb.cells[ran[-1]]) if ran else ""
        kind = type(failure).__name__
        print(f"{name}: {where} failed ({kind}).", file=sys.stderr)
        print(text or str(failure).strip() or "(the cell printed nothing)", file=sys.stderr)
        return 1

    if late:
        print(f"{name}: an error was thrown outside any cell (timer or unawaited promise):", file=sys.stderr)
        print(late, file=sys.stderr)
        return 1

    for i in code_cells:
        for out in nb.cells[i].get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                bad = [l for l in out.get("text", "").splitlines() if ERROR_LINE.search(l)]
                if bad:
                    print(f"{name}: {describe(nb, i)} wrote an error to stderr:", file=sys.stderr)
                    print("\n".join(bad), file=sys.stderr)
                    return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
