"""Grading a student's answers: the mistake catalog applied inside the engine, diagnosis and reports."""
