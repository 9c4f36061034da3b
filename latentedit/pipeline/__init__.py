"""End-to-end stages over a run directory: sample -> tag -> fit -> edit / video -> report.

Each stage is a thin function over `latentedit.store.Run` and the core packages (models, directions,
editing, scoring, report); a request dataclass replaces long keyword lists, results are dataclasses.
"""
