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

from .errors import StealguardError


class GuardedGroup(click.Group):
    """A click group that turns every error into one clear line and a non-zero exit."""

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


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="stealguard")
def cli():
    """stealguard: prove that a suspect classifier was stolen from yours.

    Train and protect a model, simulate the thefts it may suffer, and verify suspects (weights files, ONNX files)
    with evidence a third party can check.
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
@click.option("--dataset", required=True, help="fashion-mnist, cifar10, tiny-imagenet-20, folder:PATH or npz:PATH.")
@click.option("--arch", required=True, help="Zoo architecture: cnn, resnet8, resnet20, resnet18, vgg11..19, wrnD-K, mobilenetv2, densenet.")
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
@click.option("--schedule", type=click.Choice(["cosine", "step", "none"]), default=None)
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda, cuda:1, ...")
@click.option("--onnx", "export_onnx", is_flag=True, help="Also write DIR/model.onnx.")
@click.option("--no-cache", is_flag=True, help="Train even if an identical model is in the artifact cache.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder (model.safetensors, metrics.json).")
@data_dir_option
def train(dataset, arch, width, epochs, limit, split, seed, split_seed, batch_size, lr, optimizer, schedule, device,
          export_onnx, no_cache, out, data_dir):
    """Train a zoo model on a dataset split; write DIR/model.safetensors and DIR/metrics.json."""
    from .data import load_splits
    from .models import export_onnx as to_onnx
    from .models import save_model
    from .recipes import cpu_recipe, train_classifier

    overrides = {k: v for k, v in dict(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                                        schedule=schedule).items() if v is not None}
    config = cpu_recipe(dataset, seed=seed, device=device, **overrides)
    t0 = time.perf_counter()
    splits = load_splits(dataset, data_dir, seed=split_seed)
    model, record = train_classifier(splits, arch, width, config, split=split, limit=limit, use_cache=not no_cache)
    out = Path(out)
    sha = save_model(model, out / "model.safetensors")
    metrics = {"accuracy": record["accuracy"], "epochs": record["epochs"], "seconds": record["seconds"], "sha256": sha,
               "dataset": dataset, "arch": arch, "width": width, "split": split, "train_samples": record["train_samples"],
               "seed": seed, "split_seed": split_seed, "recipe": record["recipe"], "cached": record["cached"],
               "wall_seconds": round(time.perf_counter() - t0, 3)}
    if export_onnx:
        metrics["onnx_sha256"] = to_onnx(model, out / "model.onnx")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
    click.echo(f"{arch} on {dataset} ({record['train_samples']} samples, {record['epochs']} epochs"
               f"{', from cache' if record['cached'] else ''}): test accuracy {record['accuracy']:.4f}")
    click.echo(f"wrote {out / 'model.safetensors'} (sha256 {sha[:16]}...) and {out / 'metrics.json'}")


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info(model, as_json):
    """Describe a model file (.safetensors or .onnx) without trusting it."""
    from .models import OnnxModel, count_parameters, open_model, sha256_file

    m = open_model(model)
    sha = sha256_file(model)
    if isinstance(m, OnnxModel):
        d = {"file": str(model), "format": "onnx", "sha256": sha, "input_shape": list(m.input_shape),
             "num_classes": m.num_classes, "output": m.output or "unknown (detected on first query)",
             "spec": None if m.spec is None else json.loads(m.spec.to_json())}
        lines = [f"{model}: ONNX, input {tuple(m.input_shape)}, {m.num_classes} classes, output {d['output']}",
                 f"sha256 {sha}"]
    else:
        s = m.spec
        d = {"file": str(model), "format": "safetensors", "sha256": sha, "arch": s.arch, "width": s.width,
             "num_classes": s.num_classes, "classes": s.classes, "input_shape": [s.in_channels, *s.image_size],
             "mean": s.mean, "std": s.std, "parameters": count_parameters(m)}
        lines = [f"{model}: {s.arch} (width {s.width}), {s.num_classes} classes, input {(s.in_channels, *s.image_size)}, "
                 f"{d['parameters']:,} parameters", f"sha256 {sha}"]
    _emit(d, as_json, lines)


@cli.command("export")
@click.argument("model", type=click.Path())
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Path of the .onnx file to write.")
def export_cmd(model, out):
    """Export a .safetensors model to ONNX (normalisation included; the output is logits)."""
    from .models import export_onnx, load_model

    if not out.endswith(".onnx"):
        raise StealguardError("--out must end with .onnx")
    sha = export_onnx(load_model(model), out)
    click.echo(f"wrote {out} (sha256 {sha[:16]}...)")


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), default="runs/demo", show_default=True, help="Where to write the demo's files.")
@data_dir_option
def demo(out, data_dir):
    """Run the end-to-end story on Fashion-MNIST at CPU scale (a few minutes on 2 cores)."""
    from .demo import run_demo

    run_demo(Path(out), data_dir, echo=click.echo)


def main() -> None:
    """Console entry point."""
    cli(prog_name="stealguard")


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)
