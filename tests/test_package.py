"""The wheel, installed the ordinary way (not editable) into a fresh virtual environment and run
from a folder outside the repository, solves q1 into Markdown, LaTeX and PDF.  Before the
templates shipped inside the package, exactly this crashed with TemplateNotFound.

Nothing is downloaded: the wheel is built without build isolation (setuptools of the test
interpreter), and the fresh environment reaches sympy, jinja2, typer and the rest through a
``.pth`` line naming the test interpreter's site-packages, which holds them.  Missing tools
fail the test; nothing here skips."""

import re
import shutil
import subprocess
import sys
import sysconfig
import unicodedata
import zipfile
from pathlib import Path

import sympy

from conftest import ROOT

Q1_ANSWERS = ["6", "2", "0", "8", "40", "2", "4"]


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert r.returncode == 0, (cmd, r.stdout[-3000:], r.stderr[-3000:])
    return r


def _answers(lines) -> list[str]:
    return [ln.split("=")[-1].strip().strip("$").strip() for ln in lines if "Answer:" in ln]


def test_the_installed_wheel_solves_q1_from_outside_the_repository(tmp_path):
    assert shutil.which("pdftotext"), "pdftotext is missing: apt-get install poppler-utils"
    # build from a copy, so the build leaves no build/ or egg-info in the working tree
    src = tmp_path / "src"
    top = {".git", ".venv", ".ci", "output", "tests", "build", ".pytest_cache", ".hypothesis"}
    shutil.copytree(ROOT, src, ignore=lambda folder, names: [
        n for n in names if (Path(folder) == ROOT and n in top) or n == "__pycache__"
        or n.endswith(".egg-info")])
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", "-q", "-w", str(dist), str(src)])
    wheels = list(dist.glob("derive-*.whl"))
    assert len(wheels) == 1, wheels
    names = zipfile.ZipFile(wheels[0]).namelist()
    shipped = {Path(n).name for n in names if n.startswith("derive/templates/")}
    assert shipped == {p.name for p in (ROOT / "templates").glob("*.j2")} and shipped
    assert "derive/output/render.py" in names and "derive/calculus/numbers.py" in names

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
          "--no-index", "-q", str(wheels[0])])
    fresh_site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_path("
                                            "'purelib'))"]).stdout.strip())
    deps = Path(sympy.__file__).resolve().parent.parent
    assert deps == Path(sysconfig.get_path("purelib")).resolve(), deps
    # a plain path line: the dev environment's own .pth files (its editable derive) stay unread
    (fresh_site / "deps.pth").write_text(f"{deps}\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
           "SOURCE_DATE_EPOCH": "0"}
    where = _run([str(py), "-c", "import derive, derive.output.render as r; "
                  "print(derive.__file__); print(r.TEMPLATES)"], cwd=work, env=env).stdout
    module, templates = map(Path, where.split())
    assert module.is_relative_to(venv) and templates.is_relative_to(venv), where
    assert (templates / "solution.tex.j2").is_file()

    out = tmp_path / "out"
    r = _run([str(venv / "bin" / "derive"), "solve", str(ROOT / "problems/q1.yaml"),
              "--format", "md,tex,pdf", "--no-check", "--out", str(out)], cwd=work, env=env)
    assert "d(L, W_h)" in r.stdout
    folder = out / "q1"
    md = (folder / "solution.md").read_text()
    assert r"**Answer:** $\frac{\partial L}{\partial W_{h}} = 8$" in md
    assert _answers(md.splitlines()) == Q1_ANSWERS
    tex = (folder / "solution.tex").read_text()
    assert tex.startswith(r"\documentclass") and r"\end{document}" in tex
    assert _answers(tex.splitlines()) == Q1_ANSWERS
    text = unicodedata.normalize("NFC", _run(
        ["pdftotext", "-layout", str(folder / "solution.pdf"), "-"]).stdout)
    assert _answers(text.splitlines()) == Q1_ANSWERS
    assert "=−4+12" in re.sub(r"\s+", "", text)  # the worked chain rule, not only the answers
