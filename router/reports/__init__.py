"""HTML reports: the spend and migration reports as self-contained pages with inline SVG charts.

:mod:`.svg` draws charts, :mod:`.html` builds the page, :mod:`.spend`,
:mod:`.breakeven` and :mod:`.migration` lay out each report from the same
aggregates the text reports print.
"""
