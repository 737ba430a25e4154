"""Checks: verdicts on a learner's work, taken from their own sandbox on the engine.

`checks.base` holds the vocabulary (name -> parameters, evaluator,
description) and `validate`; `checks.vocabulary` defines the checks;
`checks.evaluation.evaluate` runs them under deadlines. docs/checks.md lists
the vocabulary and the API.
"""
