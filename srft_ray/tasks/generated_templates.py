"""The shapes, bugs and vocabulary that `srft_ray.tasks.generate` builds repositories from.

A Shape is one small function written with role placeholders (`{seq}`, `{acc}`, ...) and a list
of one-line Bugs. Each repository renders shapes with its own names (its domain's nouns, a
choice from each role's pool), so held-out repositories look new while the function shapes,
and the bugs in them, are the same ones a student saw in training.

A Bug replaces `old` by `new` in the template text; `old` occurs exactly once, on one line, so
the buggy and fixed files differ in exactly one line. Bug lines avoid sed-hostile characters
(`/`, `&`, `\\`, `'`, `|`) because agents fix them with `sed -i 'Ns/old/new/' file`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KINDS = (
    "wrong_operator",
    "off_by_one",
    "wrong_constant",
    "swapped_args",
    "wrong_comparison",
    "wrong_variable",
    "missing_negation",
)
"""Every bug kind; each is a one-line change."""

Examples = Callable[[random.Random, tuple[str, ...]], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class Bug:
    kind: str
    old: str
    """Template text the bug replaces; occurs once in the shape's code."""
    new: str


@dataclass(frozen=True)
class Shape:
    name: str
    code: str
    """The function, `{fn}` its name; other `{role}` fields are renamed per repository."""
    fn_names: tuple[str, ...]
    """Function name patterns over the domain noun: `{plural}`, `{singular}`."""
    bugs: tuple[Bug, ...]
    examples: Examples
    """Candidate argument tuples (rng, domain words); tests and statements pick from them."""
    constants: Callable[[random.Random], dict[str, Any]] = field(default=lambda rng: {})
    """Literal values the code template names `{c_*}`."""


@dataclass(frozen=True)
class Domain:
    name: str
    packages: tuple[str, ...]
    modules: tuple[str, ...]
    nouns: tuple[tuple[str, str], ...]
    """(plural, singular) names of the sequences functions work on."""
    words: tuple[str, ...]
    """Lower-case words for string arguments."""


def _ints(rng: random.Random, low: int = 3, high: int = 5, top: int = 20) -> list[int]:
    return [rng.randint(1, top) for _ in range(rng.randint(low, high))]


def _distinct(rng: random.Random, k: int, top: int = 30) -> list[int]:
    return rng.sample(range(1, top), k)


def _lists_and(rng: random.Random, make: Callable[[list[int]], Any], n: int = 4) -> list[tuple]:
    return [(lst, make(lst)) for lst in (_ints(rng) for _ in range(n))]


def _with_repeats(rng: random.Random, words: tuple[str, ...]) -> list[Any]:
    pool = list(words[:4]) if rng.random() < 0.5 else _distinct(rng, 4)
    return [rng.choice(pool) for _ in range(rng.randint(4, 6))]


def _ex_scaled(rng, words):
    return [*_lists_and(rng, lambda _: rng.randint(2, 5)), ([], 3)]


def _ex_count_over(rng, words):
    return [*_lists_and(rng, rng.choice, 5), ([], 4)]


def _ex_index(rng, words):
    out = []
    for _ in range(4):
        lst = _distinct(rng, rng.randint(3, 5))
        out.append((lst, lst[rng.randint(1, len(lst) - 1)]))
    return [*out, (_distinct(rng, 3), 40)]


def _ex_clamp(rng, words):
    low, high = rng.randint(1, 5), rng.randint(8, 15)
    inside = rng.randint(low + 1, high - 1)
    return [(inside, low, high), (low - 1, low, high), (high + 3, low, high), (0, 2, 9)]


def _ex_cost(rng, words):
    price, qty = rng.randint(2, 12), rng.randint(2, 6)
    return [(price, qty), (rng.randint(2, 12), rng.randint(1, 5), rng.randint(1, 4)), (price, 0)]


def _ex_lists(rng, words):
    return [(_ints(rng),) for _ in range(4)] + [([],)]


def _ex_sum_first(rng, words):
    return [(lst, rng.randint(1, len(lst))) for lst in (_ints(rng) for _ in range(5))]


