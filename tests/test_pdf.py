"""PDFs through latexmk: every bundled problem compiles, q1's text holds every answer and the
chain rule, author text cannot reach TeX, failures are one line.  These run for real: a
missing latexmk or TikZ fails them (the README's test command installs both)."""

import os
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from derive.output import pdf, render
from derive.cli import app
from derive.calculus.questions import solve
from derive.lang.loader import load, loads

from conftest import PROBLEMS, ROOT

runner = CliRunner()


def _require_tex():
    why = pdf.available()
    assert why is None, why
    assert shutil.which("kpsewhich") and subprocess.run(
        ["kpsewhich", "tikz.sty"], capture_output=True, text=True).stdout.strip(), \
        "TikZ is missing: apt-get install texlive-pictures (see the README's test command)"
    assert shutil.which("pdftotext"), "pdftotext is missing: apt-get install poppler-utils"


def _text(pdf_path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True,
                         text=True, check=True).stdout
    return unicodedata.normalize("NFC", out)  # ŷ comes out as y and a combining hat


def test_q1_pdf_holds_every_answer_and_the_chain_rule(tmp_path):
    _require_tex()
    r = runner.invoke(app, ["solve", str(ROOT / "problems/q1.yaml"), "--format", "pdf",
                            "--out", str(tmp_path), "--no-check"])
    assert r.exit_code == 0, r.output
    text = _text(tmp_path / "q1" / "solution.pdf")
    flat = re.sub(r"\s+", "", text)
    assert "2(4−5)(2)(1)+2(6−5)(2)(2+(1)(1))" in flat  # the numbers put in
    assert "=−4+12" in flat and "2(ŷ1−y1)Wyh0+2(ŷ2−y2)Wy(h1+Whh0)" in flat
    answers = [ln.split("=")[-1].strip() for ln in text.splitlines() if "Answer:" in ln]
    assert answers == ["6", "2", "0", "8", "40", "2", "4"], answers
    assert "Figure 1: The unrolled computational graph" in text
    assert (tmp_path / "q1" / "solution.log").read_text().startswith("This is pdfTeX")


def test_every_bundled_problem_compiles_with_its_graph_inside_the_margins(tmp_path):
    """Every problem compiles; time-indexed ones carry the graph; long equations break and
    wide tables split, so LaTeX reports no overfull line."""
    _require_tex()
    for path in PROBLEMS:
        problem = load(path)
        tex = render.latex(solve(problem))
        built = pdf.build(tex)
        assert built.pdf.startswith(b"%PDF"), path
        (tmp_path / "p.pdf").write_bytes(built.pdf)
        has_graph = "The unrolled computational graph" in _text(tmp_path / "p.pdf")
        assert has_graph == bool(problem.steps) == ("tikzpicture" in tex), path
        over = [ln for ln in built.log.splitlines() if ln.startswith("Overfull \\hbox")]
        assert over == [], (path.name, over)
        assert _glyph_problems(tex, built.log) == [], path.name


def test_author_text_prints_literally_and_reads_or_runs_nothing(tmp_path):
    _require_tex()
    marker = tmp_path / "pwned"
    text = (f"title: '\\input{{/etc/passwd}}'\nstatement: 'run \\write18{{touch {marker}}} and "
            "\\immediate\\write18{ls}'\nequations:\n  y: 2*x\ngiven:\n  x: 3\n"
            "questions:\n  - find: y\n")
    built = pdf.build(render.latex(solve(loads(text, "evil.yaml"))))
    (tmp_path / "e.pdf").write_bytes(built.pdf)
    out = " ".join(_text(tmp_path / "e.pdf").split())  # a justified line stretches its spaces
    assert "\\input{/etc/passwd}" in out and "root:" not in out
    assert f"\\write18{{touch {marker}}}" in out
    assert not marker.exists()


def test_a_latex_error_is_one_line_and_the_log_is_kept():
    _require_tex()
    with pytest.raises(pdf.PdfError) as e:
        pdf.build("\\documentclass{article}\\begin{document}\\nosuchcommand\\end{document}")
    assert str(e.value).startswith("LaTeX failed: Undefined control sequence")
    assert "\n" not in str(e.value) and "nosuchcommand" in e.value.log


