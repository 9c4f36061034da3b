"""The package top: a lazy API without import cycles or name workarounds."""

import subprocess
import sys

import latentedit


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_import_latentedit_loads_only_the_version():
    out = _python("import sys, latentedit; print(latentedit.__version__, "
                  "sorted(m for m in sys.modules if m.startswith('latentedit')))")
    assert out.strip() == "0.1.0 ['latentedit', 'latentedit._version']"


def test_every_public_name_resolves_and_stays_a_function():
    for name in latentedit.__all__:
        assert getattr(latentedit, name) is not None, name
    assert set(dir(latentedit)) == set(latentedit.__all__)
    # importing the modules that define them (and the reporting package) shadows nothing
    from latentedit.pipeline import report as report_module, sample as sample_module
    from latentedit.reporting import html  # noqa: F401

    for name in ("sample", "report", "edit"):
        assert callable(getattr(latentedit, name)) and not isinstance(getattr(latentedit, name), type(sys)), name
    assert latentedit.sample is sample_module.sample
    assert latentedit.report is report_module.report


def test_unknown_name_is_an_attribute_error():
    try:
        latentedit.nonexistent
    except AttributeError as e:
        assert str(e) == "module 'latentedit' has no attribute 'nonexistent'"
    else:
        raise AssertionError("no AttributeError")
