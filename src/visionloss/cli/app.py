"""The typer application behind ``visionloss``, and :func:`run`, which turns errors into exit codes."""

from __future__ import annotations

import contextlib
import enum
import io
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ._util import FAMILIES, CliError, OutDirError, prepare_out_dir

try:  # typer >= 0.2x vendors click as typer._click; older typer uses click itself
    from typer._click import exceptions as _click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as _click_errors  # type: ignore[no-redef, import-not-found, unused-ignore]

__all__ = ["app", "run"]

Family = enum.Enum("Family", {f: f for f in FAMILIES}, type=str)  # type: ignore[misc]


class ListFormat(str, enum.Enum):
    table = "table"
    plain = "plain"
    csv = "csv"
    json = "json"


class Task(str, enum.Enum):
    segmentation = "segmentation"
    classification = "classification"
    boxes = "boxes"
    embedding = "embedding"
    vae = "vae"
    gan = "gan"
    multitask = "multitask"


app = typer.Typer(
    name="visionloss",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        import visionloss

        typer.echo(f"visionloss {visionloss.__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Loss functions for computer vision in PyTorch.

    **visionloss list** shows the catalogue, **visionloss explain NAME** prints a loss's
    card with its evidence, **visionloss advise TARGETS** recommends a loss from your data,
    **visionloss plot** draws the loss
    and gradient curves, **visionloss bench** times them against peers, and
    **visionloss demo** trains small models with them on data that ships with
    scikit-learn and scikit-image. Exit codes: 0 success, 1 failure, 2 bad usage.
    """


@app.command("list")
def list_command(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Show only these losses: registry name (huber), function name (huber_loss) or "
            "Module name (HuberLoss); or a composition tool (build_loss).",
            show_default=False,
        ),
    ] = None,
    family: Annotated[
        Family | None,
        typer.Option("--family", "-f", help="Show only this family.", case_sensitive=False),
    ] = None,
    format: Annotated[
        ListFormat,
        typer.Option(
            "--format",
            help="table (rich), plain (tab-separated, no header), csv or json.",
            case_sensitive=False,
        ),
    ] = ListFormat.table,
    plain: Annotated[bool, typer.Option("--plain", help="Same as --format plain.")] = False,
) -> None:
    """Show the catalogue: every loss with its names, family, formula, options and paper.

    Read from the loss specs (**visionloss.losses.SPECS**), so it lists exactly what this
    install provides. Each loss has three names, and **build_loss** (and **loss_info**) accept
    any of them: the registry name (**huber**), the function name (**huber_loss**) and the Module
    name (**HuberLoss**), as in **build_loss("huber(delta=2.0) + 0.1 * mae")**. CSV, JSON and
    plain output give the formula in LaTeX; the table shows it as text.
    """
    from . import listing

    family_name = family.value if family is not None else None
    entries = listing.catalogue(family_name)
    if names:
        try:
            entries = listing.select(entries, names)
        except ValueError as error:
            message = str(error).removeprefix("name: ")
            raise typer.BadParameter(message, param_hint="'NAMES'") from error
    fmt = ListFormat.plain if plain else format
    if fmt is not ListFormat.table:
        sys.stdout.write(listing.RENDERERS[fmt.value](entries))
        return
    from rich.console import Console

    console = Console()
    console.print(listing.table(entries, family_name, console.width))


class CardFormat(str, enum.Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


class AdviseFormat(str, enum.Enum):
    text = "text"
    json = "json"


class AdviseTask(str, enum.Enum):
    auto = "auto"
    segmentation = "segmentation"
    classification = "classification"
    boxes = "boxes"


@app.command("explain")
def explain_command(
    name: Annotated[
        str,
        typer.Argument(
            help="The loss: registry name (dice), function name (dice_loss) or Module name "
            "(DiceLoss).",
            show_default=False,
        ),
    ],
    format: Annotated[
        CardFormat,
        typer.Option("--format", help="text, markdown or json.", case_sensitive=False),
    ] = CardFormat.text,
) -> None:
    """Print a loss's card: Definition, Formula, Application, Advantages, Disadvantages,
    Alternatives and Evidence.

    Every advantage and disadvantage names its evidence: a test of the suite that would fail if
    the claim were false, a figure of **visionloss plot**, a row of the demo's multi-seed table,
    and the paper it comes from.
    """
    from visionloss.guide import card_for, render

    from .listing import latex_to_text

    try:
        card_for(name)
    except ValueError as error:
        message = str(error).removeprefix("name: ")
        raise typer.BadParameter(message, param_hint="'NAME'") from error
    sys.stdout.write(render(name, format.value, formula=latex_to_text))


def _anchors(text: str | None) -> list[tuple[float, float]] | None:
    if not text:
        return None
    try:
        pairs = [part.split(",") for part in text.replace(" ", "").split(";") if part]
        return [(float(w), float(h)) for w, h in pairs]
    except ValueError as error:
        raise typer.BadParameter(
            f"expected 'w,h;w,h;...', got {text!r}", param_hint="'--anchors'"
        ) from error


@app.command("advise")
def advise_command(
    targets: Annotated[
        Path,
        typer.Argument(
            help="A folder of label PNGs, a .npy/.pt file of masks or class ids, or a .csv/.json "
            "file of boxes.",
            show_default=False,
        ),
    ],
    task: Annotated[
        AdviseTask,
        typer.Option("--task", help="What the targets are for (auto: from the data).",
                     case_sensitive=False),
    ] = AdviseTask.auto,
    format: Annotated[
        AdviseFormat, typer.Option("--format", help="text or json.", case_sensitive=False)
    ] = AdviseFormat.text,
    ignore_index: Annotated[
        int | None, typer.Option(help="A label to leave out of the counts.")
    ] = None,
    anchors: Annotated[
        str | None,
        typer.Option(help="Anchor shapes for boxes, as 'w,h;w,h' (their fit is reported)."),
    ] = None,
) -> None:
    """Statistics of your targets and a ranked loss recommendation with its reasons.

    Reads masks (a folder of PNGs is streamed, one image at a time), class ids or boxes, never
    running code from the files (.pt with weights_only, .npy without pickle). Reports class
    frequencies (pixels and images), foreground fraction, empty-mask rate, object sizes and the
    imbalance ratio (boxes: size and aspect spread, anchor fit), then a **build_loss** expression
    per choice, chosen by the rules in docs/guide/choosing-a-loss.md, with the card lines that
    justify it.
    """
    from visionloss.guide.advise import AdviseError, advise

    anchor_pairs = _anchors(anchors)
    progress_bar: Any = None
    try:
        if targets.is_dir() and format is AdviseFormat.text:
            from rich.progress import Progress

            progress_bar = Progress(transient=True)
            progress_bar.start()
            bar = progress_bar.add_task("reading masks", total=None)

            def progress(done: int, total: int | None) -> None:
                progress_bar.update(bar, completed=done, total=total)
        else:
            progress = None  # type: ignore[assignment]
        try:
            result = advise(
                targets, task.value, ignore_index=ignore_index, anchors=anchor_pairs,
                progress=progress,
            )
        finally:
            if progress_bar is not None:
                progress_bar.stop()
    except AdviseError as error:
        raise CliError(str(error)) from error
    if format is AdviseFormat.json:
        import json

        sys.stdout.write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(result.render())


@app.command("plot")
def plot_command(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the PNG files and index.html.")
    ] = Path("visionloss-plots"),
    only: Annotated[
        list[str] | None,
        typer.Option(help="Draw only the figures whose name contains this text (repeatable)."),
    ] = None,
    dpi: Annotated[int, typer.Option(min=50, max=400, help="Resolution of the PNG files.")] = 110,
) -> None:
    """Draw a gallery of loss and gradient curves (PNG files and an index.html).

    Every curve is computed with the visionloss functions themselves, gradients with autograd:
    regression losses and Barron's robust loss against the residual, cross-entropy and focal
    loss against p_t, Dice/Jaccard/Tversky against overlap, IoU-family box losses as one box
    slides past another, GAN generator losses, triplet and contrastive losses, Gaussian KL,
    ArcFace/CosFace against the angle, NT-Xent against similarity and temperature, quality
    focal/varifocal against the score, top-k cross-entropy against k.
    """
    from rich.console import Console

    from . import plots

    if not plots.select(only):
        names = ", ".join(f.name for f in plots.FIGURES)
        raise typer.BadParameter(
            f"no figure name contains {', '.join(only or [])!r} (figures: {names})",
            param_hint="'--only'",
        )
    folder = prepare_out_dir(out)
    console = Console()
    made = plots.make_gallery(folder, only=only, dpi=dpi, console=console)
    console.print(f"[green]{len(made.figures)} figures[/green] in {folder}/ ; open {made.index}")


@app.command("demo")
def demo_command(
    quick: Annotated[
        bool, typer.Option("--quick", help="Small settings: about a minute on 2 cores.")
    ] = False,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for figures, results.json and .csv.")
    ] = Path("visionloss-demo"),
    seed: Annotated[int, typer.Option(min=0, help="Seed of data, initialisation and batches.")] = 0,
    seeds: Annotated[
        int,
        typer.Option(
            min=1,
            max=50,
            help="Run every task with this many seeds (from --seed on) and report mean, spread "
            "and a paired test; one seed cannot rank the losses.",
        ),
    ] = 1,
    task: Annotated[
        list[Task] | None,
        typer.Option(
            "--task",
            "-t",
            help="Run only this task (repeatable). Default: all.",
            case_sensitive=False,
        ),
    ] = None,
    threads: Annotated[
        int,
        typer.Option(
            min=1,
            help="torch CPU threads. 1 by default: the models are small, and two threads on "
            "two busy cores can be many times slower than one.",
        ),
    ] = 1,
    tiny: Annotated[
        bool, typer.Option("--tiny", hidden=True, help="Minimum sizes, for the tests.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", hidden=True, help="Raise task errors.")] = False,
) -> None:
    """Train small models with different losses and compare them, one task per family.

    Data ships with scikit-learn (digits) and scikit-image (the horse silhouette) or is synthetic,
    so nothing is downloaded. Tasks: segmentation of small objects (CE, Dice, focal, Tversky,
    Dice+CE, Dice+top-k CE, Dice+boundary), imbalanced digits (CE, class-weighted CE, focal), box
    regression (Smooth L1 and the IoU family), triplet embeddings (and NT-Xent), a VAE, a GAN, and a two-task model (fixed vs
    uncertainty weighting). Prints a results table with the best loss of each task marked, and
    writes figures, results.json and results.csv into --out.

    One seed cannot rank the losses: the best of one run changes with the seed. **--seeds 5** runs
    every task with five seeds and stars a loss only when a one-sided paired t-test over the seeds
    says it beats every other loss of its task (summary.md, summary.json).
    """
    from .demo import run_demo, run_seeds

    folder = prepare_out_dir(out)
    size = "tiny" if tiny else ("quick" if quick else "full")
    tasks = [t.value for t in task] if task else None
    if seeds > 1:
        reports, _ = run_seeds(
            folder, seeds=seeds, size=size, seed=seed, tasks=tasks, threads=threads, debug=debug
        )
        if any(r.failed for r in reports):
            raise typer.Exit(1)
        return
    report = run_demo(folder, size=size, seed=seed, tasks=tasks, threads=threads, debug=debug)
    if report.failed:
        raise typer.Exit(1)


@app.command(
    "bench",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def bench_command(ctx: typer.Context) -> None:
    """Time forward+backward and count the memory kept for backward, side by side with peers.

    Options: --quick, --device cpu|cuda, --case TEXT, --csv FILE, --threads N (see
    **visionloss bench --help**).
    """
    from . import bench

    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            code = bench.main(list(ctx.args))
    except SystemExit as exit_:  # argparse's own exits (--help: 0, bad option: 2)
        code = exit_.code if isinstance(exit_.code, int) else 2
    lines = errors.getvalue().strip().splitlines()
    if code == 2 and lines:  # argparse prints its usage, then the error: keep the error line
        print(lines[-1], file=sys.stderr)
    elif lines:
        print("\n".join(lines), file=sys.stderr)
    if code:
        raise typer.Exit(code)


def _error(prefix: str, message: str) -> None:
    """One line on stderr, whatever the terminal width."""
    text = " ".join(str(message).split())
    print(f"{prefix}: error: {text}", file=sys.stderr)


def run(argv: list[str] | None = None) -> int:
    """Run the application; return 0 (success), 1 (failure) or 2 (bad usage)."""
    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else list(argv)
    prefix = "visionloss" + (f" {args[0]}" if args and not args[0].startswith("-") else "")
    try:
        result = command.main(args=args, prog_name="visionloss", standalone_mode=False)
    except _click_errors.NoArgsIsHelpError as error:
        # building the error already printed the help when typer formats it with rich; plain
        # click puts the help text in the message instead
        text = error.format_message()
        if text.strip():
            print(text)
        return 2
    except _click_errors.UsageError as error:
        if error.ctx is not None:
            prefix = error.ctx.command_path
        hint = f" (see '{prefix} --help')"
        _error(prefix, error.format_message() + hint)
        return error.exit_code
    except _click_errors.ClickException as error:
        _error(prefix, error.format_message())
        return error.exit_code
    except OutDirError as error:
        _error(prefix, f"Invalid value for '--out': {error}")
        return 2
    except CliError as error:
        _error(prefix, str(error))
        return 1
    except (KeyboardInterrupt, typer.Abort):
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0