def test_without_latexmk_the_message_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf.shutil, "which", lambda exe: None)
    r = runner.invoke(app, ["solve", str(ROOT / "problems/q1.yaml"), "--format", "pdf",
                            "--out", str(tmp_path), "--no-check"])
    assert r.exit_code == 1
    assert "latexmk and pdflatex are not installed" in r.stderr
    assert "apt-get install --no-install-recommends latexmk" in r.stderr


def test_pdfs_are_reproducible():
    _require_tex()
    tex = render.latex(solve(load(ROOT / "problems/q1.yaml")))
    assert pdf.build(tex).pdf == pdf.build(tex).pdf


def test_book_of_all_problems_with_and_without_solutions(tmp_path):
    _require_tex()
    r = runner.invoke(app, ["book", str(ROOT / "problems"), "--out", str(tmp_path),
                            "--no-check"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["book", str(ROOT / "problems"), "--questions-only", "--out",
                            str(tmp_path)])
    assert r.exit_code == 0, r.output
    book, sheet = _text(tmp_path / "book.pdf"), _text(tmp_path / "questions.pdf")
    for path in PROBLEMS:
        title = load(path).title
        assert title in book and title in sheet, title
    assert "Contents" in book and book.count("Answer:") >= 50
    assert "Answer:" not in sheet and "Forward pass" not in sheet and "Checked against" not in sheet
    assert "Figure" in sheet  # the graphs stay, without their values
    # the table of contents links to each problem (poppler's XML lists the links)
    toc = subprocess.run(["pdftohtml", "-xml", "-i", "-stdout", "-f", "2", "-l", "2",
                          str(tmp_path / "book.pdf")], capture_output=True, text=True).stdout
    assert len(re.findall(r'<a href="[^"]*#\d+">', toc)) >= len(PROBLEMS)
    assert "Overfull \\hbox" not in (tmp_path / "book.log").read_text()


def test_wide_tables_split_and_long_rows_break():
    from derive.output import layout
    rows = [("x", "= " + " + ".join(f"a_{{{i}}} b_{{{i}}}" for i in range(40)))]
    broken = layout.break_rows(rows)
    assert len(broken) > 2 and all(layout.width(lhs) + layout.width(rhs) <= layout.LINE + 8
                                   for lhs, rhs in broken)
    header = ["t"] + [rf"\frac{{\partial L}}{{\partial q_{{{i}}}}}" for i in range(12)]
    body = [[str(t)] + [r"\begin{bmatrix} 0.1234 & 0.5678 \end{bmatrix}^\top"] * 12
            for t in range(3)]
    parts = layout.split_table(header, body)
    assert len(parts) > 1 and all(h[0] == "t" for h, _ in parts)
    assert sum(len(h) - 1 for h, _ in parts) == 12



def _glyph_problems(tex: str, log: str) -> list:
    """What prints a wrong or no glyph: a character missing from its font (LaTeX's log says
    "Missing character", as \\tracinglostchars is 2), one with no LaTeX definition, a font
    substituted, and \\mathbb of anything but a capital (amssymb's blackboard font has capitals
    only, so \\mathbb{1} prints a wrong symbol without a word in the log)."""
    bad = [ln for ln in log.splitlines() if "Missing character" in ln
           or "not set up for use with LaTeX" in ln or ("Font shape" in ln and "undefined" in ln)]
    return bad + re.findall(r"\\mathbb\s*\{\s*[^A-Z\s][^}]*\}", tex)


CASES = sorted((ROOT / "tests" / "cases").glob("*.yaml"))
#: The course problems the README's look is reviewed on: a relu RNN, PyTorch's GRU (vectors) and
#: min-char-rnn (biases, softmax cross-entropy of class numbers).
COURSE = ("lead_relu_explode", "lead_gru_pytorch", "entries_min_char_rnn")


def _overfull(log: str) -> list:
    return [ln for ln in log.splitlines() if ln.startswith(("Overfull \\hbox",
                                                            "Overfull \\vbox"))]


def test_every_course_case_compiles_inside_the_margins_with_every_glyph(tmp_path):
    """Every problem of tests/cases (the relu RNN, the vector GRU and min-char-rnn among them)
    compiles with no overfull box and no wrong glyph, read from LaTeX's log; the pages of the
    three course PDFs render to images (pdftoppm) that are pages and not blank."""
    from concurrent.futures import ThreadPoolExecutor

    _require_tex()
    assert shutil.which("pdftoppm"), "pdftoppm is missing: apt-get install poppler-utils"
    assert len(CASES) >= 15 and {p.stem for p in CASES} >= set(COURSE)
    texs = {p.stem: render.latex(solve(load(p))) for p in CASES}
    with ThreadPoolExecutor(min(8, os.cpu_count() or 2)) as pool:  # latexmk: processes
        built = dict(zip(texs, pool.map(pdf.build, texs.values())))
    for name, b in built.items():
        assert b.pdf.startswith(b"%PDF"), name
        assert _overfull(b.log) == [], (name, _overfull(b.log))
        assert _glyph_problems(texs[name], b.log) == [], name
    # a 10-question vector key: 11 pages when every question repeated both passes
    assert _pages(built["once_ten_questions"].pdf, tmp_path) <= 5
    for name in COURSE:
        (tmp_path / f"{name}.pdf").write_bytes(built[name].pdf)
        subprocess.run(["pdftoppm", "-png", "-r", "30", str(tmp_path / f"{name}.pdf"),
                        str(tmp_path / name)], check=True)
        pages = sorted(tmp_path.glob(f"{name}-*.png"))
        assert len(pages) >= 2, name
        for page in pages:
            w, h = _png_size(page)
            assert (w, h) == (_png_size(pages[0])) and 200 < w < h < 2 * w, (page, w, h)
            assert page.stat().st_size > 2000, page  # a blank page compresses to almost nothing


def _pages(data: bytes, tmp_path) -> int:
    path = tmp_path / "count.pdf"
    path.write_bytes(data)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    return int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))


