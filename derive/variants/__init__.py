"""Variants: values drawn per student from a problem\x27s ``vary`` block, kept when ``require`` holds."""