def _ex_series(rng, words):
    return [(rng.randint(2, 6), rng.randint(2, 5)) for _ in range(4)] + [(1, 3)]


def _ex_unsorted(rng, words):
    return [(_distinct(rng, rng.randint(3, 5)),) for _ in range(4)] + [([],)]


def _ex_batches(rng, words):
    size = rng.randint(3, 9)
    return [(size * 3 + 1, size), (size * 2, size), (rng.randint(10, 40), rng.randint(2, 9))]


def _ex_slug(rng, words):
    out = []
    for sep in ("-", "_", "-"):
        first, second = rng.sample(words, 2)
        out.append((f" {first.title()} {second.title()}", sep))
    return out


def _ex_dedupe(rng, words):
    return [(_with_repeats(rng, words),) for _ in range(4)] + [([],)]


def _ex_allowed(rng, words):
    allowed = rng.sample(words, 3)
    missing = next(w for w in words if w not in allowed)
    return [(allowed[1], allowed), (missing, allowed), ("", allowed), (allowed[0], allowed)]


def _ex_in_range(rng, words):
    out = []
    for _ in range(4):
        lst = _distinct(rng, 6)
        low, high = sorted(rng.sample(lst, 2))
        out.append((lst, low, high))
    return out


def _ex_page(rng, words):
    lst = _distinct(rng, rng.randint(7, 9), top=60)
    return [(lst, page, size) for page, size in ((1, 3), (2, 3), (2, 2), (3, 2))]


def _ex_lookup(rng, words):
    table = {w: rng.randint(1, 50) for w in rng.sample(words, 3)}
    keys = list(table)
    return [(table, keys[0], 0), (table, f"{keys[1].upper()} ", -1), (table, "other", 0)]


def _ex_insert(rng, words):
    lst = sorted(_distinct(rng, 4, top=40))
    return [(lst, lst[1] + 1), (lst, lst[-1] + 5), (lst, lst[0] - 1), ([], 3)]


def _ex_exclude(rng, words):
    out = []
    for _ in range(3):
        lst = _with_repeats(rng, words)
        out.append((lst, [lst[0]]))
    return out


def _ex_ids(rng, words):
    first = rng.randint(1, 9)
    return [(first, first + rng.randint(2, 4)), (first, first), (first + 5, first)]


