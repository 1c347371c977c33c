"""Names for generated repositories: domains (packages, modules, nouns, words) and role pools.

`generate` renders the shapes of `generated_templates` with these: every repository draws its
own package, module, function and variable names, so repositories held out of training look new.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Domain:
    name: str
    packages: tuple[str, ...]
    modules: tuple[str, ...]
    nouns: tuple[tuple[str, str], ...]
    """(plural, singular) names of the sequences functions work on."""
    words: tuple[str, ...]
    """Lower-case words for string arguments."""


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
