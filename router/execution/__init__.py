"""Execution: the only package that performs network I/O."""
