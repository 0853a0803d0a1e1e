"""Spans, metrics and audit records."""
