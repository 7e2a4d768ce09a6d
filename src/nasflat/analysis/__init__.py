"""Measurements of the geometric claims behind the flatness methods (`nasflat analyze ...`); see docs/analysis.md."""
