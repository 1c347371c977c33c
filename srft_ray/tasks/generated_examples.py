"""Example arguments for the shapes of `srft_ray.tasks.generated_templates`.

Each function takes the repository's rng and its domain words and returns candidate argument
tuples for one shape. `generated_repos` runs the fixed and each buggy function on them: the tests
assert the fixed outputs, and a bug is kept only where some example shows it. Values stay small
(a few short lists, single-digit counts) so a problem statement's call and output stay short.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any


def _ints(rng: random.Random, low: int = 3, high: int = 5, top: int = 20) -> list[int]:
    return [rng.randint(1, top) for _ in range(rng.randint(low, high))]


def _distinct(rng: random.Random, k: int, top: int = 30) -> list[int]:
    return rng.sample(range(1, top), k)


def _lists_and(rng: random.Random, make: Callable[[list[int]], Any], n: int = 4) -> list[tuple]:
    return [(lst, make(lst)) for lst in (_ints(rng) for _ in range(n))]


def _with_repeats(rng: random.Random, words: tuple[str, ...]) -> list[Any]:
    pool = list(words[:4]) if rng.random() < 0.5 else _distinct(rng, 4)
    return [rng.choice(pool) for _ in range(rng.randint(4, 6))]


def scaled(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [*_lists_and(rng, lambda _: rng.randint(2, 5)), ([], 3)]


def count_over(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [*_lists_and(rng, rng.choice, 5), ([], 4)]


def index(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    out = []
    for _ in range(4):
        lst = _distinct(rng, rng.randint(3, 5))
        out.append((lst, lst[rng.randint(1, len(lst) - 1)]))
    return [*out, (_distinct(rng, 3), 40)]


def clamp(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    low, high = rng.randint(1, 5), rng.randint(8, 15)
    inside = rng.randint(low + 1, high - 1)
    return [(inside, low, high), (low - 1, low, high), (high + 3, low, high), (0, 2, 9)]


def cost(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    price, qty = rng.randint(2, 12), rng.randint(2, 6)
    return [(price, qty), (rng.randint(2, 12), rng.randint(1, 5), rng.randint(1, 4)), (price, 0)]


def lists(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [(_ints(rng),) for _ in range(4)] + [([],)]


def sum_first(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [(lst, rng.randint(1, len(lst))) for lst in (_ints(rng) for _ in range(5))]


def series(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [(rng.randint(2, 6), rng.randint(2, 5)) for _ in range(4)] + [(1, 3)]


def unsorted(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [(_distinct(rng, rng.randint(3, 5)),) for _ in range(4)] + [([],)]


def batches(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    size = rng.randint(3, 9)
    return [(size * 3 + 1, size), (size * 2, size), (rng.randint(10, 40), rng.randint(2, 9))]


def slug(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    out = []
    for sep in ("-", "_", "-"):
        first, second = rng.sample(words, 2)
        out.append((f" {first.title()} {second.title()}", sep))
    return out


def dedupe(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [(_with_repeats(rng, words),) for _ in range(4)] + [([],)]


def allowed(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    allowed = rng.sample(words, 3)
    missing = next(w for w in words if w not in allowed)
    return [(allowed[1], allowed), (missing, allowed), ("", allowed), (allowed[0], allowed)]


def in_range(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    out = []
    for _ in range(4):
        lst = _distinct(rng, 6)
        low, high = sorted(rng.sample(lst, 2))
        out.append((lst, low, high))
    return out


def page(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    lst = _distinct(rng, rng.randint(7, 9), top=60)
    return [(lst, page, size) for page, size in ((1, 3), (2, 3), (2, 2), (3, 2))]


def lookup(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    table = {w: rng.randint(1, 50) for w in rng.sample(words, 3)}
    keys = list(table)
    return [(table, keys[0], 0), (table, f"{keys[1].upper()} ", -1), (table, "other", 0)]


def insert(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    lst = sorted(_distinct(rng, 4, top=40))
    return [(lst, lst[1] + 1), (lst, lst[-1] + 5), (lst, lst[0] - 1), ([], 3)]


def exclude(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    out = []
    for _ in range(3):
        lst = _with_repeats(rng, words)
        out.append((lst, [lst[0]]))
    return out


def ids(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    first = rng.randint(1, 9)
    return [(first, first + rng.randint(2, 4)), (first, first), (first + 5, first)]


def discount(rng: random.Random, words: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [(rng.randint(1, 30) * 10, rng.randint(1, 9) * 5) for _ in range(3)] + [(100, 10)]


def fee_constants(rng: random.Random) -> dict[str, int]:
    fee, bad = rng.choice(((2, 0), (3, 1), (5, 0), (10, 1)))
    return {"c_fee": fee, "c_fee_bad": bad}
