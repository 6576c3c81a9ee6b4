"""Variants: values drawn per student from a problem's ``vary`` block, kept when ``require`` holds."""
