"""Use cases: one function per thing a person or the worker does to a case.

API, web pages, CLI and worker all call these, so authorization cannot be skipped.
"""