SHAPES: tuple[Shape, ...] = (
    Shape(
        name="scaled_total",
        code='''def {fn}({seq}, {num}):
    """Return the sum of the {seq}, each multiplied by {num}."""
    {acc} = 0
    for {elem} in {seq}:
        {acc} = {acc} + {elem} * {num}
    return {acc}
''',
        fn_names=("scaled_{plural}_total", "total_scaled_{plural}", "sum_{plural}_times"),
        bugs=(
            Bug("wrong_operator", "{acc} + {elem}", "{acc} - {elem}"),
            Bug("wrong_operator", "{elem} * {num}", "{elem} + {num}"),
            Bug("wrong_constant", "{acc} = 0", "{acc} = 1"),
            Bug("wrong_variable", "return {acc}", "return {num}"),
        ),
        examples=_ex_scaled,
    ),
    Shape(
        name="count_over",
        code='''def {fn}({seq}, {limit}):
    """Count the {seq} strictly greater than {limit}."""
    {cnt} = 0
    for {elem} in {seq}:
        if {elem} > {limit}:
            {cnt} = {cnt} + 1
    return {cnt}
''',
        fn_names=("count_{plural}_over", "num_{plural}_above", "{plural}_over_count"),
        bugs=(
            Bug("wrong_comparison", "{elem} > {limit}", "{elem} >= {limit}"),
            Bug("wrong_constant", "{cnt} + 1", "{cnt} + 2"),
            Bug("wrong_variable", "return {cnt}", "return {limit}"),
        ),
        examples=_ex_count_over,
    ),
    Shape(
        name="index_of",
        code='''def {fn}({seq}, {target}):
    """Return the position of the first {elem} equal to {target}, or -1."""
    for {idx}, {elem} in enumerate({seq}):
        if {elem} == {target}:
            return {idx}
    return -1
''',
        fn_names=("find_{singular}", "index_of_{singular}", "position_of_{singular}"),
        bugs=(
            Bug("wrong_variable", "return {idx}", "return {elem}"),
            Bug("wrong_constant", "return -1", "return 0"),
            Bug("off_by_one", "return {idx}", "return {idx} + 1"),
        ),
        examples=_ex_index,
    ),
    Shape(
        name="clamp",
        code='''def {fn}({value}, {low}, {high}):
    """Limit {value} to the range from {low} to {high}."""
    if {value} < {low}:
        return {low}
    if {value} > {high}:
        return {high}
    return {value}
''',
        fn_names=("clamp_{singular}", "bound_{singular}", "limit_{singular}"),
        bugs=(
            Bug("wrong_variable", "return {low}", "return {high}"),
            Bug("wrong_comparison", "{value} > {high}", "{value} < {high}"),
            Bug("wrong_variable", "return {value}", "return {low}"),
        ),
        examples=_ex_clamp,
    ),
    Shape(
        name="order_cost",
        code='''def {fn}({price}, {qty}, {fee}={c_fee}):
    """Return {price} times {qty} plus {fee}; nothing is charged for no {qty}."""
    if {qty} <= 0:
        return 0
    {acc} = {price} * {qty}
    return {acc} + {fee}
''',
        fn_names=("cost_of_{plural}", "{singular}_charge", "price_{plural}"),
        bugs=(
            Bug("wrong_constant", "{fee}={c_fee}", "{fee}={c_fee_bad}"),
            Bug("wrong_operator", "{price} * {qty}", "{price} + {qty}"),
            Bug("wrong_comparison", "{qty} <= 0", "{qty} < 0"),
            Bug("wrong_operator", "{acc} + {fee}", "{acc} - {fee}"),
        ),
        examples=_ex_cost,
        constants=lambda rng: dict(
            zip(("c_fee", "c_fee_bad"), rng.choice(((2, 0), (3, 1), (5, 0), (10, 1))))
        ),
    ),
    Shape(
        name="running_totals",
        code='''def {fn}({seq}):
    """Return the running totals of the {seq}."""
    {out} = []
    {acc} = 0
    for {elem} in {seq}:
        {acc} = {acc} + {elem}
        {out}.append({acc})
    return {out}
''',
        fn_names=("running_{plural}", "cumulative_{plural}", "{singular}_running_totals"),
        bugs=(
            Bug("wrong_variable", "append({acc})", "append({elem})"),
            Bug("wrong_constant", "{acc} = 0", "{acc} = 1"),
            Bug("wrong_operator", "{acc} + {elem}", "{acc} - {elem}"),
        ),
        examples=_ex_lists,
    ),
    Shape(
        name="sum_first",
        code='''def {fn}({seq}, {n}):
    """Return the sum of the first {n} {seq}."""
    {acc} = 0
    for {idx} in range({n}):
        {acc} = {acc} + {seq}[{idx}]
    return {acc}
''',
        fn_names=("sum_first_{plural}", "head_{plural}_total", "first_{plural}_sum"),
        bugs=(
            Bug("off_by_one", "range({n})", "range({n} - 1)"),
            Bug("wrong_variable", "{acc} + {seq}[{idx}]", "{acc} + {idx}"),
            Bug("wrong_constant", "{acc} = 0", "{acc} = 1"),
        ),
        examples=_ex_sum_first,
    ),
    Shape(
        name="series",
        code='''def {fn}({n}, {step}):
    """Return 1 * {step} + 2 * {step} + ... + {n} * {step}."""
    {acc} = 0
    for {idx} in range(1, {n} + 1):
        {acc} = {acc} + {idx} * {step}
    return {acc}
''',
        fn_names=("{singular}_ladder_total", "stepped_{plural}", "tiered_{singular}_sum"),
        bugs=(
            Bug("off_by_one", "range(1, {n} + 1)", "range(1, {n})"),
            Bug("wrong_operator", "{idx} * {step}", "{idx} + {step}"),
            Bug("swapped_args", "range(1, {n} + 1)", "range({n} + 1, 1)"),
        ),
        examples=_ex_series,
    ),
    Shape(
        name="drop_lowest",
        code='''def {fn}({seq}):
    """Return the {seq} sorted, without the lowest one."""
    if not {seq}:
        return []
    {ordered} = sorted({seq})
    return {ordered}[1:]
''',
        fn_names=("drop_lowest_{singular}", "without_min_{singular}", "trim_low_{plural}"),
        bugs=(
            Bug("off_by_one", "[1:]", "[2:]"),
            Bug("missing_negation", "if not {seq}:", "if {seq}:"),
            Bug("wrong_variable", "return {ordered}[1:]", "return {seq}[1:]"),
        ),
        examples=_ex_unsorted,
    ),
    Shape(
        name="batches",
        code='''def {fn}({total}, {size}):
    """Return how many groups of {size} are needed to hold {total}."""
    if {size} <= 0:
        raise ValueError("{size} must be positive")
    {full}, {rest} = divmod({total}, {size})
    if {rest}:
        {full} = {full} + 1
    return {full}
''',
        fn_names=("{singular}_batches", "batches_for_{plural}", "{singular}_loads_needed"),
        bugs=(
            Bug("swapped_args", "divmod({total}, {size})", "divmod({size}, {total})"),
            Bug("wrong_constant", "{full} + 1", "{full} + 2"),
            Bug("wrong_variable", "return {full}", "return {rest}"),
        ),
        examples=_ex_batches,
    ),
    Shape(
        name="slug",
        code='''def {fn}({name}, {sep}):
    """Return {name} lower-cased, with spaces replaced by {sep}."""
    {text} = {name}.strip().lower()
    {text} = {text}.replace(" ", {sep})
    return {text}
''',
        fn_names=("{singular}_slug", "slug_for_{singular}", "key_for_{singular}"),
        bugs=(
            Bug("swapped_args", '.replace(" ", {sep})', '.replace({sep}, " ")'),
            Bug("wrong_variable", "return {text}", "return {name}"),
        ),
        examples=_ex_slug,
    ),
    Shape(
        name="dedupe",
        code='''def {fn}({seq}):
    """Return the {seq} without repeats, in first-seen order."""
    {seen} = set()
    {out} = []
    for {elem} in {seq}:
        if {elem} not in {seen}:
            {seen}.add({elem})
            {out}.append({elem})
    return {out}
''',
        fn_names=("unique_{plural}", "dedupe_{plural}", "distinct_{plural}"),
        bugs=(
            Bug("missing_negation", "{elem} not in {seen}", "{elem} in {seen}"),
            Bug("wrong_variable", "return {out}", "return {seq}"),
        ),
        examples=_ex_dedupe,
    ),
    Shape(
        name="is_allowed",
        code='''def {fn}({code}, {allowed}):
    """Tell whether {code} is non-empty and one of the {allowed}."""
    if not {code}:
        return False
    if {code} not in {allowed}:
        return False
    return True
''',
        fn_names=("is_valid_{singular}", "{singular}_allowed", "accepts_{singular}"),
        bugs=(
            Bug("missing_negation", "if not {code}:", "if {code}:"),
            Bug("missing_negation", "{code} not in {allowed}", "{code} in {allowed}"),
            Bug("wrong_constant", "return True", "return False"),
        ),
        examples=_ex_allowed,
    ),
    Shape(
        name="mean",
        code='''def {fn}({seq}):
    """Return the average of the {seq}, or 0 when there are none."""
    if not {seq}:
        return 0
    {acc} = 0
    for {elem} in {seq}:
        {acc} = {acc} + {elem}
    return {acc} / len({seq})
''',
        fn_names=("average_{singular}", "mean_{singular}", "{singular}_average"),
        bugs=(
            Bug("missing_negation", "if not {seq}:", "if {seq}:"),
            Bug("wrong_constant", "{acc} = 0", "{acc} = 1"),
            Bug("wrong_operator", "{acc} + {elem}", "{acc} * {elem}"),
        ),
        examples=_ex_lists,
    ),
    Shape(
        name="largest",
        code='''def {fn}({seq}):
    """Return the largest of the {seq}, or None when there are none."""
    {best} = None
    for {elem} in {seq}:
        if {best} is None or {elem} > {best}:
            {best} = {elem}
    return {best}
''',
        fn_names=("largest_{singular}", "max_{singular}", "peak_{singular}"),
        bugs=(
            Bug("wrong_comparison", "{elem} > {best}", "{elem} < {best}"),
            Bug("wrong_variable", "return {best}", "return {elem}"),
        ),
        examples=_ex_unsorted,
    ),
    Shape(
        name="discount",
        code='''def {fn}({price}, {pct}):
    """Return {price} reduced by {pct} percent, rounded."""
    {cut} = {price} * {pct}
    {cut} = round({cut} / 100)
    return {price} - {cut}
''',
        fn_names=("apply_discount", "discounted_{singular}", "{singular}_after_discount"),
        bugs=(
            Bug("wrong_operator", "return {price} - {cut}", "return {price} + {cut}"),
            Bug("wrong_operator", "{price} * {pct}", "{price} + {pct}"),
            Bug("wrong_variable", "return {price} - {cut}", "return {pct} - {cut}"),
        ),
        examples=lambda rng, words: (
            [(rng.randint(1, 30) * 10, rng.randint(1, 9) * 5) for _ in range(3)] + [(100, 10)]
        ),
    ),
    Shape(
        name="in_range",
        code='''def {fn}({seq}, {low}, {high}):
    """Return the {seq} from {low} to {high}, both included."""
    {out} = []
    for {elem} in {seq}:
        if {low} <= {elem} <= {high}:
            {out}.append({elem})
    return {out}
''',
        fn_names=("{plural}_between", "select_{plural}_in_range", "filter_{plural}"),
        bugs=(
            Bug("wrong_comparison", "{low} <= {elem}", "{low} < {elem}"),
            Bug("wrong_comparison", "{elem} <= {high}", "{elem} < {high}"),
        ),
        examples=_ex_in_range,
    ),
    Shape(
        name="page",
        code='''def {fn}({seq}, {page}, {size}):
    """Return the {seq} on page {page} (pages count from 1, {size} per page)."""
    {start} = ({page} - 1) * {size}
    {stop} = {start} + {size}
    return {seq}[{start}:{stop}]
''',
        fn_names=("page_of_{plural}", "{plural}_page", "paginate_{plural}"),
        bugs=(
            Bug("off_by_one", "({page} - 1) * {size}", "{page} * {size}"),
            Bug("wrong_variable", "{start} + {size}", "{start} + {page}"),
            Bug("wrong_operator", "{start} + {size}", "{start} - {size}"),
        ),
        examples=_ex_page,
    ),
    Shape(
        name="lookup",
        code='''def {fn}({table}, {key}, {fallback}):
    """Return the entry for {key} in {table}, or {fallback} when it is missing."""
    {key} = {key}.strip().lower()
    if {key} in {table}:
        return {table}[{key}]
    return {fallback}
''',
        fn_names=("lookup_{singular}", "{singular}_for_key", "get_{singular}"),
        bugs=(
            Bug("wrong_variable", "return {fallback}", "return {key}"),
            Bug("wrong_variable", "return {table}[{key}]", "return {fallback}"),
        ),
        examples=_ex_lookup,
    ),
    Shape(
        name="insert_sorted",
        code='''def {fn}({seq}, {new}):
    """Return a copy of the sorted {seq} with {new} inserted in order."""
    {out} = list({seq})
    for {idx}, {cur} in enumerate({out}):
        if {new} < {cur}:
            {out}.insert({idx}, {new})
            return {out}
    {out}.append({new})
    return {out}
''',
        fn_names=("insert_{singular}", "add_{singular}_sorted", "place_{singular}"),
        bugs=(
            Bug("swapped_args", "insert({idx}, {new})", "insert({new}, {idx})"),
            Bug("wrong_comparison", "{new} < {cur}", "{new} > {cur}"),
        ),
        examples=_ex_insert,
    ),
    Shape(
        name="exclude",
        code='''def {fn}({seq}, {banned}):
    """Return the {seq}, leaving out any listed in {banned}."""
    {out} = []
    for {elem} in {seq}:
        if {elem} not in {banned}:
            {out}.append({elem})
    return {out}
''',
        fn_names=("drop_listed_{plural}", "{plural}_except", "remove_banned_{plural}"),
        bugs=(
            Bug("missing_negation", "not in {banned}", "in {banned}"),
            Bug("wrong_variable", "return {out}", "return {seq}"),
        ),
        examples=_ex_exclude,
    ),
    Shape(
        name="spread",
        code='''def {fn}({seq}):
    """Return the gap between the largest and the smallest of the {seq}."""
    if not {seq}:
        return 0
    {top} = max({seq})
    {bottom} = min({seq})
    return {top} - {bottom}
''',
        fn_names=("{singular}_spread", "range_of_{plural}", "{singular}_gap"),
        bugs=(
            Bug("wrong_operator", "{top} - {bottom}", "{top} + {bottom}"),
            Bug("missing_negation", "if not {seq}:", "if {seq}:"),
        ),
        examples=_ex_unsorted,
    ),
    Shape(
        name="id_range",
        code='''def {fn}({first}, {last}):
    """Return the numbers from {first} to {last}, both included."""
    if {last} < {first}:
        return []
    return list(range({first}, {last} + 1))
''',
        fn_names=("{singular}_ids_between", "{singular}_numbers", "span_of_{plural}"),
        bugs=(
            Bug("swapped_args", "range({first}, {last} + 1)", "range({last} + 1, {first})"),
            Bug("off_by_one", "{last} + 1)", "{last})"),
            Bug("wrong_comparison", "{last} < {first}", "{last} <= {first}"),
        ),
        examples=_ex_ids,
    ),
)

ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "acc": ("total", "result", "running", "subtotal", "acc", "sum_so_far"),
    "cnt": ("count", "hits", "matched", "found"),
    "idx": ("i", "index", "pos", "position"),
    "out": ("out", "result", "picked", "kept", "collected", "chosen"),
    "num": ("factor", "rate", "multiplier", "scale", "weight"),
    "limit": ("limit", "threshold", "cutoff", "bound"),
    "target": ("target", "wanted", "needle", "goal"),
    "value": ("value", "amount", "level", "reading"),
    "low": ("low", "lower", "lo", "floor_value", "least"),
    "high": ("high", "upper", "hi", "ceiling", "most"),
    "price": ("price", "unit_cost", "cost", "unit_price"),
    "qty": ("qty", "quantity", "units", "how_many"),
    "fee": ("fee", "surcharge", "extra", "handling"),
    "n": ("n", "levels", "tiers", "rounds"),
    "step": ("step", "increment", "per_level", "unit_step"),
    "ordered": ("ordered", "ranked", "sorted_values", "arranged"),
    "total": ("total", "needed", "demand", "volume"),
    "size": ("size", "capacity", "per_batch", "batch_size"),
    "full": ("full", "batches", "groups", "loads"),
    "rest": ("rest", "leftover", "remainder", "spare"),
    "name": ("name", "title", "label", "raw"),
    "sep": ("sep", "joiner", "glue", "separator"),
    "text": ("text", "slug", "clean", "cleaned"),
    "seen": ("seen", "visited", "known_values", "already"),
    "code": ("code", "tag", "label", "key_name"),
    "allowed": ("allowed", "known", "accepted", "valid_names"),
    "best": ("best", "biggest", "top_value", "winner"),
    "pct": ("pct", "percent", "discount", "off"),
    "cut": ("cut", "reduction", "saving", "markdown"),
    "page": ("page", "page_number", "page_no"),
    "start": ("start", "begin", "first_index", "offset"),
    "stop": ("stop", "end", "last_index", "limit_index"),
    "table": ("table", "mapping", "catalog", "lookup"),
    "key": ("key", "name", "label", "wanted_key"),
    "fallback": ("default", "fallback", "missing", "if_absent"),
    "new": ("new_value", "incoming", "added", "extra_value"),
    "cur": ("current", "existing", "other", "present"),
    "banned": ("banned", "excluded", "blocked", "skip_list"),
    "top": ("top", "highest", "biggest", "peak"),
    "bottom": ("bottom", "lowest", "smallest", "base"),
    "first": ("first", "start_id", "from_id", "low_id"),
    "last": ("last", "end_id", "to_id", "high_id"),
}
"""Name pools for every role a shape uses besides `{fn}`, `{seq}` and `{elem}` (domain nouns)."""


