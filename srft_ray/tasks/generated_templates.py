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

from srft_ray.tasks import generated_examples as ex

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


def _shape(name, fn_names, examples, code, *bugs, constants=None) -> Shape:
    """A Shape from compact text: bugs as "kind: old -> new", function names space-separated."""
    parsed = []
    for text in bugs:
        kind, change = text.split(": ", 1)
        old, new = change.split(" -> ")
        if kind not in KINDS or code.count(old) != 1:
            raise ValueError(f"shape {name}: bad bug {text!r} (unknown kind or not unique)")
        parsed.append(Bug(kind, old, new))
    return Shape(
        name,
        code.lstrip("\n"),
        tuple(fn_names.split()),
        tuple(parsed),
        examples,
        constants or (lambda rng: {}),
    )


SHAPES: tuple[Shape, ...] = (
    _shape(
        "scaled_total",
        "scaled_{plural}_total total_scaled_{plural} sum_{plural}_times",
        ex.scaled,
        '''
def {fn}({seq}, {num}):
    """Return the sum of the {seq}, each multiplied by {num}."""
    {acc} = 0
    for {elem} in {seq}:
        {acc} = {acc} + {elem} * {num}
    return {acc}
''',
        "wrong_operator: {acc} + {elem} -> {acc} - {elem}",
        "wrong_operator: {elem} * {num} -> {elem} + {num}",
        "wrong_constant: {acc} = 0 -> {acc} = 1",
        "wrong_variable: return {acc} -> return {num}",
    ),
    _shape(
        "count_over",
        "count_{plural}_over num_{plural}_above {plural}_over_count",
        ex.count_over,
        '''
def {fn}({seq}, {limit}):
    """Count the {seq} strictly greater than {limit}."""
    {cnt} = 0
    for {elem} in {seq}:
        if {elem} > {limit}:
            {cnt} = {cnt} + 1
    return {cnt}
''',
        "wrong_comparison: {elem} > {limit} -> {elem} >= {limit}",
        "wrong_constant: {cnt} + 1 -> {cnt} + 2",
        "wrong_variable: return {cnt} -> return {limit}",
    ),
    _shape(
        "index_of",
        "find_{singular} index_of_{singular} position_of_{singular}",
        ex.index,
        '''
def {fn}({seq}, {target}):
    """Return the position of the first {elem} equal to {target}, or -1."""
    for {idx}, {elem} in enumerate({seq}):
        if {elem} == {target}:
            return {idx}
    return -1
''',
        "wrong_variable: return {idx} -> return {elem}",
        "wrong_constant: return -1 -> return 0",
        "off_by_one: return {idx} -> return {idx} + 1",
    ),
    _shape(
        "clamp",
        "clamp_{singular} bound_{singular} limit_{singular}",
        ex.clamp,
        '''
def {fn}({value}, {low}, {high}):
    """Limit {value} to the range from {low} to {high}."""
    if {value} < {low}:
        return {low}
    if {value} > {high}:
        return {high}
    return {value}
''',
        "wrong_variable: return {low} -> return {high}",
        "wrong_comparison: {value} > {high} -> {value} < {high}",
        "wrong_variable: return {value} -> return {low}",
    ),
    _shape(
        "order_cost",
        "cost_of_{plural} {singular}_charge price_{plural}",
        ex.cost,
        '''
def {fn}({price}, {qty}, {fee}={c_fee}):
    """Charge {qty} at {price} each plus {fee}; 0 for no {qty}."""
    if {qty} <= 0:
        return 0
    {acc} = {price} * {qty}
    return {acc} + {fee}
''',
        "wrong_constant: {fee}={c_fee} -> {fee}={c_fee_bad}",
        "wrong_operator: {price} * {qty} -> {price} + {qty}",
        "wrong_comparison: {qty} <= 0 -> {qty} < 0",
        "wrong_operator: {acc} + {fee} -> {acc} - {fee}",
        constants=ex.fee_constants,
    ),
    _shape(
        "running_totals",
        "running_{plural} cumulative_{plural} {singular}_running_totals",
        ex.lists,
        '''
def {fn}({seq}):
    """Return the running totals of the {seq}."""
    {out} = []
    {acc} = 0
    for {elem} in {seq}:
        {acc} = {acc} + {elem}
        {out}.append({acc})
    return {out}
''',
        "wrong_variable: append({acc}) -> append({elem})",
        "wrong_constant: {acc} = 0 -> {acc} = 1",
        "wrong_operator: {acc} + {elem} -> {acc} - {elem}",
    ),
    _shape(
        "sum_first",
        "sum_first_{plural} head_{plural}_total first_{plural}_sum",
        ex.sum_first,
        '''
def {fn}({seq}, {n}):
    """Return the sum of the first {n} {seq}."""
    {acc} = 0
    for {idx} in range({n}):
        {acc} = {acc} + {seq}[{idx}]
    return {acc}
''',
        "off_by_one: range({n}) -> range({n} - 1)",
        "wrong_variable: {acc} + {seq}[{idx}] -> {acc} + {idx}",
        "wrong_constant: {acc} = 0 -> {acc} = 1",
    ),
    _shape(
        "series",
        "{singular}_ladder_total stepped_{plural} tiered_{singular}_sum",
        ex.series,
        '''
def {fn}({n}, {step}):
    """Return 1 * {step} + 2 * {step} + ... + {n} * {step}."""
    {acc} = 0
    for {idx} in range(1, {n} + 1):
        {acc} = {acc} + {idx} * {step}
    return {acc}
''',
        "off_by_one: range(1, {n} + 1) -> range(1, {n})",
        "wrong_operator: {idx} * {step} -> {idx} + {step}",
        "swapped_args: range(1, {n} + 1) -> range({n} + 1, 1)",
    ),
    _shape(
        "drop_lowest",
        "drop_lowest_{singular} without_min_{singular} trim_low_{plural}",
        ex.unsorted,
        '''
def {fn}({seq}):
    """Return the {seq} sorted, without the lowest one."""
    if not {seq}:
        return []
    {ordered} = sorted({seq})
    return {ordered}[1:]
''',
        "off_by_one: [1:] -> [2:]",
        "missing_negation: if not {seq}: -> if {seq}:",
        "wrong_variable: return {ordered}[1:] -> return {seq}[1:]",
    ),
    _shape(
        "batches",
        "{singular}_batches batches_for_{plural} {singular}_loads_needed",
        ex.batches,
        '''
def {fn}({total}, {size}):
    """Return how many groups of {size} are needed to hold {total}."""
    if {size} <= 0:
        raise ValueError("{size} must be positive")
    {full}, {rest} = divmod({total}, {size})
    if {rest}:
        {full} = {full} + 1
    return {full}
''',
        "swapped_args: divmod({total}, {size}) -> divmod({size}, {total})",
        "wrong_constant: {full} + 1 -> {full} + 2",
        "wrong_variable: return {full} -> return {rest}",
    ),
    _shape(
        "slug",
        "{singular}_slug slug_for_{singular} key_for_{singular}",
        ex.slug,
        '''
def {fn}({name}, {sep}):
    """Return {name} lower-cased, with spaces replaced by {sep}."""
    {text} = {name}.strip().lower()
    {text} = {text}.replace(" ", {sep})
    return {text}
''',
        'swapped_args: .replace(" ", {sep}) -> .replace({sep}, " ")',
        "wrong_variable: return {text} -> return {name}",
    ),
    _shape(
        "dedupe",
        "unique_{plural} dedupe_{plural} distinct_{plural}",
        ex.dedupe,
        '''
def {fn}({seq}):
    """Return the {seq} without repeats, in first-seen order."""
    {seen} = set()
    {out} = []
    for {elem} in {seq}:
        if {elem} not in {seen}:
            {seen}.add({elem})
            {out}.append({elem})
    return {out}
''',
        "missing_negation: {elem} not in {seen} -> {elem} in {seen}",
        "wrong_variable: return {out} -> return {seq}",
    ),
    _shape(
        "is_allowed",
        "is_valid_{singular} {singular}_allowed accepts_{singular}",
        ex.allowed,
        '''
def {fn}({code}, {allowed}):
    """Tell whether {code} is non-empty and one of the {allowed}."""
    if not {code}:
        return False
    if {code} not in {allowed}:
        return False
    return True
''',
        "missing_negation: if not {code}: -> if {code}:",
        "missing_negation: {code} not in {allowed} -> {code} in {allowed}",
        "wrong_constant: return True -> return False",
    ),
    _shape(
        "mean",
        "average_{singular} mean_{singular} {singular}_average",
        ex.lists,
        '''
def {fn}({seq}):
    """Return the average of the {seq}, or 0 when there are none."""
    if not {seq}:
        return 0
    {acc} = 0
    for {elem} in {seq}:
        {acc} = {acc} + {elem}
    return {acc} / len({seq})
''',
        "missing_negation: if not {seq}: -> if {seq}:",
        "wrong_constant: {acc} = 0 -> {acc} = 1",
        "wrong_operator: {acc} + {elem} -> {acc} * {elem}",
    ),
    _shape(
        "largest",
        "largest_{singular} max_{singular} peak_{singular}",
        ex.unsorted,
        '''
def {fn}({seq}):
    """Return the largest of the {seq}, or None when there are none."""
    {best} = None
    for {elem} in {seq}:
        if {best} is None or {elem} > {best}:
            {best} = {elem}
    return {best}
''',
        "wrong_comparison: {elem} > {best} -> {elem} < {best}",
        "wrong_variable: return {best} -> return {elem}",
    ),
    _shape(
        "discount",
        "apply_discount discounted_{singular} {singular}_after_discount",
        ex.discount,
        '''
def {fn}({price}, {pct}):
    """Return {price} reduced by {pct} percent, rounded."""
    {cut} = {price} * {pct}
    {cut} = round({cut} / 100)
    return {price} - {cut}
''',
        "wrong_operator: return {price} - {cut} -> return {price} + {cut}",
        "wrong_operator: {price} * {pct} -> {price} + {pct}",
        "wrong_variable: return {price} - {cut} -> return {pct} - {cut}",
    ),
    _shape(
        "in_range",
        "{plural}_between select_{plural}_in_range filter_{plural}",
        ex.in_range,
        '''
def {fn}({seq}, {low}, {high}):
    """Return the {seq} from {low} to {high}, both included."""
    {out} = []
    for {elem} in {seq}:
        if {low} <= {elem} <= {high}:
            {out}.append({elem})
    return {out}
''',
        "wrong_comparison: {low} <= {elem} -> {low} < {elem}",
        "wrong_comparison: {elem} <= {high} -> {elem} < {high}",
    ),
    _shape(
        "page",
        "page_of_{plural} {plural}_page paginate_{plural}",
        ex.page,
        '''
def {fn}({seq}, {page}, {size}):
    """Return page {page} (from 1) of the {seq}, {size} per page."""
    {start} = ({page} - 1) * {size}
    {stop} = {start} + {size}
    return {seq}[{start}:{stop}]
''',
        "off_by_one: ({page} - 1) * {size} -> {page} * {size}",
        "wrong_variable: {start} + {size} -> {start} + {page}",
        "wrong_operator: {start} + {size} -> {start} - {size}",
    ),
    _shape(
        "lookup",
        "lookup_{singular} {singular}_for_key get_{singular}",
        ex.lookup,
        '''
def {fn}({table}, {key}, {fallback}):
    """Return the {table} entry for {key}, else {fallback}."""
    {key} = {key}.strip().lower()
    if {key} in {table}:
        return {table}[{key}]
    return {fallback}
''',
        "wrong_variable: return {fallback} -> return {key}",
        "wrong_variable: return {table}[{key}] -> return {fallback}",
    ),
    _shape(
        "insert_sorted",
        "insert_{singular} add_{singular}_sorted place_{singular}",
        ex.insert,
        '''
def {fn}({seq}, {new}):
    """Return the sorted {seq} with {new} inserted in order."""
    {out} = list({seq})
    for {idx}, {cur} in enumerate({out}):
        if {new} < {cur}:
            {out}.insert({idx}, {new})
            return {out}
    {out}.append({new})
    return {out}
''',
        "swapped_args: insert({idx}, {new}) -> insert({new}, {idx})",
        "wrong_comparison: {new} < {cur} -> {new} > {cur}",
    ),
    _shape(
        "exclude",
        "drop_listed_{plural} {plural}_except remove_banned_{plural}",
        ex.exclude,
        '''
def {fn}({seq}, {banned}):
    """Return the {seq}, leaving out any listed in {banned}."""
    {out} = []
    for {elem} in {seq}:
        if {elem} not in {banned}:
            {out}.append({elem})
    return {out}
''',
        "missing_negation: not in {banned} -> in {banned}",
        "wrong_variable: return {out} -> return {seq}",
    ),
    _shape(
        "spread",
        "{singular}_spread range_of_{plural} {singular}_gap",
        ex.unsorted,
        '''
def {fn}({seq}):
    """Return the largest minus the smallest of the {seq}."""
    if not {seq}:
        return 0
    {top} = max({seq})
    {bottom} = min({seq})
    return {top} - {bottom}
''',
        "wrong_operator: {top} - {bottom} -> {top} + {bottom}",
        "missing_negation: if not {seq}: -> if {seq}:",
    ),
    _shape(
        "id_range",
        "{singular}_ids_between {singular}_numbers span_of_{plural}",
        ex.ids,
        '''
def {fn}({first}, {last}):
    """Return the numbers from {first} to {last}, both included."""
    if {last} < {first}:
        return []
    return list(range({first}, {last} + 1))
''',
        "swapped_args: range({first}, {last} + 1) -> range({last} + 1, {first})",
        "off_by_one: {last} + 1) -> {last})",
        "wrong_comparison: {last} < {first} -> {last} <= {first}",
    ),
)
