from derive.errors import SpecError


def test_message_names_file_key_and_line():
    e = SpecError("unknown name z", file="q.yaml", key="questions.a.find", line=7)
    assert str(e) == "q.yaml: questions.a.find (line 7): unknown name z"
    assert str(SpecError("file is empty", file="q.yaml")) == "q.yaml: file is empty"
