"""Editing: pure edit algebra, strengths in code-scale units, tag checks, and the editing session.

    from latentedit.editing import Edit, EditSession
    session = EditSession(G, directions)              # or EditSession.for_run(run, method="svd")
    after = session.render(content, w, Edit.paired("long_hair", "short_hair"))

algebra.py: deltas, W+ layer steps, `project_out` (conditional edits); strengths.py: defaults
and sweeps; tags.py: tag checks; session.py: `Edit`, `EditSession`. No file I/O here apart from
`EditSession.for_run` reading a run's generator and directions.
"""

from latentedit.editing.algebra import apply_delta, layer_delta, layer_mask, project_out, span_basis, weighted_sum
from latentedit.editing.session import Edit, EditSession
from latentedit.editing.strengths import (DEFAULT_STRENGTHS, check_strength, default_strengths,
                                          resolve_strengths, sweep_strengths, with_spread)
from latentedit.editing.tags import UNNAMED_METHODS, check_tags, filtered_reason

__all__ = ["Edit", "EditSession", "DEFAULT_STRENGTHS", "UNNAMED_METHODS", "apply_delta", "check_strength",
           "check_tags", "default_strengths", "filtered_reason", "layer_delta", "layer_mask",
           "project_out", "resolve_strengths", "span_basis", "sweep_strengths", "weighted_sum", "with_spread"]
