"""report.json as declared models (pydantic v2): what each stage of a report returns, and the one
way to write (`Report.to_json`) and read (`load_report`) the file. A file of another
`schema_version` is refused in one line. JSON Schema: docs/report.schema.json
(`python -m latentedit.reporting.schema > docs/report.schema.json`).

Records owned by other packages (an edit, the choices of `editing.auto`, a per-sample or hold
result, a scorer's training metrics) are kept as they write them (`Json`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from ..errors import InputError

SCHEMA_VERSION = 2  # 1: the untyped report.json of latentedit <= 0.1 ("format": "latentedit-report/1")


def finite(x):
    """JSON-safe copy: NaN and infinities become None, numpy scalars Python numbers."""
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    return None if isinstance(x, float) and not math.isfinite(x) else x


Num = Annotated[float | None, BeforeValidator(finite)]  # JSON has no NaN: None
Json = Annotated[Any, BeforeValidator(finite)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rate(Model):
    """A fraction of samples (`scoring.sideeffects.Rate`)."""
    rate: Num
    std: Num
    ci95: list[Num]
    count: int
    n: int


class Worst(Model):
    attribute: str | None
    rate: Num


class Drift(Model):
    """CIELAB deltaE (CIE76) of a region's pixels between a face's before and after image, over faces."""
    median: Num
    p90: Num
    n: int


class EffectRow(Model):
    """One edit's side-effect row (`scoring.sideeffects.EffectRow`). On the demo world's ground truth also
    the null-edit control (`floor`, `floor_any`: change rates along random steps of the edit's length
    orthogonal to its directions) and the colour `drift` per region (hair, eyes, background)."""
    edit: str
    target: str | None
    target_value: Json = None
    success: Rate | None = None
    target_changed: Rate | None = None
    changes: dict[str, Rate] = {}
    worst: Worst
    any_change: Rate | None = None  # share of all samples on which any attribute of `changes` changed
    floor: dict[str, Rate] = {}
    floor_any: Rate | None = None
    drift: dict[str, Drift] = {}

    def above_floor(self, attribute: str) -> bool | None:
        """Whether a change rate is above its null-edit floor: its 95% interval lies above the floor's (the
        intervals do not overlap). "any" for `any_change` against `floor_any`; None without a floor."""
        r, f = (self.any_change, self.floor_any) if attribute == "any" else (self.changes.get(attribute),
                                                                            self.floor.get(attribute))
        if r is None or f is None or r.ci95[0] is None or f.ci95[1] is None:
            return None
        return r.ci95[0] > f.ci95[1]


class SideEffectTable(Model):
    source: str
    attributes: list[str]
    rows: list[EffectRow]
    notes: dict[str, Json] = {}

    def row(self, edit: str) -> EffectRow | None:
        return next((r for r in self.rows if r.edit == edit), None)


class Matrix(Model):
    """A re-scoring matrix (`scoring.rescore.RescoreResult`): rows edits, columns attributes."""
    source: str
    rows: list[str]
    columns: list[str]
    n: list[int]
    before: list[list[Num]]
    after: list[list[Num]]
    mean: list[list[Num]]
    std: list[list[Num]]
    flip: list[list[Num]]
    flip_on: list[list[Num]]
    flip_off: list[list[Num]]
    digests: list[str] = []
    notes: dict[str, Json] = {}


class PairEdit(Model):
    """A pair edit at its method's default strengths: +strength n(add) - sub_strength n(sub)."""
    add: list[str]
    sub: list[str]
    strength: float
    sub_strength: float


class Sweep(Model):
    """Scorer change over edit strength: the target's (signed), the others' mean |change|, each attribute's."""
    strengths: list[float]
    target: str | None
    target_change: list[float]
    off_target_change: list[float]
    per_attribute: dict[str, list[float]]


class Agreement(Model):
    """Share of the decoded images where the scorer and the ground truth agree, per attribute."""
    rates: dict[str, float]
    n: int


class MethodResult(Model):
    """Everything measured of one direction method (fields stay empty when their stage did not run)."""
    directions: dict[str, Json] | None = None
    edits: dict[str, PairEdit] = {}
    rescore: Matrix | None = None
    ground_truth: Matrix | None = None
    agreement: Agreement | None = None
    sweeps: dict[str, Sweep] = {}
    side_effects: dict[str, SideEffectTable] = {}  # source -> table


