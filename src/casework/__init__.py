"""Casework: adaptive case management on a CMMN 1.1 engine."""

__version__ = "0.1.0"