def _png_size(path) -> tuple:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_the_readme_shows_a_page_of_a_vector_key_and_a_gated_cell_graph():
    """The look is reviewable from the README: one rendered page of a vector key (a PNG, of a
    modest size) and the graph of PyTorch's GRU, both committed and both shown."""
    readme = (ROOT / "README.md").read_text()
    page = ROOT / "docs" / "page-vector-key.png"
    if os.environ.get("DERIVE_UPDATE_GOLDEN"):
        _require_tex()
        _render_key_page(ROOT / "tests/cases/lead_gru_pytorch.yaml", page)
    assert "docs/page-vector-key.png" in readme and "docs/graph-gru-pytorch.svg" in readme
    w, h = _png_size(page)
    assert 400 < w < 900 and w < h and 20_000 < page.stat().st_size < 400_000
    svg = (ROOT / "docs" / "graph-gru-pytorch.svg").read_text()
    assert svg.startswith("<svg") or "<svg" in svg[:200]


def _render_key_page(problem, out, marker: str = "Backward pass", dpi: int = 75) -> None:
    """The first page of ``problem``'s key that shows ``marker``, as a PNG at ``dpi``."""
    import tempfile

    built = pdf.build(render.latex(solve(load(problem))))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "key.pdf"
        path.write_bytes(built.pdf)
        pages = _text(path).split("\f")
        n = next(i for i, text in enumerate(pages, start=1) if marker in text)
        subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", str(n), "-l", str(n),
                        "-singlefile", str(path), str(Path(d) / "page")], check=True)
        out.write_bytes((Path(d) / "page.png").read_bytes())


def test_no_missing_or_wrong_glyph_in_the_course_pdfs():
    """The course cases of a relu RNN and of PyTorch's GRU print every glyph right (the bundled
    problems are checked where they are compiled, above)."""
    _require_tex()
    for name in ("lead_gru_pytorch", "lead_relu_explode"):
        tex = render.latex(solve(load(ROOT / "tests/cases" / f"{name}.yaml")))
        assert _glyph_problems(tex, pdf.build(tex).log) == [], name
    assert _glyph_problems(r"$\mathbb{1}[z > 0]$", "") == [r"\mathbb{1}"]
    assert _glyph_problems("", "Missing character: There is no ^^f0 in font msbm10!") != []
