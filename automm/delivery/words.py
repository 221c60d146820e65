"""What was delivered, in words: each member of an exported model as a user would name it.

A member is the ``members`` entry of an export's ``genotype.json`` (genotype, weight, and ``bagged`` for
a fold-network bag, ``c`` for the linear candidate): "logistic regression on the concatenated views
(C=0.1)", "fusion network concat(a,b) x 5 fold networks".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from automm.engine.linear_net import FAMILY, is_linear

__all__ = ["check_words", "choice_members", "delivery_words", "finished_words", "member_words"]


def member_words(member: Mapping[str, Any]) -> str:
    """One member in words (its weight not included)."""
    genotype = str(member["genotype"])
    if is_linear(genotype):
        views = genotype[len(FAMILY) + 1 : -1].split(",")
        on = "the concatenated views" if len(views) > 1 else f"view {views[0]}"
        c = member.get("c")
        return f"logistic regression on {on}" + ("" if c is None else f" (C={float(c):g})")
    bagged = member.get("bagged")
    return f"fusion network {genotype}" + (f" x {int(bagged)} fold networks" if bagged else "")


def delivery_words(members: Sequence[Mapping[str, Any]]) -> str:
    """The whole delivered model in words: its one member, or the ensemble with each member's weight."""
    if len(members) == 1:
        return member_words(members[0])
    parts = [f"{float(m.get('weight', 1 / len(members))):.2f} x {member_words(m)}" for m in members]
    return f"an ensemble of {len(members)}: " + "; ".join(parts)


def choice_members(choice: Mapping[str, Any], folds: int, linear_c: float | None = None) -> list[dict[str, Any]]:
    """The members an ensemble choice (``genotypes``, ``weights``) delivers by default, as `member_words`
    takes them: each network as its ``folds`` fold networks when the study has K > 1 folds, the linear
    candidate with its ``c``."""
    out = []
    for genotype, weight in zip(choice["genotypes"], choice["weights"], strict=True):
        member: dict[str, Any] = {"genotype": genotype, "weight": weight}
        if is_linear(str(genotype)):
            member["c"] = linear_c
        elif folds > 1:
            member["bagged"] = folds
        out.append(member)
    return out


def check_words(choice: Mapping[str, Any]) -> str:
    """The nested check of an ensemble choice (`automm.delivery.nested_check`) in words; "" when it was
    not checked (one split too small to part, or a choice of an older automm)."""
    nested, alone = choice.get("nested_score"), choice.get("fallback_score")
    if nested is None or alone is None:
        return ""
    if choice.get("fallback_chosen"):
        return (
            f"the linear candidate alone ({alone:.4f}) scored above the greedy ensemble ({nested:.4f}) on rows "
            "the ensemble was not chosen on, so it is delivered alone"
        )
    return f"on rows it was not chosen on: {nested:.4f} (the linear candidate alone: {alone:.4f})"


def finished_words(choice: Mapping[str, Any] | None) -> str:
    """The candidates of an ensemble choice's pool that were finished (`automm.delivery.finishing`) in
    words; "" when none was."""
    numbers = (choice or {}).get("finished") or []
    if not numbers:
        return ""
    which = ", ".join(str(n) for n in numbers)
    return (
        f"trial{'s' * (len(numbers) > 1)} {which} trained on after the search at the from-scratch patience, on "
        "the same folds; the choice used those fold networks and their out-of-fold predictions"
    )
