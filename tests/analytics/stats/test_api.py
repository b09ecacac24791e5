"""The public surface is what we mean to export (httpx-style), and every name resolves."""

from __future__ import annotations

from splitline.analytics import stats


def test_exported_names() -> None:
    assert sorted(stats.__all__) == sorted([
        "SRM_ALPHA", "Correction", "Decision", "Decisions", "Effects", "ErrorCode", "InputError", "MetricKind",
        "Plan", "Role", "Rule", "SrmResult", "SufficientStats", "adjust", "analyze", "decide",
        "minimum_detectable_effect", "mixture_variance", "msprt", "proportion_sd", "sample_size", "srm_test",
    ])
    for name in stats.__all__:
        assert getattr(stats, name) is not None


def test_error_code_names_are_stable() -> None:
    # these strings are part of the JSON output contract: renaming one is a breaking change
    assert [c.name for c in stats.ErrorCode] == [
        "OK", "NON_FINITE_INPUT", "NEGATIVE_COUNT", "N_TOO_SMALL", "INVALID_PROPORTION", "NEGATIVE_VARIANCE",
        "ZERO_DENOMINATOR", "ZERO_VARIANCE", "ZERO_CONTROL_MEAN",
    ]


def test_cli_registration_is_cheap() -> None:
    """Registering the sub-commands must not import numpy/scipy-heavy modules of this package."""
    import subprocess
    import sys

    code = ("import sys, argparse; import splitline.analytics.stats.cli as c; "
            "p = argparse.ArgumentParser(); c.register(p.add_subparsers()); "
            "print(any(m.startswith('scipy') or m == 'splitline.analytics.stats.engine' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_lazy_exports_cover_all() -> None:
    from splitline.analytics.stats import _EXPORTS

    assert set(_EXPORTS) == set(stats.__all__)
