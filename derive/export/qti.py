"""A QTI 1.2 zip that Canvas imports: one quiz per exercise, its numerical items.

The layout is the one Canvas exports and text2qti writes (github.com/gpoore/text2qti,
``xml_imsmanifest.py``, ``xml_assessment.py``): ``imsmanifest.xml`` lists, per quiz, a resource
of type ``imsqti_xmlv1p2`` (``<ident>/<ident>.xml``, the ``questestinterop`` assessment) with
its dependency ``<ident>/assessment_meta.xml`` (Canvas's quiz settings), and the figure as a
``webcontent`` resource under ``images/``, which the text reads through
``$IMS-CC-FILEBASE$``.  A quiz starts with a text-only item (the problem, its givens and figure),
then one ``numerical_question`` per entry: the exact answer with a margin, graded as text2qti
writes it (``<varequal>`` the key, or ``<vargte>`` key - margin and ``<varlte>`` key + margin).

Canvas keeps only correct answers for a numerical question, so the mistakes' answers and their
diagnoses are Moodle's (a 0 % answer there); they are not in the QTI.

Everything is deterministic: identifiers are hashes of the file, variant and question, the
zip's entries are in a fixed order with a fixed date, and no export date is written.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

from .content import FIGURE_NAME, FIGURE_SRC, Exercise, markdown_html, number

QTI_NS = ('xmlns="http://www.imsglobal.org/xsd/ims_qtiasiv1p2" '
          'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
          'xsi:schemaLocation="http://www.imsglobal.org/xsd/ims_qtiasiv1p2 '
          'http://www.imsglobal.org/xsd/ims_qtiasiv1p2p1.xsd"')
_DATE = (1980, 1, 1, 0, 0, 0)


def ident(ex: Exercise, index: int) -> str:
    """The quiz's identifier: ``g`` and 32 hex digits of the file, the variant and its place."""
    key = f"{ex.file}\0{ex.variant or ''}\0{index}".encode("utf-8")
    return "g" + hashlib.sha256(key).hexdigest()[:32]


def margin_bounds(value: float, tol: float) -> tuple:
    """(key - margin, key + margin) in decimal, so that 8 ± 0.008 is 7.992 and 8.008."""
    v, t = Decimal(repr(value)), Decimal(repr(tol))
    return float(v - t), float(v + t)


def _items(ex: Exercise, qid: str) -> list:
    """(item ident, title, HTML, gap) of each numerical item, and the text-only item first."""
    out = []
    for p in ex.parts:
        ask = f"\\({escape(p.ask)}\\)" if p.ask else "the answer"
        text = markdown_html(p.text) if p.text.strip() else ""
        for i, g in enumerate(p.gaps):
            if p.shape == ():
                which, title = f"<p>Give {ask}.</p>", f"Question {p.id}"
            elif g.label.startswith("k ="):
                which = f"<p>Give {ask} at \\({escape(g.label)}\\).</p>"
                title = f"Question {p.id}, {g.label}"
            else:
                which = f"<p>Give entry ({escape(g.label)}) of {ask}.</p>"
                title = f"Question {p.id}, entry ({g.label})"
            out.append((f"{qid}_{p.id}_{i + 1}", title, text + "\n" + which, g))
    return out


