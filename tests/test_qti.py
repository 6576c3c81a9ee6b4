"""The QTI zip read back: the manifest, each quiz's assessment and its numerical items, every
answer compared with the committed answer keys."""

import io
import xml.etree.ElementTree as ET
import zipfile

import pytest

from derive.calculus.questions import solve
from derive.export import content, qti
from derive.lang.loader import load

from conftest import ROOT
from test_moodle import flat, key_values

CP = "{http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1}"
Q = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"


def read_qti(data: bytes) -> list:
    """[(quiz title, [(item title, question type, HTML, exact, low, high)], images)] of a QTI
    zip, in the manifest's order; every file the manifest names must be in the zip."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = set(zf.namelist())
    manifest = ET.fromstring(zf.read("imsmanifest.xml"))
    resources = manifest.findall(f"{CP}resources/{CP}resource")
    for r in resources:
        for f in r.findall(f"{CP}file"):
            assert f.get("href") in names
    quizzes = []
    for r in resources:
        if r.get("type") != "imsqti_xmlv1p2":
            continue
        [dep] = r.findall(f"{CP}dependency")
        [meta] = [m for m in resources if m.get("identifier") == dep.get("identifierref")]
        assert meta.get("href").endswith("assessment_meta.xml")
        doc = ET.fromstring(zf.read(r.find(f"{CP}file").get("href")))
        [assessment] = doc.findall(f"{Q}assessment")
        items = []
        for it in assessment.iter(f"{Q}item"):
            fields = {f.find(f"{Q}fieldlabel").text: f.find(f"{Q}fieldentry").text
                      for f in it.iter(f"{Q}qtimetadatafield")}
            text = it.find(f"{Q}presentation/{Q}material/{Q}mattext").text
            cond = it.find(f".//{Q}respcondition/{Q}conditionvar")
            if cond is None:
                items.append((it.get("title"), fields["question_type"], text, None, None, None))
                continue
            exact = float(cond.find(f".//{Q}varequal").text)
            lo, hi = (float(cond.find(f".//{Q}{v}").text) for v in ("vargte", "varlte"))
            assert it.find(f".//{Q}setvar").text == "100"
            items.append((it.get("title"), fields["question_type"], text, exact, lo, hi))
        images = {f.get("href"): zf.read(f.get("href")) for m in resources
                  if m.get("type") == "webcontent" for f in m.findall(f"{CP}file")}
        quizzes.append((assessment.get("title"), items, images))
    return quizzes


def _zip(stem):
    return qti.zip_bytes([content.exercise(solve(load(ROOT / "problems" / f"{stem}.yaml")))])


@pytest.mark.parametrize("stem", ["q1", "vector_rnn"])
def test_every_item_holds_the_key_with_its_margin(stem):
    [(title, items, images)] = read_qti(_zip(stem))
    intro, *numerical = items
    assert intro[1] == "text_only_question" and intro[3] is None
    want = [x for v in key_values(stem).values() for x in flat(v)]
    assert len(numerical) == len(want)
    for (_, kind, _, exact, lo, hi), v in zip(numerical, want):
        margin = max(1e-6, 1e-3 * abs(v))
        assert kind == "numerical_question" and exact == v
        assert lo == pytest.approx(v - margin, rel=1e-15, abs=1e-21)
        assert hi == pytest.approx(v + margin, rel=1e-15, abs=1e-21)
    # the figure is in the zip and the problem's text shows it
    [(path, svg)] = images.items()
    assert svg.startswith(b"<svg") and f"%24IMS-CC-FILEBASE%24/{path}" in intro[2]


def test_items_name_their_question_and_entry():
    [(title, items, _)] = read_qti(_zip("vector_rnn"))
    assert title == "A vector tanh RNN over two steps"
    assert [t for t, *_ in items[:5]] == [
        "The problem", "Question a, entry (1)", "Question a, entry (2)", "Question b",
        "Question c, entry (1, 1)"]
    assert r"<p>Give entry (1, 2) of \(\frac{\partial L}{\partial W_{hh}}\).</p>" in items[5][2]
    [(_, q1_items, _)] = read_qti(_zip("q1"))
    assert q1_items[4][2] == ("<p>Compute the derivative of the total loss with respect to "
                              "\\(W_h\\).</p>\n<p>Give \\(\\frac{\\partial L}{\\partial "
                              "W_{h}}\\).</p>")
    assert q1_items[4][3:] == (8.0, 7.992, 8.008)


def test_the_zip_is_deterministic():
    data = _zip("vector_rnn")
    assert data == _zip("vector_rnn")
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert zf.namelist()[0] == "imsmanifest.xml"
    assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_several_exercises_are_several_quizzes():
    sols = [solve(load(ROOT / "problems" / f"{s}.yaml")) for s in ("q1", "vector_rnn")]
    got = read_qti(qti.zip_bytes([content.exercise(s) for s in sols]))
    assert [t for t, _, _ in got] == ["A two-step RNN with identity activations",
                                      "A vector tanh RNN over two steps"]
    assert [len(items) for _, items, _ in got] == [1 + 7, 1 + 15]


def test_the_quiz_settings_are_canvas_s():
    zf = zipfile.ZipFile(io.BytesIO(_zip("q1")))
    [name] = [n for n in zf.namelist() if n.endswith("assessment_meta.xml")]
    quiz = ET.fromstring(zf.read(name))
    c = "{http://canvas.instructure.com/xsd/cccv1p0}"
    assert quiz.get("identifier") == name.split("/")[0]
    assert quiz.find(f"{c}title").text == "A two-step RNN with identity activations"
    assert quiz.find(f"{c}points_possible").text == "7.0"  # one point per numeric answer
    assert quiz.find(f"{c}assignment/{c}quiz_identifierref").text == quiz.get("identifier")
