"""MMnas genotypes, recipes and the Optuna space over recipes."""

import optuna
import pytest

from automm.core.errors import AutommError
from automm.methods.mmnas.settings import MMNASSettings, arch_learning_rate
from automm.methods.mmnas.space import MMNASGenotype, MMNASRecipe, MMNASSpace, mcan_pattern, view_groups

TEXT = "mmnas(H=32,heads=4,x(image/grid,image/fc),y(audio/frames),enc(sa,ffn),dec(sa,ga,ffn))"


def test_a_genotype_prints_and_parses_back():
    g = MMNASGenotype.from_string(TEXT)
    assert g.x_views == ("image/grid", "image/fc") and g.decoder == ("sa", "ga", "ffn")
    assert str(g) == TEXT and MMNASGenotype.from_string(str(g)) == g
    assert g.views == ("image/grid", "image/fc", "audio/frames")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mmnas(H=32)", "malformed MMnas genotype"),
        (TEXT.replace("enc(sa,ffn)", "enc(sa,ga)"), "encoder ops must be among sa, ffn"),
        (TEXT.replace("dec(sa,ga,ffn)", "dec(rsa)"), "decoder ops must be among"),
        (TEXT.replace("heads=4", "heads=5"), "heads must divide"),
        (TEXT.replace("y(audio/frames)", "y(image/fc)"), "a view feeds both sides"),
        (TEXT.replace("enc(sa,ffn)", "enc()"), "both sides need blocks"),
    ],
)
def test_bad_genotypes_are_refused(text, message):
    with pytest.raises(AutommError, match=message):
        MMNASGenotype.from_string(text)


def test_the_mcan_pattern_repeats_its_layers():
    assert mcan_pattern(4, 6) == (("sa", "ffn", "sa", "ffn"), ("sa", "ga", "ffn", "sa", "ga", "ffn"))
    assert mcan_pattern(1, 2) == (("sa",), ("sa", "ga"))


def test_the_encoder_reads_a_modality_or_with_one_modality_a_view():
    assert view_groups(("image/a", "text/b", "image/c")) == {"image": ("image/a", "image/c"), "text": ("text/b",)}
    assert view_groups(("image/a", "image/b")) == {"image/a": ("image/a",), "image/b": ("image/b",)}
    space = MMNASSpace(("image/a", "text/b", "audio/c"), MMNASSettings())
    recipe = space.decode({"mmnas_encoder_side": "text"})
    assert space.sides(recipe) == (("text/b",), ("image/a", "audio/c"))  # the rest feed the decoder
    with pytest.raises(AutommError, match="two or more views"):
        MMNASSpace(("image/a",), MMNASSettings())


def test_recipes_round_trip_through_optuna_parameters():
    space = MMNASSpace(("image/a", "text/b"), MMNASSettings())
    default = space.default_recipe()
    assert (default.encoder_blocks, default.decoder_blocks, default.hidden, default.encoder_side) == (2, 3, 32, "image")
    assert space.decode(space.encode(default)) == default
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    recipes = [space.suggest(study.ask()) for _ in range(20)]
    assert {r.encoder_side for r in recipes} == {"image", "text"}
    assert all(r.hidden % 4 == 0 and r.encoder_blocks >= 1 for r in recipes)
    with pytest.raises(AutommError, match="is not one of"):
        space.encode(MMNASRecipe(3, 6, 32, "image"))
    with pytest.raises(AutommError, match="does not have"):
        space.parse(TEXT)


def test_settings_are_checked_and_the_arch_rate_adapts_to_the_search_length():
    with pytest.raises(AutommError, match="heads"):
        MMNASSettings(hidden=30, heads=4)
    s = MMNASSettings()
    assert arch_learning_rate(s, 100) == pytest.approx(0.03)
    assert arch_learning_rate(s, 10**6) == pytest.approx(1e-3)  # never below ProxylessNAS's rate
    assert arch_learning_rate(MMNASSettings(arch_lr=0.2), 100, 0.5) == pytest.approx(0.1)
