import optuna
import pytest

from automm.core.errors import AutommError
from automm.methods.bmnas.settings import BMNASSettings, arch_learning_rate
from automm.methods.bmnas.space import BMNASGenotype, BMNASRecipe, BMNASSpace, Cell, Step

TEXT = "bmnas(C=64,L=8,cell(image/vgg,text,concatfc(x,y)),cell(cell.0,text,glu(x,y),sum(step.0,y)))"


def test_a_genotype_string_round_trips_and_names_its_views():
    genotype = BMNASGenotype.from_string(TEXT)
    assert str(genotype) == TEXT
    assert genotype.views == ("image/vgg", "text")
    assert genotype.cells[1] == Cell("cell.0", "text", (Step("glu", "x", "y"), Step("sum", "step.0", "y")))
    assert BMNASGenotype.from_string(str(genotype)) == genotype
    # a view called x is a view in a cell's inputs and the cell's first input in a step
    odd = BMNASGenotype.from_string("bmnas(C=4,L=2,cell(x,y,attention(y,x)))")
    assert odd.views == ("x", "y")


@pytest.mark.parametrize(
    "text",
    [
        "bmnas(C=64,L=8)",  # no cell
        "bmnas(C=64,L=8,cell(a,a,sum(x,y)))",  # a cell's inputs differ
        "bmnas(C=64,L=8,cell(a,cell.0,sum(x,y)))",  # only earlier cells
        "bmnas(C=64,L=8,cell(a,b,sum(x,step.0)))",  # only earlier steps
        "bmnas(C=64,L=8,cell(a,b,conv(x,y)))",  # unknown op
        "bmnas(C=64,L=8,cell(a,b))",  # no step
        "bmnas(C=x,L=8,cell(a,b,sum(x,y)))",
        "bmnas(C=64,L=8,cell(a,b,sum(x,y))) extra",
        "add(a,b)",
    ],
)
def test_malformed_genotypes_are_refused_with_a_message(text):
    with pytest.raises(AutommError):
        BMNASGenotype.from_string(text)


def test_recipes_encode_and_decode_through_optuna_parameters():
    space = BMNASSpace(("a", "b"), BMNASSettings())
    default = space.default_recipe()
    assert default == BMNASRecipe(64, 8, 2, 2, 1.0, 0)
    params = space.encode(default)
    assert space.decode(params) == default
    assert set(params) == set(space.distributions())
    trial = optuna.create_study().ask(space.distributions())
    assert isinstance(space.suggest(trial), BMNASRecipe)
    with pytest.raises(AutommError):
        space.encode(BMNASRecipe(7, 8, 2, 2))
    assert space.parse(TEXT.replace("image/vgg", "a").replace("text", "b")).views == ("a", "b")
    with pytest.raises(AutommError, match="does not have"):
        space.parse(TEXT)


def test_the_architecture_learning_rate_adapts_to_the_number_of_architecture_steps():
    settings = BMNASSettings()
    assert arch_learning_rate(settings, 100) == pytest.approx(0.03)  # a small data set: few steps
    assert arch_learning_rate(settings, 10**6) == pytest.approx(3e-4)  # never below the paper's
    assert arch_learning_rate(settings, 100, factor=4) == pytest.approx(0.12)
    assert arch_learning_rate(BMNASSettings(arch_lr=1e-3), 100) == pytest.approx(1e-3)  # fixed by the user
    assert BMNASSettings(epochs=2, warmup=2).warmup_epochs == 1  # one epoch of architecture steps at least
    with pytest.raises(AutommError, match="lr_min"):
        BMNASSettings(lr=1e-3, lr_min=1e-2)
