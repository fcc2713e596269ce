"""The therapist's report: one self-contained HTML page (plots inline, no network needed)."""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sitload.pipeline import SessionResult  # noqa: E402

# Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
POSTURE_COLOURS = {"sitting": "#D55E00", "standing": "#56B4E9", "moving": "#009E73",
                   "lying": "#CC79A7", "unknown": "#BBBBBB", "gap": "#FFFFFF"}
BOUT_COLOURS = ((30 * 60, "#F0E442"), (60 * 60, "#E69F00"), (float("inf"), "#D55E00"))


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _local(t: float, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(t, tz)


def timeline_png(result: SessionResult, tz: ZoneInfo) -> str:
    """Posture strip, bouts coloured by length, and prompts, against local clock time."""
    epochs = result.analysis.epochs
    fig, (ax_posture, ax_bouts) = plt.subplots(2, 1, figsize=(11, 2.6), sharex=True,
                                               gridspec_kw={"height_ratios": [1, 1]})
    hours = lambda t: (_local(t, tz) - _local(t, tz).replace(hour=0, minute=0, second=0,  # noqa: E731
                                                              microsecond=0)).total_seconds() / 3600
    if len(epochs):
        t = epochs["t"].to_numpy()
        x = np.array([hours(v) for v in t[:: max(1, len(t) // 4000)]])
        postures = epochs["posture"].to_numpy()[:: max(1, len(t) // 4000)]
        for name, colour in POSTURE_COLOURS.items():
            mask = postures == name
            if mask.any():
                ax_posture.vlines(x[mask], 0, 1, colors=colour, linewidth=1.2, label=name)
    ax_posture.set_yticks([])
    ax_posture.set_ylabel("posture", rotation=0, ha="right", va="center")
    ax_posture.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    for bout in result.analysis.bouts:
        colour = next(c for limit, c in BOUT_COLOURS if bout.duration_s < limit)
        start = hours(bout.start)
        ax_bouts.barh(0.5, bout.duration_s / 3600, left=start, height=0.8, color=colour,
                      edgecolor="black", linewidth=0.4)
    for prompt in result.prompts:
        ax_bouts.plot(hours(prompt.created), 1.05, marker="v", color="black", markersize=5)
    ax_bouts.set_yticks([])
    ax_bouts.set_ylim(0, 1.2)
    ax_bouts.set_ylabel("bouts", rotation=0, ha="right", va="center")
    ax_bouts.set_xlabel(f"local time ({tz.key}); bouts: yellow < 30 min, orange < 60 min, "
                        "red >= 60 min; triangles: prompts")
    return _png(fig)


def bout_histogram_png(result: SessionResult) -> str:
    durations = np.array([b.duration_s / 60 for b in result.analysis.bouts])
    fig, ax = plt.subplots(figsize=(5, 2.6))
    if durations.size:
        ax.hist(durations, bins=np.arange(0, max(durations.max(), 60) + 10, 5), color="#0072B2")
    ax.axvline(30, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel("sitting bout length (min)")
    ax.set_ylabel("bouts")
    return _png(fig)


def _row(name: str, value: str) -> str:
    return f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"


def write_report(result: SessionResult, out_dir: str | Path, *, title: str,
                 timezone: str = "UTC") -> Path:
    """Write ``out_dir/index.html`` and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tz = ZoneInfo(timezone)
    a, m = result.analysis, result.analysis.metrics
    metrics = "".join([
        _row("sitting time", f"{a.sitting_s / 3600:.2f} h"),
        _row("sitting bouts", str(len(a.bouts))),
        _row("bouts >= 30 min", str(m.bouts_30)),
        _row("bouts >= 60 min", str(m.bouts_60)),
        _row("breaks per sitting hour", f"{a.to_json()['breaks_per_sitting_hour']:.2f}"),
        _row("W50 (usual bout length)", f"{m.w50_s / 60:.1f} min"),
        _row("alpha (bout fragmentation)", f"{m.alpha:.2f}"),
        _row("Gini index of bouts", f"{m.gini:.2f}"),
    ])
    prompts = "".join(
        f"<tr><td>{_local(p.created, tz):%H:%M}</td><td>{html.escape(p.kind)}</td>"
        f"<td>{html.escape(p.message)}</td></tr>" for p in result.prompts)
    quality = "".join([
        _row("frames decoded", str(result.decode.frames_ok)),
        _row("frames rejected", str(result.decode.frames_bad)),
        _row("frames missing", f"{result.decode.missing_frames} in {len(result.gaps)} gaps"),
    ])
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 75em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ text-align: left; padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Times are local ({html.escape(timezone)}).</p>
<h2>Day timeline</h2>
<img alt="posture and sitting bouts over the day" src="data:image/png;base64,{timeline_png(result, tz)}">
<h2>Sitting load</h2>
<table id="metrics">{metrics}</table>
<img alt="histogram of sitting bout lengths" src="data:image/png;base64,{bout_histogram_png(result)}">
<h2>Prompts</h2>
<table id="prompts"><tr><th>time</th><th>kind</th><th>message</th></tr>{prompts}</table>
<h2>Data quality</h2>
<table id="quality">{quality}</table>
</body></html>
"""
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
