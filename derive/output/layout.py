"""Page layout for the LaTeX output: long equations break across lines and wide tables split
into several, so nothing runs into the margin.  Widths are estimated from the LaTeX itself
(about the number of characters a reader sees, in units of an average math character).
"""

from __future__ import annotations

import re

#: Characters of display math that fit the text width (16.6 cm at 10 pt), with room to spare.
LINE = 68
TABLE = 86

_CMD_WIDTH = {"quad": 2, "qquad": 4, ",": 0.3, ";": 0.4, "!": 0, " ": 0.5, "left": 0,
              "right": 0, "bigl": 0, "bigr": 0, "Bigl": 0, "Bigr": 0, "displaystyle": 0, "textstyle": 0,
              "mathrel": 0, "limits": 0, "top": 1,
              # binary operators carry their spacing on both sides
              "cdot": 1.6, "odot": 1.6, "oslash": 1.6, "times": 1.6}
_SPACED = frozenset("+-=<>")


def _group(s: str, i: int) -> tuple[str, int]:
    """The brace group starting at s[i] == '{', and the index after it."""
    depth, j = 0, i
    while j < len(s):
        if s[j] == "\\":
            j += 2
            continue
        if s[j] == "{":
            depth += 1
        elif s[j] == "}":
            depth -= 1
            if depth == 0:
                return s[i + 1:j], j + 1
        j += 1
    return s[i + 1:], len(s)


def width(s: str) -> float:
    """Estimated printed width of LaTeX math."""
    w, i = 0.0, 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", s[i:])
            name = m.group(1)
            i += len(m.group(0))
            if name == "frac":
                a, i = _group(s, _skip(s, i))
                b, i = _group(s, _skip(s, i))
                w += max(width(a), width(b)) + 0.4  # the bar's overhang
            elif name in ("text", "operatorname", "mathrm", "textbf", "emph"):
                a, i = _group(s, _skip(s, i))
                w += len(a) * (0.55 if name == "text" else 0.8)
            elif name in ("llap", "rlap"):  # printed over the space before or after it
                _, i = _group(s, _skip(s, i))
            elif name in ("hat", "bar", "tilde", "mathbf", "boldsymbol", "sqrt", "phantom"):
                a, i = _group(s, _skip(s, i))
                w += width(a) + (1 if name == "sqrt" else 0)
            elif name == "begin":
                env, i = _group(s, _skip(s, i))
                end = s.find(r"\end{" + env + "}", i)
                body = s[i:end if end >= 0 else len(s)]
                i = end + len(env) + 6 if end >= 0 else len(s)
                rows = [re.sub(r"^\s*\[[^\]]*\]", "", r) for r in body.split(r"\\")]
                w += 1.5 + max(sum(width(c) + 1 for c in r.split("&")) for r in rows)
            elif name == "end":
                _, i = _group(s, _skip(s, i))
            else:
                w += _CMD_WIDTH.get(name, 1)
            continue
        if c in "_^":
            i += 1
            if i < len(s) and s[i] == "{":
                a, i = _group(s, i)
                w += 0.6 * width(a)
            else:
                w += 0.6
                i += 1
            continue
        if c in _SPACED:
            w += 1.6
        elif c not in " {}":
            w += 1
        i += 1
    return w


def _skip(s: str, i: int) -> int:
    while i < len(s) and s[i] == " ":
        i += 1
    return i


def _breakable(rhs: str) -> list[tuple[str, int]]:
    """rhs cut before every + and − and after every · outside braces and environments, each
    piece with the parenthesis depth it starts at; \\left( … \\right) become \\bigl( … \\bigr),
    which LaTeX lets a line break split."""
    s = _sized(rhs)
    s = s.replace(r"\left.", "").replace(r"\right.", "")
    pieces, depth, env, paren, start, start_paren, i = [], 0, 0, 0, 0, 0, 0
    while i < len(s):
        if s.startswith(r"\begin{", i):
            env += 1
        elif s.startswith(r"\end{", i):
            env -= 1
        elif s.startswith((r"\bigl", r"\Bigl"), i):
            paren += 1
        elif s.startswith((r"\bigr", r"\Bigr"), i):
            paren -= 1
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif depth == 0 and env == 0 and i > start + 2:
            cut = None
            if s.startswith(" + ", i) or s.startswith(" - ", i):
                cut = i
            elif paren == 0 and s.startswith((r" \bigl(", r" \Bigl("), i) and s[i - 1] == ")":
                cut = i  # between two factors in parentheses
            elif s.startswith(r" \cdot ", i):
                cut = i + 6
            if cut is not None:
                pieces.append((s[start:cut].strip(), start_paren))
                start, start_paren = cut + 1, paren
        i += 1
    pieces.append((s[start:].strip(), start_paren))
    return [p for p in pieces if p[0]]


