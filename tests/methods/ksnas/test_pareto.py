import math

from automm.methods.ksnas._pareto import crowding_distance, elitist_order, pareto_ranks


def test_pareto_ranks_minimise_every_objective():
    points = [(1, 5), (2, 2), (5, 1), (3, 3), (4, 4), (6, 6)]
    assert pareto_ranks(points) == [0, 0, 0, 1, 2, 3]
    assert pareto_ranks([(1.0,), (3.0,), (2.0,), (1.0,)]) == [0, 2, 1, 0]


def test_crowding_and_elitist_order():
    front = [(0, 4), (1, 3), (2, 2), (4, 0)]
    d = crowding_distance(front)
    assert math.isinf(d[0]) and math.isinf(d[3]) and d[2] > d[1]
    order = elitist_order([(1, 5), (2, 2), (5, 1), (3, 3), (0, 9)])
    assert set(order[:4]) == {0, 1, 2, 4} and order[-1] == 3
