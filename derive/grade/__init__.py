"""Grading a student\x27s answers: the mistake catalog applied inside the engine, diagnosis and reports."""