def assessment(ex: Exercise, qid: str, image: str | None) -> str:
    """The questestinterop XML of one quiz; ``image`` the figure's path in the zip."""
    intro = ex.intro_html
    if image is not None:
        intro = intro.replace(FIGURE_SRC, f"%24IMS-CC-FILEBASE%24/{image}")
    x = ['<?xml version="1.0" encoding="UTF-8"?>', f"<questestinterop {QTI_NS}>",
         f"  <assessment ident={quoteattr(qid)} title={quoteattr(ex.name)}>",
         "    <qtimetadata>", "      <qtimetadatafield>",
         "        <fieldlabel>cc_maxattempts</fieldlabel>", "        <fieldentry>1</fieldentry>",
         "      </qtimetadatafield>", "    </qtimetadata>", '    <section ident="root_section">']
    x += _item(f"{qid}_problem", "The problem", "text_only_question", 0, intro)
    x += ["      </item>"]
    for iid, title, html_text, g in _items(ex, qid):
        x += _item(iid, title, "numerical_question", 1, html_text, answer=f"{iid}_answer")
        lo, hi = margin_bounds(g.value, g.tolerance)
        x += ["        <resprocessing>", "          <outcomes>",
              '            <decvar maxvalue="100" minvalue="0" varname="SCORE" '
              'vartype="Decimal"/>', "          </outcomes>",
              '          <respcondition continue="No">', "            <conditionvar>",
              "              <or>",
              f'                <varequal respident="response1">{number(g.value)}</varequal>',
              "                <and>",
              f'                  <vargte respident="response1">{number(lo)}</vargte>',
              f'                  <varlte respident="response1">{number(hi)}</varlte>',
              "                </and>", "              </or>", "            </conditionvar>",
              '            <setvar action="Set" varname="SCORE">100</setvar>',
              "          </respcondition>", "        </resprocessing>", "      </item>"]
    x += ["    </section>", "  </assessment>", "</questestinterop>"]
    return "\n".join(x) + "\n"


def _item(iid, title, kind, points, html_text, answer=None) -> list:
    x = [f"      <item ident={quoteattr(iid)} title={quoteattr(title)}>",
         "        <itemmetadata>", "          <qtimetadata>"]
    for label, entry in (("question_type", kind), ("points_possible", str(points)),
                         ("original_answer_ids", answer or ""),
                         ("assessment_question_identifierref", f"{iid}_ref")):
        x += ["            <qtimetadatafield>", f"              <fieldlabel>{label}</fieldlabel>",
              f"              <fieldentry>{escape(entry)}</fieldentry>",
              "            </qtimetadatafield>"]
    x += ["          </qtimetadata>", "        </itemmetadata>", "        <presentation>",
          "          <material>",
          f'            <mattext texttype="text/html">{escape(html_text)}</mattext>',
          "          </material>"]
    if kind == "numerical_question":
        x += ['          <response_str ident="response1" rcardinality="Single">',
              '            <render_fib fibtype="Decimal">',
              '              <response_label ident="answer1"/>', "            </render_fib>",
              "          </response_str>"]
    x.append("        </presentation>")
    return x


def meta(ex: Exercise, qid: str) -> str:
    """Canvas's quiz settings (``assessment_meta.xml``, the fields text2qti writes): an
    unpublished graded quiz worth one point per entry, one attempt, the correct answers shown
    after it."""
    points = f"{sum(len(p.gaps) for p in ex.parts):.1f}"
    title = escape(ex.name)
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<quiz identifier={quoteattr(qid)} xmlns="http://canvas.instructure.com/xsd/cccv1p0" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://canvas.instructure.com/xsd/cccv1p0 '
        'https://canvas.instructure.com/xsd/cccv1p0.xsd">',
        f"  <title>{title}</title>",
        "  <description></description>",
        "  <shuffle_answers>false</shuffle_answers>",
        "  <scoring_policy>keep_highest</scoring_policy>",
        "  <hide_results></hide_results>",
        "  <quiz_type>assignment</quiz_type>",
        f"  <points_possible>{points}</points_possible>",
        "  <require_lockdown_browser>false</require_lockdown_browser>",
        "  <require_lockdown_browser_for_results>false</require_lockdown_browser_for_results>",
        "  <require_lockdown_browser_monitor>false</require_lockdown_browser_monitor>",
        "  <lockdown_browser_monitor_data/>",
        "  <show_correct_answers>true</show_correct_answers>",
        "  <anonymous_submissions>false</anonymous_submissions>",
        "  <could_be_locked>false</could_be_locked>",
        "  <allowed_attempts>1</allowed_attempts>",
        "  <one_question_at_a_time>false</one_question_at_a_time>",
        "  <cant_go_back>false</cant_go_back>",
        "  <available>false</available>",
        "  <one_time_results>false</one_time_results>",
        "  <show_correct_answers_last_attempt>false</show_correct_answers_last_attempt>",
        "  <only_visible_to_overrides>false</only_visible_to_overrides>",
        "  <module_locked>false</module_locked>",
        f'  <assignment identifier="{qid}_assignment">',
        f"    <title>{title}</title>",
        "    <due_at/>", "    <lock_at/>", "    <unlock_at/>",
        "    <module_locked>false</module_locked>",
        "    <workflow_state>unpublished</workflow_state>",
        "    <assignment_overrides>", "    </assignment_overrides>",
        f"    <quiz_identifierref>{qid}</quiz_identifierref>",
        "    <allowed_extensions></allowed_extensions>",
        "    <has_group_category>false</has_group_category>",
        f"    <points_possible>{points}</points_possible>",
        "    <grading_type>points</grading_type>",
        "    <all_day>false</all_day>",
        "    <submission_types>online_quiz</submission_types>",
        "    <position>1</position>",
        "    <peer_review_count>0</peer_review_count>",
        "    <peer_reviews>false</peer_reviews>",
        "    <automatic_peer_reviews>false</automatic_peer_reviews>",
        "    <anonymous_peer_reviews>false</anonymous_peer_reviews>",
        "    <grade_group_students_individually>false</grade_group_students_individually>",
        "    <freeze_on_copy>false</freeze_on_copy>",
        "    <omit_from_final_grade>false</omit_from_final_grade>",
        "    <intra_group_peer_reviews>false</intra_group_peer_reviews>",
        "    <only_visible_to_overrides>false</only_visible_to_overrides>",
        "    <post_to_sis>false</post_to_sis>",
        "    <moderated_grading>false</moderated_grading>",
        "    <grader_count>0</grader_count>",
        "    <anonymous_grading>false</anonymous_grading>",
        "  </assignment>",
        f"  <assignment_group_identifierref>{qid}_group</assignment_group_identifierref>",
        "  <assignment_overrides>", "  </assignment_overrides>",
        "</quiz>"]) + "\n"


