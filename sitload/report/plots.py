"""The report's figures (matplotlib, drawn with Agg), each returned as a base64 PNG for inlining.

Colours are the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies) and
no meaning is carried by colour alone: lean left is drawn up and lean right down, followed and
ignored prompts differ in shape (filled / open triangle), bout lengths are also labelled.
"""

from __future__ import annotations

import base64
import io
import itertools
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import matplotlib.colors
import matplotlib.image
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import TightLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from numpy.typing import ArrayLike

from sitload.events import Bout
from sitload.analytics.daily import DayMetrics
from sitload.report.model import PromptRecord
from sitload.vocab import prolonged_minutes

BLACK, ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILLION, PURPLE = (
    "#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
POSTURE_COLOURS = {"sitting": ORANGE, "standing": SKY, "moving": GREEN, "lying": PURPLE,
                   "off_seat": SKY, "unknown": "#BBBBBB", "gap": "#FFFFFF"}
# bouts by length: shorter than the first prolonged-sitting threshold, between each two, at least
# the last (more classes than colours repeat them; the minutes written on the bouts tell them apart)
BOUT_COLOURS = (YELLOW, ORANGE, VERMILLION, PURPLE, SKY, BLUE)
PROLONGED_HATCHES = (None, "//", "\\\\", "xx")    # the bars of each threshold in the trends
LEFT, RIGHT = BLUE, VERMILLION
DPI = 90
LEGEND_COLUMNS = 10    # a day strip's legend: at most this many entries a row
LEGEND = {"loc": "lower center", "fontsize": 7, "frameon": False}
# The battery level is stored when it changes (the simulated sensor drains 5 %/h: a sample every
# 12 min); samples further apart than this are not joined (nights, days off, between recordings).
BATTERY_GAP_S = 3 * 3600.0


def figure(width: float, height: float, **subplots):
    """A figure of ``width`` x ``height`` inches on an Agg canvas, and its axes
    (``Figure.subplots(**subplots)``)."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(**subplots)


def png(fig: Figure) -> str:
    """The figure (made by ``figure``) drawn, as base64 PNG. Each figure is laid out within its
    own size (``tight``), so it is drawn once: a tight bounding box would draw it twice."""
    fig.canvas.draw()
    return encoded(fig.canvas)


def encoded(canvas: FigureCanvasAgg) -> str:
    """What is drawn on ``canvas``, as base64 PNG (the file ``savefig`` writes)."""
    buf = io.BytesIO()
    matplotlib.image.imsave(buf, canvas.buffer_rgba(), format="png", origin="upper",
                            dpi=canvas.figure.dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def tight(fig, rect: tuple[float, float, float, float] = (0, 0, 1, 1)) -> None:
    """``fig.tight_layout(rect=rect)`` without the layout engine it leaves on the figure, for which
    ``savefig`` would draw the figure once more, without output, before drawing it."""
    TightLayoutEngine(rect=rect).execute(fig)


def bout_classes(prolonged_s: Sequence[float]) -> list[tuple[str, str]]:
    """(colour, label) of each class of bout length the thresholds make, shortest first."""
    minutes = [prolonged_minutes(t) for t in prolonged_s]
    labels = ([f"< {minutes[0]} min"] + [f"{a}-{b} min" for a, b in itertools.pairwise(minutes)]
              + [f">= {minutes[-1]} min"])
    return [(BOUT_COLOURS[i % len(BOUT_COLOURS)], label) for i, label in enumerate(labels)]


def local_hour(t, tz: ZoneInfo) -> np.ndarray:
    """Hours since local midnight of each UTC epoch time (wall clock)."""
    local = pd.to_datetime(np.atleast_1d(np.asarray(t, dtype=float)), unit="s",
                           utc=True).tz_convert(tz)
    return np.asarray(local.hour + local.minute / 60.0 + local.second / 3600.0, dtype=float)


class DayStrips:
    """The day strips of a report, one figure redrawn for each day. The strips share their clock
    range (``hours``: local hours since midnight, so that the days line up), size, labels,
    legend and layout; what is around the data (the frame) is drawn once, and each day draws only
    its own data over a copy of it (matplotlib's blitting), a third of drawing a strip whole."""

    def __init__(self, tz: ZoneInfo, prolonged_s: Sequence[float], hours: tuple[float, float]):
        self.tz, self.prolonged_s, self.hours = tz, prolonged_s, hours
        self._frame: _StripFrame | None = None

    def png(self, minutes: pd.DataFrame, bouts: list[Bout], prompts: list[PromptRecord],
            diary: pd.DataFrame | None) -> str:
        """One day's strip as base64 PNG."""
        frame = self._frame or self._draw_frame()
        frame.canvas.restore_region(frame.background)
        data = day_data(frame.axes, minutes, bouts, prompts, diary, self.tz, self.prolonged_s,
                        self.hours)
        for ax in frame.axes:   # as the whole figure is drawn: each axes' artists in z order,
            #                     with the frame's lines (spines, the lean's zero line) over data
            for artist in sorted((a for a in frame.lines + data if a.axes is ax),
                                 key=Artist.get_zorder):
                ax.draw_artist(artist)
        for artist in data:
            artist.remove()
        return encoded(frame.canvas)

    def _draw_frame(self) -> _StripFrame:
        fig, axes = strip_frame(self.hours, self.prolonged_s, self.tz)
        lines = [*axes[0].get_lines(), *(s for ax in axes for s in ax.spines.values())]
        for line in lines:          # left out of the frame: drawn with each day's data
            line.set_animated(True)
        fig.canvas.draw()
        self._frame = _StripFrame(fig.canvas, axes, lines, fig.canvas.copy_from_bbox(fig.bbox))
        return self._frame


@dataclass(frozen=True)
class _StripFrame:
    canvas: FigureCanvasAgg
    axes: tuple[Axes, Axes]       # the strip's, the pain reports'
    lines: list[Artist]           # drawn with the data (see DayStrips.png)
    background: object            # the frame's pixels (BufferRegion)


def strip_hours(times: Sequence[ArrayLike], tz: ZoneInfo) -> tuple[float, float]:
    """The day strips' clock range: the whole local hours around every minute (``times``: UTC
    times of minutes, in any number of arrays); 8 to 17 without any."""
    x = local_hour(np.concatenate([np.asarray(t, dtype=float) for t in times] or [[]]), tz)
    if not x.size:
        return 8.0, 17.0
    return float(np.floor(x.min())), float(np.ceil(x.max() + 1 / 60))


def strip_frame(hours: tuple[float, float], prolonged_s: Sequence[float], tz: ZoneInfo
                ) -> tuple[Figure, tuple[Axes, Axes]]:
    """The day strips' figure without data, laid out: the strip's rows and the pain reports'
    axes over the local hours ``hours``, the legend below them."""
    lo, hi = hours
    fig, (ax, ax_pain) = figure(12, 3.4, nrows=2, sharex=True,
                                gridspec_kw={"height_ratios": [5, 1.6]})
    ax.axhline(2.5, color="#888888", linewidth=0.4)
    ax.set_ylim(0, 5)
    ax.set_yticks([0.5, 1.5, 2.5, 3.5, 4.5],
                  ["prompts", "crossed legs", "lean L up / R down", "bouts", "posture"])
    ax.tick_params(axis="y", length=0, labelsize=8)
    ax_pain.set_ylim(-0.5, 10.5)
    ax_pain.set_yticks([0, 5, 10])
    ax_pain.set_ylabel("pain", fontsize=8, rotation=0, ha="right", va="center")
    ax_pain.set_xlim(lo, hi)
    ax_pain.set_xticks(np.arange(lo, hi + 0.01, 1.0))
    ax_pain.set_xticklabels([f"{int(h) % 24:02d}:00" for h in np.arange(lo, hi + 0.01, 1.0)],
                            fontsize=8)
    ax_pain.set_xlabel(f"local time ({tz.key})", fontsize=8)
    classes = bout_classes(prolonged_s)
    handles = ([Patch(color=POSTURE_COLOURS[p], label=p) for p in ("sitting", "standing", "moving")]
               + [Patch(facecolor=c, edgecolor=BLACK, label=f"bout {label}")
                  for c, label in classes]
               + [Patch(color=LEFT, label="lean left"), Patch(color=RIGHT, label="lean right"),
                  Line2D([], [], marker="v", color=BLACK, linestyle="none",
                         label="prompt, acted on"),
                  Line2D([], [], marker="v", color=BLACK, markerfacecolor="white",
                         linestyle="none", label="prompt, not acted on")])
    legend_in = legend_below(fig, handles)
    fig.set_figheight(fig.get_figheight() + legend_in)
    tight(fig, rect=(0, legend_in / fig.get_figheight(), 1, 1))
    return fig, (ax, ax_pain)


def day_data(axes: tuple[Axes, Axes], minutes: pd.DataFrame, bouts: list[Bout],
             prompts: list[PromptRecord], diary: pd.DataFrame | None, tz: ZoneInfo,
             prolonged_s: Sequence[float], hours: tuple[float, float]) -> list[Artist]:
    """One day's data on the strip's ``axes`` (strip_frame): posture, bouts by length (classes
    of ``prolonged_s``), lean, crossed legs, prompts, pain reports; the artists added."""
    ax, ax_pain = axes
    lo, hi = hours
    x = local_hour(minutes["t"].to_numpy(), tz)
    # one column per minute from lo to hi: an image for the posture, step areas for the rest
    col = np.round((x - lo) * 60).astype(int)
    grid = np.arange(int(round((hi - lo) * 60)) + 1) / 60 + lo
    rgb = np.ones((1, grid.size - 1, 3))
    rgb[0, col] = [matplotlib.colors.to_rgb(POSTURE_COLOURS[p]) for p in minutes["posture"]]
    out: list[Artist] = [ax.imshow(rgb, extent=(lo, hi, 4.05, 4.95), aspect="auto",
                                   interpolation="nearest")]

    def steps(column: str) -> np.ndarray:
        values = np.zeros(grid.size)
        values[col] = minutes[column].to_numpy() / 60
        return values

    starts = local_hour([b.start for b in bouts], tz) if bouts else np.empty(0)
    for i, (colour, _) in enumerate(bout_classes(prolonged_s)):
        spans = [(start, b.duration_s / 3600) for start, b in zip(starts, bouts)
                 if bisect_right(prolonged_s, b.duration_s) == i]
        out.append(ax.broken_barh(spans, (3.1, 0.8), facecolors=colour, edgecolor=BLACK,
                                  linewidth=0.5))
    out += [ax.text(start + b.duration_s / 7200, 3.5, f"{b.duration_s / 60:.0f}'", ha="center",
                    va="center", fontsize=7)
            for start, b in zip(starts, bouts) if b.duration_s >= prolonged_s[0]]
    out.append(ax.fill_between(grid, 2.5, 2.5 + 0.45 * steps("lean_left_s"), step="post",
                               color=LEFT, linewidth=0))
    out.append(ax.fill_between(grid, 2.5, 2.5 - 0.45 * steps("lean_right_s"), step="post",
                               color=RIGHT, linewidth=0))
    if minutes["crossed_s"].isna().all():
        out.append(not_measured(ax, (lo + hi) / 2, 1.5))
    else:
        out.append(ax.fill_between(grid, 1.05, 1.05 + 0.9 * steps("crossed_s"), step="post",
                                   color=BLACK, linewidth=0))
    for acted, face in ((True, BLACK), (False, "white")):
        shown = [p.t for p in prompts if p.acted == acted]
        if shown:
            out += ax.plot(local_hour(shown, tz), np.full(len(shown), 0.5), marker="v",
                           markersize=8, color=BLACK, markerfacecolor=face, linestyle="none")
    if diary is not None and len(diary):
        hx = local_hour(diary["t"].to_numpy(), tz)
        out += ax_pain.plot(hx, diary["pain"], marker="o", color=PURPLE, markeredgecolor=BLACK,
                            linestyle=":")
        out += [ax_pain.annotate(str(int(pain)), (h, pain), textcoords="offset points",
                                 xytext=(5, 2), fontsize=7)
                for h, pain in zip(hx, diary["pain"])]
    else:
        out.append(ax_pain.text(0.5, 0.5, "no pain reports", transform=ax_pain.transAxes,
                                ha="center", va="center", fontsize=8, color="#666666"))
    return out


def legend_below(fig: Figure, handles: list) -> float:
    """A legend at the foot of the figure, in as many columns (up to LEGEND_COLUMNS) as fit its
    width; its height in inches."""
    renderer = fig.canvas.get_renderer()
    for ncol in range(min(len(handles), LEGEND_COLUMNS), 0, -1):
        legend = fig.legend(handles=handles, ncol=ncol, **LEGEND)
        box = legend.get_window_extent(renderer)
        if box.width <= fig.bbox.width or ncol == 1:
            return box.height / fig.dpi
        legend.remove()
    return 0.0


def not_measured(ax, x: float, y: float, **kwargs) -> Text:
    """Say on the axes that the sensor does not measure what they would show."""
    return ax.text(x, y, "not measured by this sensor", ha="center", va="center", fontsize=8,
            color="#666666", **kwargs)


def trends(days: list[DayMetrics]) -> str:
    """Sitting time, prolonged bouts (a bar per threshold, coloured as its class of bouts in the
    day strips), breaks per sitting hour, W50 (a line at the first threshold) and lean."""
    labels = [datetime.fromisoformat(d.date).strftime("%a %d %b") for d in days]
    x = np.arange(len(days))
    fig, axes = figure(14, 2.8, ncols=5)
    axes[0].bar(x, [d.sitting_s / 3600 for d in days], color=ORANGE)
    axes[0].set_title("sitting (h)", fontsize=9)
    prolonged = days[0].prolonged
    n, width = len(prolonged), 0.8 / len(prolonged)
    colours = [colour for colour, _ in bout_classes([p.threshold_s for p in prolonged])[1:]]
    for i, (p, colour) in enumerate(zip(prolonged, colours)):
        axes[1].bar(x + (i - (n - 1) / 2) * width, [d.prolonged[i].count for d in days],
                    width=width, color=colour, hatch=PROLONGED_HATCHES[i % len(PROLONGED_HATCHES)],
                    label=f">= {p.minutes} min")
    axes[1].set_title("prolonged bouts", fontsize=9)
    axes[1].legend(fontsize=7, frameon=False)
    axes[2].plot(x, [np.nan if d.breaks_per_sitting_hour is None else d.breaks_per_sitting_hour
                     for d in days], marker="o", color=BLUE)
    axes[2].set_title("breaks per sitting hour", fontsize=9)
    axes[3].plot(x, [np.nan if d.w50_s is None else d.w50_s / 60 for d in days], marker="s",
                 color=GREEN)
    axes[3].axhline(prolonged[0].minutes, color=BLACK, linestyle="--", linewidth=0.8)
    axes[3].set_title("W50 (min)", fontsize=9)
    asymmetry_axes(axes[4], days)
    for ax in axes:
        ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylim(bottom=0)
    tight(fig)
    return png(fig)


def asymmetry_axes(ax, days: list[DayMetrics]) -> None:
    """Left vs right per day: load dose (mat, kN s) or sitting minutes leaning to each side."""
    x = np.arange(len(days))
    if days and days[0].left_dose_ns is not None:
        left = [d.left_dose_ns / 1000 for d in days]
        right = [d.right_dose_ns / 1000 for d in days]
        ax.set_title("load dose L / R (kN s)", fontsize=9)
    else:
        left = [d.lean_left_s / 60 for d in days]
        right = [d.lean_right_s / 60 for d in days]
        ax.set_title("leaning L / R (min)", fontsize=9)
    ax.bar(x - 0.2, left, width=0.4, color=LEFT, label="left")
    ax.bar(x + 0.2, right, width=0.4, color=RIGHT, hatch="\\\\", label="right")
    ax.set_xlim(-0.5 - max(0, 3 - len(days)) / 2, len(days) - 0.5 + max(0, 3 - len(days)) / 2)
    ax.legend(fontsize=7, frameon=False)


def asymmetry(days: list[DayMetrics], cop: tuple[np.ndarray, np.ndarray, np.ndarray] | None
              ) -> str:
    """Left vs right per day, crossed-leg minutes (or that they are not measured), and for mats
    the centre-of-pressure heat map."""
    n = 3 if cop is not None else 2
    fig, axes = figure(4.6 * n, 3.0, ncols=n)
    labels = [datetime.fromisoformat(d.date).strftime("%a %d") for d in days]
    x = np.arange(len(days))
    asymmetry_axes(axes[0], days)
    if days and not days[0].measures("crossed_s"):
        not_measured(axes[1], 0.5, 0.5, transform=axes[1].transAxes)
        axes[1].set_yticks([])
    else:
        axes[1].bar(x, [d.crossed_s / 60 for d in days], width=0.5, color=BLACK)
    axes[1].set_xlim(axes[0].get_xlim())
    axes[1].set_title("crossed legs (min)", fontsize=9)
    for ax in axes[:2]:
        ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    if cop is not None:
        counts, x_edges, y_edges = cop
        image = axes[2].imshow(counts / 60, origin="upper", aspect="auto", cmap="cividis",
                               extent=(x_edges[0], x_edges[-1], y_edges[-1], y_edges[0]))
        axes[2].axvline(0, color="white", linewidth=0.8)
        axes[2].set_xlim(x_edges[-1], x_edges[0])     # the sitter's left on the left
        axes[2].set_xlabel("centre of pressure: <- left | right -> (cells)", fontsize=8)
        axes[2].set_ylabel("front -> back (cells)", fontsize=8)
        axes[2].set_title("where the load sat (min)", fontsize=9)
        fig.colorbar(image, ax=axes[2], shrink=0.8)
    tight(fig)
    return png(fig)


def pain_over_time(diary: pd.DataFrame, tz: ZoneInfo) -> str:
    """Pain reports (0-10) over the whole period."""
    fig, ax = figure(12, 2.2)
    times = pd.to_datetime(diary["t"], unit="s", utc=True).dt.tz_convert(tz)
    ax.plot(times.dt.tz_localize(None), diary["pain"], marker="o", color=PURPLE,
            markeredgecolor=BLACK, linestyle=":")
    ax.set_ylim(-0.5, 10.5)
    ax.set_ylabel("pain (0-10)", fontsize=8)
    ax.set_xlabel(f"local time ({tz.key})", fontsize=8)
    ax.tick_params(labelsize=7)
    tight(fig)
    return png(fig)


def broken_at_gaps(t: ArrayLike, y: ArrayLike, max_gap_s: float = BATTERY_GAP_S
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``t``, ``y`` (sorted by ``t``) with a NaN value after every sample that is followed by none
    for more than ``max_gap_s``, so a line through them breaks there. The NaN sits at that sample's
    time: a step line ends at the last sample instead of holding its level across the gap."""
    t, y = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    after = np.flatnonzero(np.diff(t) > max_gap_s) + 1
    return np.insert(t, after, t[after - 1]), np.insert(y, after, np.nan)


def battery(levels: list[tuple[str, pd.DataFrame]], tz: ZoneInfo) -> str:
    """Battery level of each device over time, broken where no level came for BATTERY_GAP_S."""
    fig, ax = figure(12, 2.0)
    styles = itertools.cycle(zip((BLUE, VERMILLION, GREEN, PURPLE), "o^sD"))
    for (label, frame), (colour, marker) in zip(levels, styles):
        t, percent = broken_at_gaps(frame["host_time"], frame["percent"])
        times = pd.to_datetime(t, unit="s", utc=True).tz_convert(tz).tz_localize(None)
        ax.step(times, percent, where="post", color=colour, marker=marker, markersize=2.5,
                label=label)
    ax.set_ylim(0, 105)
    ax.set_ylabel("battery (%)", fontsize=8)
    ax.set_xlabel(f"local time ({tz.key})", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False)
    tight(fig)
    return png(fig)