class ModeResult(Model):
    """One of latentedit's modes on one edit, measured on the report's batch like the methods."""
    method: str
    space: str
    edit: Json
    label: str
    command: str
    strengths: list[float]
    choices: list[Json]
    tables: dict[str, EffectRow]  # source -> row
    per_sample: Json = None
    hold: Json = None


class EditModes(Model):
    """The modes of one edit, on the method whose thesis edit did best by `source`."""
    method: str
    source: str
    rows: dict[str, ModeResult]


class Candidate(Model):
    """A way to make an edit: a method as the thesis edits ("thesis"), or a method in a mode."""
    method: str
    mode: str
    label: str
    command: str | None = None
    success: Num
    worst: Worst
    any_change: Rate | None = None


class Miss(Model):
    success: float
    side_effect: float


class Verdict(Model):
    """The best candidate of one edit, and whether it meets the goal."""
    source: str
    best: Candidate
    success: Rate
    worst: Worst
    goal_met: bool
    missed_by: Miss
    candidates: list[Candidate]
    effects: EffectRow | None = None  # the best candidate's whole row: any other change, floors, drift


class Goal(Model):
    success: float
    side_effect: float


class Stage(Model):
    status: str
    seconds: float
    cpu_seconds: float
    error: str | None = None
    traceback: str | None = None


class ScorerInfo(Model):
    attributes: list[str]
    metrics: Json
    trained_on: Json
    init: Json
    input_size: int
    describe: str


class MetricRow(Model):
    method: str
    edit: str
    metric: str
    value: Num = None
    computed: bool = False
    standard: bool = True
    note: str = ""
    n: Json = {}
    per_input: list[Num] = []


class Metrics(Model):
    rows: list[MetricRow] = []
    notes: list[str] = []
    status: dict[str, str] = {}


class ReportConfig(Model):
    run: str
    methods: list[str]
    pairs: list[list[str | None]] = []
    samples: int
    seed: int
    scorer: str = "demo"
    tagger: str = "demo"
    sweep_samples: int = 0
    sweep_factors: list[float] = []
    metric_inputs: int = 0
    dfid_augmentations: int = 0
    lpips_styles: int = 0
    reference: str | None = None
    threads: int = 0
    null_draws: int = 0
    faces: str | None = None  # the batch's selfies, faces/NNN.png: `latentedit edit --inputs`
    faces_seed: int | None = None  # the `--inputs-seed` that gives face i the batch's style i


class Report(Model):
    """Every number of a report (what report.json holds); `methods` in the order asked."""
    schema_version: int = SCHEMA_VERSION
    config: ReportConfig
    versions: dict[str, Json] = {}
    generator: Json = None
    scorer: ScorerInfo | None = None
    ground_truth_readout: str | None = None
    methods: dict[str, MethodResult] = {}
    metrics: Metrics = Metrics()
    goal: Goal | None = None
    modes: dict[str, EditModes] = {}  # edit name -> its modes
    # demo world: per attribute, the unedited batch faces whose reading agrees with their code's truth
    reliability: dict[str, Rate] = {}
    verdict: dict[str, Verdict] = {}  # edit name -> the best way to make it
    tagger_error: str | None = None
    stages: dict[str, Stage] = {}
    seconds: float | None = None

    def to_json(self) -> str:
        """The text of report.json; keys in the models' and the report's order, so a load keeps them."""
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"

    @property
    def failed(self) -> dict[str, Stage]:
        return {k: s for k, s in self.stages.items() if s.status == "failed"}


def load_report(path) -> Report:
    """The Report of a report.json (or of the report folder holding it); one-line InputError otherwise."""
    path = Path(path)
    path = path / "report.json" if path.is_dir() else path
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable report.json ({type(e).__name__}: {e})") from None
    version = doc.get("schema_version", 1) if isinstance(doc, dict) else None
    if version != SCHEMA_VERSION:
        raise InputError(f"{path}: report.json schema_version {version}; this latentedit reads {SCHEMA_VERSION} only "
                         + ("(upgrade latentedit)" if isinstance(version, int) and version > SCHEMA_VERSION
                            else "(rebuild it with `latentedit report`)"))
    try:
        return Report.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        raise InputError(f"{path}: not a valid report.json: {'.'.join(map(str, first['loc']))}: {first['msg']} "
                         f"({e.error_count()} error(s))") from None


if __name__ == "__main__":
    print(json.dumps(Report.model_json_schema(), indent=2, sort_keys=True))
