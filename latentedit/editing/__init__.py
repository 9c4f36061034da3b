"""Editing: pure edit algebra, strengths in code-scale units, tag checks, and the editing session.

    from latentedit.editing import EditSpec, EditSession
    session = EditSession(G, directions)              # or latentedit.session_for_run(run, method="svd")
    edit = session.resolve(EditSpec.paired("long_hair", "short_hair"))   # an Edit: absolute strengths
    after = session.render(content, w, edit)

edit.py: `EditSpec` (as asked) and `Edit` (resolved, the one value passed on); algebra.py: deltas,
W+ layer steps, `project_out` (conditional edits); strengths.py: defaults and sweeps; tags.py: tag
checks; session.py: `EditSession`. No file I/O, no run store and no
tagger here (an import contract keeps it so).
"""

from latentedit.editing.algebra import apply_delta, layer_delta, layer_mask, project_out, span_basis, weighted_sum
from latentedit.editing.edit import Edit, EditSpec
from latentedit.editing.session import EditSession
from latentedit.editing.strengths import (DEFAULT_STRENGTHS, check_strength, default_strengths,
                                          sweep_strengths, with_spread)
from latentedit.editing.tags import UNNAMED_METHODS, check_tags, filtered_reason

__all__ = ["Edit", "EditSpec", "EditSession", "DEFAULT_STRENGTHS", "UNNAMED_METHODS", "apply_delta", "check_strength",
           "check_tags", "default_strengths", "filtered_reason", "layer_delta", "layer_mask",
           "project_out", "span_basis", "sweep_strengths", "weighted_sum", "with_spread"]