def _domain(name, packages, modules, nouns, words) -> Domain:
    pairs = tuple(tuple(pair.split("/")) for pair in nouns.split())
    return Domain(
        name, tuple(packages.split()), tuple(modules.split()), pairs, tuple(words.split())
    )


DOMAINS: tuple[Domain, ...] = (
    _domain(
        "inventory",
        "inventory stockroom warehouse",
        "stock orders pricing suppliers bins",
        "items/item quantities/quantity parts/part crates/crate",
        "bolt nut washer hinge bracket spring gasket valve",
    ),
    _domain(
        "ledger",
        "ledger bookkeeping accounts",
        "rates balances entries reports fees",
        "amounts/amount payments/payment entries/entry deposits/deposit",
        "rent salary refund tax invoice fee bonus loan",
    ),
    _domain(
        "grades",
        "grades gradebook marks",
        "scores students courses curve reports",
        "scores/score marks/mark points/point grades/grade",
        "alice bruno chen dara emeka farah goran hana",
    ),
    _domain(
        "shipping",
        "shipping parcels freight",
        "parcels routes rates labels tracking",
        "weights/weight parcels/parcel distances/distance packages/package",
        "express ground overnight economy priority freight local bulk",
    ),
    _domain(
        "calendar",
        "agenda planner schedules",
        "events slots recurrence holidays reminders",
        "days/day events/event slots/slot minutes/minute",
        "monday standup review lunch retro demo planning offsite",
    ),
    _domain(
        "recipes",
        "recipes cookbook kitchen",
        "ingredients portions steps pantry menus",
        "grams/gram portions/portion servings/serving ingredients/ingredient",
        "flour sugar butter salt yeast basil garlic rice",
    ),
    _domain(
        "sensors",
        "sensors telemetry probes",
        "readings alerts calibration channels filters",
        "readings/reading samples/sample levels/level ticks/tick",
        "thermo humid pressure lux sonar gyro accel ozone",
    ),
    _domain(
        "payroll",
        "payroll wages staffing",
        "salaries hours bonuses deductions shifts",
        "hours/hour wages/wage shifts/shift salaries/salary",
        "manager clerk driver cook cashier guard nurse tutor",
    ),
    _domain(
        "library",
        "bookshelf lending catalogue",
        "loans books members fines shelves",
        "books/book loans/loan pages/page copies/copy",
        "atlas novel poem essay memoir comic manual journal",
    ),
    _domain(
        "fitness",
        "fitness workouts trainer",
        "workouts steps heartrate goals plans",
        "reps/rep laps/lap calories/calorie sessions/session",
        "squat plank sprint rowing cycling yoga lunge pushup",
    ),
    _domain(
        "garden",
        "garden greenhouse orchard",
        "plants watering harvest beds seeds",
        "plants/plant seeds/seed rows/row harvests/harvest",
        "tomato basil carrot lettuce bean pepper onion mint",
    ),
    _domain(
        "parking",
        "parking garage carpark",
        "spaces tickets fees levels permits",
        "spaces/space tickets/ticket cars/car visits/visit",
        "compact sedan van truck scooter coupe wagon bike",
    ),
    _domain(
        "weather",
        "weather forecast climate",
        "temperatures rainfall wind stations alerts",
        "temps/temp gusts/gust readings/reading winds/wind",
        "oslo lima perth cairo quito hanoi dakar tromso",
    ),
    _domain(
        "hotel",
        "hotel bookings lodging",
        "rooms bookings rates guests invoices",
        "rooms/room nights/night guests/guest bookings/booking",
        "suite twin double single loft studio attic villa",
    ),
)

PACKAGE_SUFFIXES = ("", "kit", "lib", "tools", "_core", "desk")
