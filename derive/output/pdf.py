"""LaTeX to PDF with latexmk (pdflatex) from TeX Live, locked down.

Shell escape is off, TeX may read and write only inside its build folder (``openin_any`` and
``openout_any`` paranoid), no latexmkrc is read, and a run is cut off after a time limit.  The
build happens in a fresh temporary folder; the caller gets the PDF bytes and the log text and
writes them where they belong.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

TIME_LIMIT = 120
PACKAGES = ("latexmk texlive-latex-base texlive-latex-recommended texlive-pictures "
            "texlive-fonts-recommended lmodern")
INSTALL = ("apt-get install --no-install-recommends " + PACKAGES)


class PdfError(Exception):
    """latexmk is missing, LaTeX failed (the first error, in one line) or ran out of time."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class Built:
    pdf: bytes
    log: str


def available() -> str | None:
    """Why a PDF cannot be made here (None when latexmk and pdflatex are installed)."""
    missing = [exe for exe in ("latexmk", "pdflatex") if shutil.which(exe) is None]
    if missing:
        return (f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed; "
                f"on Debian or Ubuntu: {INSTALL}")
    return None


def build(tex: str, name: str = "solution") -> Built:
    """Compile one LaTeX document; raises PdfError."""
    why = available()
    if why is not None:
        raise PdfError(f"cannot make a PDF: {why}")
    with tempfile.TemporaryDirectory(prefix="derive-tex-") as tmp:
        folder = Path(tmp)
        (folder / f"{name}.tex").write_text(tex, encoding="utf-8")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
               "openin_any": "p", "openout_any": "p", "shell_escape": "f",
               "TEXMFOUTPUT": tmp, "LC_ALL": "C.UTF-8", "SOURCE_DATE_EPOCH": "0",
               "FORCE_SOURCE_DATE": "1"}
        cmd = ["latexmk", "-norc", "-pdf", "-interaction=nonstopmode", "-halt-on-error",
               "-file-line-error", "-no-shell-escape",
               "-pdflatex=pdflatex -no-shell-escape -interaction=nonstopmode -halt-on-error "
               "-file-line-error %O %S", f"{name}.tex"]
        try:
            subprocess.run(cmd, cwd=folder, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=TIME_LIMIT, check=False)
        except subprocess.TimeoutExpired:
            raise PdfError(f"LaTeX ran longer than {TIME_LIMIT} s and was stopped",
                           _read(folder / f"{name}.log")) from None
        log = _read(folder / f"{name}.log")
        pdf = folder / f"{name}.pdf"
        error = first_error(log)
        if error is not None or not pdf.is_file():
            raise PdfError(f"LaTeX failed: {error or 'no PDF was produced'}", log)
        return Built(pdf.read_bytes(), log)


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


_ERROR = re.compile(r"^(?:!|\S+\.tex:\d+:) ?(.*)$")


def first_error(log: str) -> str | None:
    """The first LaTeX error of a log, in one line, with the line it points at."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        m = _ERROR.match(line)
        if m and (line.startswith("!") or ": " in line):
            where = next((ln for ln in lines[i + 1:i + 8] if ln.startswith("l.")), "")
            return (m.group(1).strip() + (f" ({where.strip()})" if where else "")).strip()
    return None
