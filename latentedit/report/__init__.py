"""The report: re-scoring matrices, metrics, sweeps and edit grids as one self-contained HTML page.

    from latentedit.report import report
    index = report("runs/demo")          # -> runs/demo/report/index.html (+ report.json, CSVs)
"""

from latentedit.report.build import DEFAULT_METHODS, DEFAULT_PAIRS, format_pairs, parse_methods, parse_pairs, report

__all__ = ["report", "parse_pairs", "parse_methods", "format_pairs", "DEFAULT_METHODS", "DEFAULT_PAIRS"]
