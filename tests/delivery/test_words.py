"""The delivered model in words, for the three kinds of delivery: the linear candidate alone, a mix, networks."""

from __future__ import annotations

from automm.delivery.words import delivery_words, finished_words, member_words

LINEAR = {"genotype": "linear(image/cnn,text/bow)", "weight": 1.0, "c": 0.1}
BAG = {"genotype": "concat(image/cnn,text/bow)", "weight": 0.6, "bagged": 5}
NET = {"genotype": "add(image/cnn,text/bow)", "weight": 0.4}


def test_the_linear_candidate_alone_is_named_with_its_c():
    assert delivery_words([LINEAR]) == "logistic regression on the concatenated views (C=0.1)"
    assert member_words({"genotype": "linear(text/bow)"}) == "logistic regression on view text/bow"


def test_a_mixed_ensemble_names_each_member_with_its_weight():
    text = delivery_words([BAG, {**LINEAR, "weight": 0.4}])
    assert text == (
        "an ensemble of 2: 0.60 x fusion network concat(image/cnn,text/bow) x 5 fold networks; "
        "0.40 x logistic regression on the concatenated views (C=0.1)"
    )


def test_networks_alone_say_whether_each_is_a_fold_bag():
    assert delivery_words([BAG]) == "fusion network concat(image/cnn,text/bow) x 5 fold networks"
    assert delivery_words([BAG, NET]).endswith("; 0.40 x fusion network add(image/cnn,text/bow)")


def test_the_nested_check_is_said_when_it_ran_and_says_why_the_linear_candidate_is_alone():
    from automm.delivery.words import check_words

    assert check_words({"genotypes": ["a"], "weights": [1.0]}) == ""  # a choice of an older automm
    kept = check_words({"nested_score": 0.91, "fallback_score": 0.88, "fallback_chosen": False})
    assert kept == "on rows it was not chosen on: 0.9100 (the linear candidate alone: 0.8800)"
    alone = check_words({"nested_score": 0.84, "fallback_score": 0.88, "fallback_chosen": True})
    assert alone.startswith("the linear candidate alone (0.8800) scored above the greedy ensemble (0.8400)")


def test_finished_candidates_are_named_when_there_are_some():
    assert finished_words(None) == "" and finished_words({"finished": []}) == ""
    assert finished_words({}) == ""  # a choice of an older automm
    assert finished_words({"finished": [8]}).startswith("trial 8 trained on after the search")
    assert finished_words({"finished": [8, 10]}).startswith("trials 8, 10 trained on")
