"""The method registry, settings sections and command-line options every method declares."""

import pytest
import typer

import automm
from automm.cli import app
from automm.core.errors import AutommError
from automm.delivery.networks import network_from_export
from automm.methods import METHODS, method_class
from automm.methods.base import SearchMethod
from automm.settings import Preset, SearchConfig
from automm.study.stored_settings import new_meta, resumed_meta

SOURCE = {"dataset": "toy", "data": None, "in_memory": True}


def _request(**changes):
    return {
        "source": SOURCE,
        "seed": None,
        "sampler": None,
        "pruner": None,
        "config": None,
        "minimize_params": None,
        **changes,
    }


def test_registry_names_every_method_and_refuses_unknown_ones():
    assert set(METHODS) == {"ksnas", "mfas", "bmnas", "mmnas", "tpe", "random", "nsga2"}
    assert all(issubclass(m, SearchMethod) and m.name == name for name, m in METHODS.items())
    assert method_class("KSNAS") is METHODS["ksnas"]
    with pytest.raises(AutommError, match="unknown sampler 'darts'; known: ksnas, mfas, bmnas, mmnas"):
        method_class("darts")


def test_every_method_option_is_a_search_option_and_maps_to_its_section():
    search = typer.main.get_command(app).commands["search"]  # type: ignore[attr-defined]
    params = {p.name for p in search.params}
    for method in METHODS.values():
        for option in method.options:
            assert option.param in params
            assert option.section in method.sections
    assert METHODS["ksnas"].sections_from_options({"population": 6, "kb_epochs": 1, "knowledge_sharing": False}) == {
        "ksnas": {"population_size": 6},
        "knowledge": {"kb_epochs": 1},
        "knowledge_sharing": False,
    }
    assert METHODS["nsga2"].sections_from_options({"population": 6, "mfas_k": None}) == {
        "nsga2": {"population_size": 6}
    }
    with pytest.raises(AutommError, match="--mfas-k does not apply to method ksnas"):
        METHODS["ksnas"].sections_from_options({"mfas_k": 3})


def test_new_settings_come_from_the_preset_then_the_request():
    cls, meta = new_meta("digits", _request(sampler="ksnas"), {"ksnas": {"generations": 2}}, {"kb_epochs": 1})
    assert cls is METHODS["ksnas"]
    assert meta["ksnas"]["population_size"] == 10 and meta["ksnas"]["generations"] == 2  # preset, then request
    assert meta["knowledge"]["kb_epochs"] == 1 and meta["knowledge_sharing"] is True
    assert "mfas" not in meta and "nsga2" not in meta  # only the method's own sections are stored
    _, tpe = new_meta("digits", _request(sampler="tpe"), {}, {})
    assert set(tpe) == {"source", "seed", "sampler", "pruner", "config", "minimize_params", "preset_trials", "encoding"}
    assert tpe["encoding"] == {"readable_params": True}
    with pytest.raises(AutommError, match="ksnas settings do not apply to method tpe"):
        new_meta("digits", _request(sampler="tpe"), {"ksnas": {"population_size": 4}}, {})
    with pytest.raises(AutommError, match="unknown ksnas setting"):
        METHODS["ksnas"]({**meta, "ksnas": {**meta["ksnas"], "mutation_rate": 0.2}})


def test_studies_of_automm_0_1_resume_with_their_stored_settings():
    """Before the wings, every study stored every method's sections; NSGA-II read its population from ksnas."""
    _, old = new_meta("digits", _request(sampler="ksnas"), {"ksnas": {"population_size": 7}}, {})
    old = {**old, "sampler": "nsga2", "mfas": {"k": 15}}
    cls, meta = resumed_meta("digits", old, _request(), {}, {})
    assert cls is METHODS["nsga2"] and meta["nsga2"] == {"population_size": 7}
    assert cls(meta).make_sampler(None, 0, 0, None).population_size == 7  # type: ignore[arg-type]
    with pytest.raises(AutommError, match="created with nsga2="):
        resumed_meta("digits", old, _request(), {}, {"population": 9})


def test_unknown_network_family_in_an_export():
    with pytest.raises(AutommError, match="unknown network family 'darts'"):
        network_from_export({"space": "darts"})


def test_defaults_of_a_method_without_a_preset_section():
    preset = Preset("x", "", 30, SearchConfig())
    assert METHODS["mfas"].default_settings(preset)["mfas"]["k"] == 15
    assert METHODS["nsga2"].default_settings(preset) == {
        "nsga2": {"population_size": 20},
        "encoding": {"readable_params": True},
    }
    assert automm.METHODS is METHODS
