"""Scenario files: one YAML document describing a benchmark grid, validated before anything runs.

A scenario names a dataset, the plain victim (architecture and training budget), the ownership methods with their
settings and access levels, the stealing attacks with theirs, the independent-model population and the seeds::

    name: fmnist-quick
    dataset: fashion-mnist
    scale: cpu                 # cpu | gpu | paper (a label; the sizes below are what make it one or the other)
    seeds: [0]                 # one victim and one protection per method and seed
    victim: {arch: cnn, width: 1.0, limit: 12000, epochs: 3}
    methods:
      - method: move
        access: [white-box, probabilities]
        settings: {rate: 0.1, benign_models: 2, references: 4}
        verify: {repeats: 3}
      - method: sac
        access: [probabilities]
        settings: {variant: m}
    attacks:
      - {attack: fine-tune, label: Fine-tuning, settings: {epochs: 1, limit: 4000}}
      - {attack: logit-query, settings: {limit: 8000, epochs: 3}}
      - {attack: label-query, label: Extract-L resnet8, row: Extract-L, settings: {arch: resnet8}}
    independent:
      - {arch: cnn, width: 1.0, seed: 0, limit: 8000, epochs: 3}
      - {arch: cnn, seed: 5, recipe: {optimizer: adam, lr: 0.001}}   # a stranger's recipe (RECIPE_KEYS)
      - {arch: cnn, seed: 6, style: {styles: ["builtin:3", "builtin:7"], rate: 0.3}}  # trained with style augmentation

An attack's ``row`` (default: its label) is the table row it is reported under: attacks sharing a row (the same
theft with several architectures or seeds) are pooled in the tables. A method may list ``attacks: [label, ...]`` to be judged on those attacks only (default: all). Methods with the same
``method``, ``settings`` and a subset of an earlier one's ``access`` share its protection (kit, protected model and
thefts), so variants that only change ``verify`` options (``m``, ``repeats``) cost verifications, not training.

Every key is checked (unknown keys, wrong types, unknown methods, attacks and settings are one-line errors naming
the place in the file). Methods that train their own protected model (MOVE) take the victim's architecture, width,
training images and epochs from ``victim``; fingerprints (SAC) protect the plain victim trained from ``victim``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ..errors import ConfigError

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
ACCESS_LEVELS = ("white-box", "probabilities", "labels")
SCALES = ("cpu", "gpu", "paper")
# what an independent model's ``recipe`` may change in the dataset's training recipe, and the types
RECIPE_KEYS = {"optimizer": str, "lr": float, "crop_padding": int, "flip": bool, "batch_size": int, "weight_decay": float,
               "momentum": float}


@dataclass(frozen=True)
class VictimSpec:
    """The plain victim (and the architecture and budget of a protected model a method trains itself)."""

    arch: str
    width: float = 1.0
    limit: int | None = None
    epochs: int | None = None


@dataclass(frozen=True)
class MethodSpec:
    """An ownership method, the access levels it verifies with, its protect settings and its verify options."""

    method: str
    access: tuple[str, ...]
    settings: dict = field(default_factory=dict)
    verify: dict = field(default_factory=dict)
    label: str = ""
    attacks: tuple[str, ...] = ()  # labels of the attacks this method is judged on (empty: all of them)


@dataclass(frozen=True)
class AttackSpec:
    """A stealing attack run against every victim of the grid, under a row label."""

    attack: str
    label: str
    settings: dict = field(default_factory=dict)
    row: str = ""  # the table row it is reported under (several attacks may share one, e.g. three architectures)


@dataclass(frozen=True)
class IndependentSpec:
    """A model trained from scratch on the attacker half: the negative control every method is checked against."""

    arch: str
    width: float = 1.0
    seed: int = 0
    limit: int | None = None
    epochs: int | None = None
    recipe: tuple = ()  # (key, value) pairs that change the dataset's training recipe (RECIPE_KEYS): a stranger's habits
    styles: tuple = ()  # style augmentation: stylizer specs (e.g. "builtin:3") that take a share of the images in turn
    style_rate: float = 0.0  # the share of the training images stylised (kept with their labels)

    @property
    def label(self) -> str:
        """A readable, unique label of this independent model (architecture, width, seed, data, recipe, styles): its
        job key."""
        extra = "".join(f", {k} {v}" for k, v in self.recipe)
        if len(self.styles) > 3:  # a long list: its size, ends and a digest (labels are job keys, so unique)
            digest = hashlib.sha256("+".join(self.styles).encode()).hexdigest()[:6]
            extra += f", {len(self.styles)} styles {self.styles[0]}..{self.styles[-1]} #{digest} at {self.style_rate:g}"
        elif self.styles:
            extra += f", styles {'+'.join(self.styles)} at {self.style_rate:g}"
        return f"{self.arch} w{self.width:g} seed {self.seed}, {self.limit or 'all'} imgs, {self.epochs or 'default'} ep{extra}"


@dataclass(frozen=True)
class Scenario:
    """A validated scenario file (see the module docstring)."""

    name: str
    dataset: str
    victim: VictimSpec
    methods: tuple[MethodSpec, ...]
    attacks: tuple[AttackSpec, ...]
    independent: tuple[IndependentSpec, ...]
    seeds: tuple[int, ...] = (0,)
    scale: str = "cpu"
    split_seed: int = 0
    device: str = "auto"
    description: str = ""
    recipe: str = "standard"  # the named training recipe of every model the run trains (stealguard.recipes.RECIPES)

    def to_dict(self) -> dict:
        """The validated scenario as a plain dict (stored in the run's database); ``recipe`` left out when standard,
        so runs made before it existed keep their digest."""
        d = asdict(self)
        if self.recipe == "standard":
            del d["recipe"]
        return d

    def digest(self) -> str:
        """SHA-256 of the validated scenario: a results database belongs to exactly one scenario."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()


def _where(ctx: str, key: str) -> str:
    return f"{ctx}.{key}" if ctx else key


def _check_keys(d, allowed: set[str], required: set[str], ctx: str) -> None:
    if not isinstance(d, dict):
        raise ConfigError(f"scenario: {ctx or 'the document'} must be a mapping, got {type(d).__name__}")
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ConfigError(f"scenario: unknown key {_where(ctx, unknown[0])!r}; allowed: {', '.join(sorted(allowed))}")
    missing = sorted(required - set(d))
    if missing:
        raise ConfigError(f"scenario: {_where(ctx, missing[0])} is required")


def _typed(d: dict, key: str, types, ctx: str, default=None, positive: bool = False):
    v = d.get(key, default)
    if v is None:
        return v
    if isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ConfigError(f"scenario: {_where(ctx, key)} must be {_type_name(types)}, got {v!r}")
    if not isinstance(v, types):
        raise ConfigError(f"scenario: {_where(ctx, key)} must be {_type_name(types)}, got {v!r}")
    if positive and v <= 0:
        raise ConfigError(f"scenario: {_where(ctx, key)} must be > 0, got {v!r}")
    return float(v) if types == (int, float) else v


def _type_name(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join({int: "an integer", float: "a number", str: "a string", dict: "a mapping", list: "a list",
                        bool: "true/false"}[t] for t in types)


def _settings(d: dict, ctx: str) -> dict:
    s = _typed(d, "settings", dict, ctx, {})
    for k in s:
        if not isinstance(k, str):
            raise ConfigError(f"scenario: {ctx}.settings has a non-text key {k!r}")
    return dict(s)


def parse_scenario(doc, source: str = "scenario") -> Scenario:
    """Validate a parsed YAML document and return the :class:`Scenario` (a ``ConfigError`` names the first problem)."""
    _check_keys(doc, {"name", "description", "dataset", "scale", "seeds", "split_seed", "device", "recipe", "victim",
                      "methods", "attacks", "independent"}, {"name", "dataset", "victim", "methods"}, "")
    name = _typed(doc, "name", str, "")
    if not name or any(c in name for c in "/\\\0"):
        raise ConfigError(f"scenario: name must be a plain word, got {name!r}")
    scale = _typed(doc, "scale", str, "", "cpu")
    if scale not in SCALES:
        raise ConfigError(f"scenario: scale must be one of {', '.join(SCALES)}, got {scale!r}")
    from ..recipes import RECIPES

    run_recipe = _typed(doc, "recipe", str, "", "standard")
    if run_recipe not in RECIPES:
        raise ConfigError(f"scenario: recipe must be one of {', '.join(RECIPES)}, got {run_recipe!r}")
    seeds = _typed(doc, "seeds", list, "", [0])
    if not seeds or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds) or len(set(seeds)) != len(seeds):
        raise ConfigError(f"scenario: seeds must be a non-empty list of distinct integers, got {seeds!r}")
    v = doc["victim"]
    _check_keys(v, {"arch", "width", "limit", "epochs"}, {"arch"}, "victim")
    victim = VictimSpec(_typed(v, "arch", str, "victim"), _typed(v, "width", (int, float), "victim", 1.0, True),
                        _typed(v, "limit", int, "victim", None, True), _typed(v, "epochs", int, "victim", None, True))
    methods = _methods(doc["methods"])
    attacks = _attacks(_typed(doc, "attacks", list, "", []))
    labels = [a.label for a in attacks]
    for i, m in enumerate(methods):
        unknown = [a for a in m.attacks if a not in labels]
        if unknown:
            raise ConfigError(f"scenario: methods[{i}].attacks: no attack labelled {unknown[0]!r}; labels: {', '.join(labels) or 'none'}")
    independent = []
    for i, x in enumerate(_typed(doc, "independent", list, "", [])):
        ctx = f"independent[{i}]"
        _check_keys(x, {"arch", "width", "seed", "limit", "epochs", "recipe", "style"}, {"arch"}, ctx)
        style = _typed(x, "style", dict, ctx, {})
        styles, style_rate = (), 0.0
        if style:
            _check_keys(style, {"styles", "rate"}, {"styles", "rate"}, f"{ctx}.style")
            styles = _typed(style, "styles", list, f"{ctx}.style")
            style_rate = _typed(style, "rate", (int, float), f"{ctx}.style")
            if not styles or not all(isinstance(v, str) and v for v in styles):
                raise ConfigError(f"scenario: {ctx}.style.styles must be a non-empty list of style specs (builtin:N, ...)")
            if not 0 < style_rate <= 1:
                raise ConfigError(f"scenario: {ctx}.style.rate must be in (0, 1], got {style_rate!r}")
            from ..style import make_stylizer

            for spec in styles:  # a bad spec is an error now, not when the job runs
                try:
                    make_stylizer(spec)
                except ConfigError as e:
                    raise ConfigError(f"scenario: {ctx}.style.styles: {e}") from None
            styles, style_rate = tuple(styles), float(style_rate)
        recipe = _typed(x, "recipe", dict, ctx, {})
        _check_keys(recipe, set(RECIPE_KEYS), set(), f"{ctx}.recipe")
        for k, v in recipe.items():
            if not isinstance(v, RECIPE_KEYS[k]) or isinstance(v, bool) != (RECIPE_KEYS[k] is bool):
                raise ConfigError(f"scenario: {ctx}.recipe.{k} must be {RECIPE_KEYS[k].__name__}, got {v!r}")
        independent.append(IndependentSpec(_typed(x, "arch", str, ctx), _typed(x, "width", (int, float), ctx, 1.0, True),
                                           _typed(x, "seed", int, ctx, 0), _typed(x, "limit", int, ctx, None, True),
                                           _typed(x, "epochs", int, ctx, None, True), tuple(sorted(recipe.items())),
                                           styles, style_rate))
    if len({s.label for s in independent}) != len(independent):
        raise ConfigError("scenario: two independent models have the same architecture, width, seed, size and epochs")
    from ..models import ARCHS

    for arch, ctx in [(victim.arch, "victim.arch")] + [(s.arch, f"independent[{i}].arch") for i, s in enumerate(independent)]:
        if arch not in ARCHS and not arch.startswith("wrn"):
            raise ConfigError(f"scenario: {ctx}: unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    return Scenario(name, _typed(doc, "dataset", str, ""), victim, tuple(methods), tuple(attacks), tuple(independent),
                    tuple(seeds), scale, _typed(doc, "split_seed", int, "", 0), _typed(doc, "device", str, "", "auto"),
                    _typed(doc, "description", str, "", ""), run_recipe)


def _methods(items) -> list[MethodSpec]:
    from ..methods import REGISTRY, get_method, settings_from

    if not isinstance(items, list) or not items:
        raise ConfigError("scenario: methods must be a non-empty list")
    out = []
    for i, x in enumerate(items):
        ctx = f"methods[{i}]"
        _check_keys(x, {"method", "access", "settings", "verify", "label", "attacks"}, {"method"}, ctx)
        name = _typed(x, "method", str, ctx)
        if name not in REGISTRY:
            raise ConfigError(f"scenario: {ctx}.method: unknown method {name!r}; choose one of {', '.join(REGISTRY)}")
        method = get_method(name)
        access = x.get("access", list(method.levels))
        if isinstance(access, str):
            access = [access]
        if not isinstance(access, list) or not access or any(a not in method.levels for a in access):
            raise ConfigError(f"scenario: {ctx}.access must list levels {name} verifies with ({', '.join(method.levels)}), got {access!r}")
        settings = _settings(x, ctx)
        filled = {k for k in victim_fields(method) if k in settings}
        if filled:
            raise ConfigError(f"scenario: {ctx}.settings.{sorted(filled)[0]} comes from the scenario (dataset, victim, seeds); remove it")
        try:
            settings_from(method.Settings, **settings, **_victim_fill(method))
        except (TypeError, ValueError, ConfigError) as e:
            raise ConfigError(f"scenario: {ctx}.settings: {e}") from None
        verify = _typed(x, "verify", dict, ctx, {})
        accepted = method.verify_options()
        bad = sorted(set(verify) - accepted)
        if bad:
            raise ConfigError(f"scenario: {ctx}.verify.{bad[0]}: {name} verify takes {', '.join(sorted(accepted))}")
        label = _typed(x, "label", str, ctx, "") or name.upper()
        attacks = _typed(x, "attacks", list, ctx, [])
        if not all(isinstance(a, str) for a in attacks) or len(set(attacks)) != len(attacks):
            raise ConfigError(f"scenario: {ctx}.attacks must list distinct attack labels, got {attacks!r}")
        out.append(MethodSpec(name, tuple(access), settings, dict(verify), label, tuple(attacks)))
    if len({m.label for m in out}) != len(out):
        raise ConfigError("scenario: two methods share a label; give each a distinct 'label'")
    return out


def victim_fields(method) -> tuple[str, ...]:
    """Settings the runner fills in from the scenario: the dataset and seed, and for methods that train the protected
    model themselves its architecture, width, training images and epochs."""
    from dataclasses import fields

    names = {f.name for f in fields(method.Settings)}
    wanted = ("dataset", "seed", "recipe") + (("arch", "width", "limit", "epochs") if method.trains_victim else ())
    return tuple(k for k in wanted if k in names)


def entry_settings(method, settings: dict, dataset: str, seed: int, victim: dict):
    """A method entry's settings as the runner builds them: the entry's own ``settings`` plus the scenario's dataset
    and ``seed`` and, for a method that trains its protected model, the ``victim``'s (a mapping with ``arch``,
    ``width``, ``limit``, ``epochs``) architecture, width, training images and epochs."""
    from ..methods import settings_from

    fill = {"dataset": dataset, "seed": seed, "arch": victim["arch"], "width": victim["width"], "limit": victim["limit"],
            "epochs": victim["epochs"], "recipe": victim.get("recipe", "standard")}
    return settings_from(method.Settings, **settings, **{k: fill[k] for k in victim_fields(method)})


def _victim_fill(method) -> dict:
    """Placeholder values of the fields the runner fills in, so settings are validated the way they will be used."""
    placeholder = {"dataset": "fashion-mnist", "arch": "cnn", "width": 1.0, "seed": 0, "limit": None, "epochs": None,
                   "recipe": "standard"}
    return {k: placeholder[k] for k in victim_fields(method)}


def _attacks(items: list) -> list[AttackSpec]:
    from ..attacks import REGISTRY, make_settings

    out = []
    for i, x in enumerate(items):
        ctx = f"attacks[{i}]"
        _check_keys(x, {"attack", "label", "settings", "row"}, {"attack"}, ctx)
        name = _typed(x, "attack", str, ctx)
        if name not in REGISTRY:
            raise ConfigError(f"scenario: {ctx}.attack: unknown attack {name!r}; choose one of {', '.join(REGISTRY)}")
        settings = _settings(x, ctx)
        try:
            make_settings(name, **settings)
        except (TypeError, ValueError, ConfigError) as e:
            raise ConfigError(f"scenario: {ctx}.settings: {e}") from None
        label = _typed(x, "label", str, ctx, "") or name
        out.append(AttackSpec(name, label, settings, _typed(x, "row", str, ctx, "") or label))
    if len({a.label for a in out}) != len(out):
        raise ConfigError("scenario: two attacks share a label; give each a distinct 'label'")
    return out


def find_scenario(name_or_path: str) -> Path:
    """A scenario file: a path, or the name of one shipped with stealguard (``fmnist-quick``)."""
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    shipped = SCENARIO_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    raise ConfigError(f"no scenario file {name_or_path!r}; shipped scenarios: {', '.join(shipped_scenarios())}")


def shipped_scenarios() -> list[str]:
    """Names of the scenarios shipped with stealguard (``bench run NAME``)."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str) -> Scenario:
    """Read and validate a scenario file (a path or a shipped scenario's name)."""
    path = find_scenario(name_or_path)
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"scenario {path.name}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"scenario {path}: cannot read it: {e}") from None
    return parse_scenario(doc, path.name)
