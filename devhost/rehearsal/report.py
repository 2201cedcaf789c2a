"""The report a user reads after a rehearsal: the objective of each trial over its logged steps,
the objective against each hyperparameter (the two views Azure ML studio gives a sweep: its
metrics chart and its parallel-coordinates / scatter charts), and the table of trials.

Written as `report.md` with two PNGs (matplotlib, Agg backend: no display needed) and
`trials.csv`, in the rehearsal's `report/` folder. Redacted parameters (Secret values) appear
as *** in the table and get no chart.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import MissingDependencyError
from .outcome import SweepOutcome
from .records import CANCELED, COMPLETED, FAILED, REDACTED, TrialRecord
from .tracking import MetricPoint

STATUS_COLORS = {COMPLETED: "tab:blue", CANCELED: "tab:orange", FAILED: "tab:red"}


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise MissingDependencyError("matplotlib", "The rehearsal report") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _duration(t: TrialRecord) -> str:
    if t.started_at and t.ended_at:
        return f"{(t.ended_at - t.started_at).total_seconds():.1f}"
    return ""


def _series(points: Sequence[MetricPoint]) -> tuple[list[float], list[float]]:
    """x: the logged steps, or the report order when the script logged every value at one step."""
    steps = [p.step for p in points]
    xs = (
        [float(s) for s in steps]
        if len(set(steps)) == len(steps)
        else [float(i) for i in range(1, len(points) + 1)]
    )
    return xs, [p.value for p in points]


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def chart_steps(
    path: Path, outcome: SweepOutcome, histories: Mapping[str, Sequence[MetricPoint]], metric: str
) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for t in outcome.trials:
        points = histories.get(t.name) or []
        if not points:
            continue
        xs, ys = _series(points)
        best = t.name == outcome.best_trial
        ax.plot(
            xs,
            ys,
            marker="o",
            markersize=3,
            linewidth=2.5 if best else 1.2,
            linestyle="--" if t.status == CANCELED else "-",
            color=STATUS_COLORS.get(t.status, "tab:gray") if not best else "tab:green",
            label=f"{t.name} ({t.status.lower()}{', best' if best else ''})",
        )
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} over the logged steps of each trial")
    ax.grid(alpha=0.3)
    if ax.lines and len(ax.lines) <= 12:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def chart_params(
    path: Path, outcome: SweepOutcome, maximize: bool, metric: str, names: Sequence[str], log_names: set[str]
) -> None:
    plt = _pyplot()
    cols = min(3, max(1, len(names)))
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), dpi=100, squeeze=False)
    scored = [t for t in outcome.trials if t.primary]
    for ax, name in zip(axes.flat, names, strict=False):
        values = [t.params[name] for t in scored]
        if values and all(_is_number(v) for v in values):
            xs = [float(v) for v in values]
            spans_decades = min(xs) > 0 and max(xs) / min(xs) >= 100
            if min(xs) > 0 and (name in log_names or spans_decades):
                ax.set_xscale("log")
        else:
            labels = sorted({str(v) for v in values})
            xs = [float(labels.index(str(v))) for v in values]
            ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
        ys = [t.best(maximize) for t in scored]
        colors = [
            "tab:green" if t.name == outcome.best_trial else STATUS_COLORS.get(t.status, "tab:gray")
            for t in scored
        ]
        ax.scatter(xs, ys, c=colors, s=28)
        ax.set_xlabel(name)
        ax.set_ylabel(f"best {metric}")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(f"best {metric} of each trial against each hyperparameter", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _relative(path: Path, folder: Path) -> str:
    try:
        return os.path.relpath(path, folder)
    except ValueError:
        return str(path)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write(
    folder: Path,
    *,
    sweep: str,
    outcome: SweepOutcome,
    histories: Mapping[str, Sequence[MetricPoint]],
    primary_metric: str,
    maximize: bool,
    redact: frozenset[str] = frozenset(),
    log_names: set[str] | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted({k for t in outcome.trials for k in t.params})
    charted = [n for n in names if n not in redact]
    chart_steps(folder / "objective_over_steps.png", outcome, histories, primary_metric)
    if charted:
        chart_params(
            folder / "objective_vs_hyperparameters.png",
            outcome,
            maximize,
            primary_metric,
            charted,
            log_names or set(),
        )
    header = ["trial", "status", *names, f"best {primary_metric}", "intervals", "seconds", "note", "log"]
    rows = []
    for t in outcome.trials:
        shown = t.shown_params(redact)
        best = t.best(maximize)
        rows.append(
            [
                t.name + (" (best)" if t.name == outcome.best_trial else ""),
                t.status,
                *[shown.get(n, "") for n in names],
                "" if best is None else f"{best:.6g}",
                str(len(t.primary)),
                _duration(t),
                t.stop_reason or t.error or "",
                _relative(t.log_path, folder),
            ]
        )
    with (folder / "trials.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    goal = "maximize" if maximize else "minimize"
    lines = [f"# Rehearsal of sweep {sweep}", ""]
    if outcome.best_trial:
        lines.append(
            f"**{outcome.status}**: best trial `{outcome.best_trial}`, {primary_metric} = "
            f"{outcome.best_score:.6g} ({goal})."
        )
    else:
        lines.append(f"**{outcome.status}** (objective: {goal} {primary_metric}).")
    if outcome.error:
        lines += ["", f"> {outcome.error['message']}"]
    if outcome.cancel_reason:
        lines += ["", f"> {outcome.cancel_reason}"]
    lines += ["", "![objective over steps](objective_over_steps.png)", ""]
    if charted:
        lines += ["![objective against each hyperparameter](objective_vs_hyperparameters.png)", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [_cell(c) for c in row]
        cells[-1] = f"[std_log]({row[-1]})"
        lines.append("| " + " | ".join(cells) + " |")
    if any(v == REDACTED for t in outcome.trials for v in t.shown_params(redact).values()):
        lines += ["", f"Values shown as {REDACTED} are Secret parameters."]
    report = folder / "report.md"
    report.write_text("\n".join(lines) + "\n")
    return report