def _sized(s: str) -> str:
    """\\left( … \\right) as \\bigl( … \\bigr), or \\Bigl( … \\Bigr) around a fraction, so
    the brackets still enclose a fraction visibly."""
    pairs, stack, size = {}, [], {}
    for m in re.finditer(r"\\left[(\[|]|\\right[)\]|]", s):
        size[m.start()] = "big"  # an unpaired one (after \\left.) as before
        if m.group(0).startswith(r"\left"):
            stack.append(m.start())
        elif stack:
            pairs[stack.pop()] = m.start()
    out = list(s)
    for a, b in pairs.items():
        size[a] = size[b] = "Big" if r"\frac" in s[a:b] else "big"
    for i in sorted(size, reverse=True):
        side = "l" if s.startswith(r"\left", i) else "r"
        n = len(r"\left") if side == "l" else len(r"\right")
        out[i:i + n] = "\\" + size[i] + side
    return "".join(out)


def break_rows(rows: list) -> list:
    """align* rows (lhs, rhs) with every too-long row broken into continuation lines, at the
    shallowest parenthesis depth that makes the lines fit."""
    out = []
    for lhs, rhs in rows:
        if width(lhs) + width(rhs) <= LINE:
            out.append((lhs, rhs))
            continue
        pieces = _breakable(rhs)
        lines, first = [], True
        while pieces:
            room = LINE - width(lhs) if first else LINE - 6
            total, take = 0.0, 0
            for k, (text, _) in enumerate(pieces):
                total += width(text) + 1
                if total > room and k > 0:
                    break
                take = k + 1
            if take < len(pieces):
                # break before the shallowest piece among the ones that fit (the latest such)
                best = min(range(1, take + 1), key=lambda k: (pieces[k][1], -k)) \
                    if take >= 1 else 1
                take = max(1, best)
            lines.append(" ".join(t for t, _ in pieces[:take]))
            pieces = pieces[take:]
            first = False
        out.append((lhs, lines[0]))
        out.extend(("", r"\quad " + ln) for ln in lines[1:])
    return out


def split_table(header: list, body: list) -> list:
    """(header, body) pieces of a table whose columns fit the width; the first column (the
    step) is repeated in each."""
    widths = [max([width(h)] + [width(r[i]) for r in body if i < len(r)]) + 2
              for i, h in enumerate(header)]
    if sum(widths) <= TABLE or len(header) <= 2:
        return [(header, body)]
    chunks, cur, used = [], [], widths[0]
    for i in range(1, len(header)):
        if cur and used + widths[i] > TABLE:
            chunks.append(cur)
            cur, used = [], widths[0]
        cur.append(i)
        used += widths[i]
    chunks.append(cur)
    return [([header[0]] + [header[i] for i in cols],
             [[r[0]] + [r[i] for i in cols] for r in body]) for cols in chunks]


#: The widest inline formula left in a sentence; a wider one becomes a display of its own.
INLINE = 24


def pack(items: list, sep: str = r",\quad ", room: float = LINE) -> list:
    """``items`` (LaTeX math) joined by ``sep`` into rows that fit ``room``, in order; an item
    wider than the room has a row of its own."""
    rows, cur, used = [], [], 0.0
    gap = width(sep)
    for it in items:
        w = width(it)
        if cur and used + gap + w > room:
            rows.append(sep.join(cur))
            cur, used = [], 0.0
        used += (gap if cur else 0) + w
        cur.append(it)
    if cur:
        rows.append(sep.join(cur))
    return rows


def unbroken(items: list, sep: str = ", ") -> str:
    """Text of inline formulas that a line may break between, never inside one."""
    return sep.join(rf"\mbox{{${it}$}}" for it in items)


_INLINE = re.compile(r"(?<![\\$])\$([^$\n]+?)\$(?!\$)([.,:;]?)")


def display_long(text: str, most: float = INLINE) -> str:
    """LaTeX text whose inline formulas wider than ``most`` become displays (with the
    punctuation that follows), so a sentence never runs past the margin."""
    def one(m):
        math, punct = m.group(1), m.group(2)
        if width(math) <= most:
            return m.group(0)
        return rf"\[{math}{{{punct}}}\]" if punct else rf"\[{math}\]"

    return _INLINE.sub(one, text)


_ROW_VECTOR = re.compile(r"\\begin\{bmatrix\} (.*) \\end\{bmatrix\}\^\\top")


def align_row_vectors(body: list) -> list:
    """Table rows whose cells are transposed row vectors ([a & b]ᵀ) with each entry padded to
    the widest entry at its place in the column, so the brackets line up down the column."""
    if not body:
        return body
    out = [list(r) for r in body]
    for j in range(max(len(r) for r in body)):
        cells = [(i, _ROW_VECTOR.fullmatch(r[j])) for i, r in enumerate(body) if j < len(r)]
        split = {i: m.group(1).split(" & ") for i, m in cells if m}
        if len(split) < 2 or len({len(v) for v in split.values()}) != 1:
            continue
        n = len(next(iter(split.values())))
        widest = [max((v[k] for v in split.values()), key=width) for k in range(n)]
        for i, entries in split.items():
            padded = [e if e == w else rf"\phantom{{{w}}}\llap{{${e}$}}"
                      for e, w in zip(entries, widest)]
            out[i][j] = (r"\begin{bmatrix} " + " & ".join(padded) + r" \end{bmatrix}^\top")
    return out