def manifest(entries: list) -> str:
    """imsmanifest.xml for ``entries``: (quiz ident, image path or None) in order."""
    digest = hashlib.sha256("\0".join(q for q, _ in entries).encode("ascii")).hexdigest()[:32]
    x = ['<?xml version="1.0" encoding="UTF-8"?>',
         f'<manifest identifier="g{digest}" '
         'xmlns="http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1" '
         'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
         'xsi:schemaLocation="http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1 '
         'http://www.imsglobal.org/xsd/imscp_v1p1.xsd">',
         "  <metadata>", "    <schema>IMS Content</schema>",
         "    <schemaversion>1.1.3</schemaversion>", "  </metadata>",
         "  <organizations/>", "  <resources>"]
    for qid, image in entries:
        x += [f'    <resource identifier="{qid}" type="imsqti_xmlv1p2">',
              f'      <file href="{qid}/{qid}.xml"/>',
              f'      <dependency identifierref="{qid}_meta"/>', "    </resource>",
              f'    <resource identifier="{qid}_meta" '
              'type="associatedcontent/imscc_xmlv1p1/learning-application-resource" '
              f'href="{qid}/assessment_meta.xml">',
              f'      <file href="{qid}/assessment_meta.xml"/>', "    </resource>"]
        if image is not None:
            x += [f'    <resource identifier="{qid}_figure" type="webcontent" href="{image}">',
                  f'      <file href="{image}"/>', "    </resource>"]
    x += ["  </resources>", "</manifest>"]
    return "\n".join(x) + "\n"


def zip_bytes(exercises) -> bytes:
    """The QTI zip of ``exercises``: one Canvas quiz each, in order."""
    files, entries = [], []
    for n, ex in enumerate(exercises, start=1):
        qid = ident(ex, n)
        image = f"images/{qid}_{FIGURE_NAME}" if ex.figure is not None else None
        entries.append((qid, image))
        files.append((f"{qid}/{qid}.xml", assessment(ex, qid, image)))
        files.append((f"{qid}/assessment_meta.xml", meta(ex, qid)))
        if image is not None:
            files.append((image, ex.figure))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in [("imsmanifest.xml", manifest(entries))] + files:
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, text.encode("utf-8"))
    return buf.getvalue()
