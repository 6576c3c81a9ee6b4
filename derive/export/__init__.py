"""Export to learning management systems: Moodle XML (cloze) and QTI 1.2 for Canvas."""
