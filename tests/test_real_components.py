"""The suite's rule for a missing real component: a skip with its reason, a failure under CI=true."""

import pytest

from tests import real_components


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_a_missing_component_skips_outside_ci_and_fails_in_ci(monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no server here"):
        real_components.missing("no server here")


def test_the_summary_names_what_ran(monkeypatch):
    monkeypatch.setattr(real_components, "USED", {})
    real_components.used("PostgreSQL", "PostgreSQL 15.8")
    line = real_components.summary()
    assert "PostgreSQL: PostgreSQL 15.8" in line and "S3: none" in line
