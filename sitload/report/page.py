"""The report page: one self-contained HTML file (styles and PNGs inline, nothing fetched).

Every number a test or a script may want to read sits in an element with a stable id
``<sensor>-<date|all>-<metric>`` and ``data-sensor``, ``data-date``, ``data-metric`` and
``data-value`` (the unrounded value; empty when undefined) attributes (docs/report.md).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from zoneinfo import ZoneInfo

import pandas as pd

from sitload.analytics.coverage import limit
from sitload.analytics.daily import DayMetrics
from sitload.analytics.flares import ExposureEffect, FlareAnalysis
from sitload import __version__
from sitload.report.figures import Figures
from sitload.report.model import PromptRecord, ReportModel, source_date_epoch
from sitload.report import plots
from sitload.vocab import prolonged_minutes

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto;
       max-width: 80em; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #0072B2; padding-bottom: 0.1em;
margin-top: 2em; } h3 { margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.92em; }
th, td { text-align: left; padding: 0.15em 0.7em; border-bottom: 1px solid #ddd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
img { max-width: 100%; display: block; }
nav a { margin-right: 1em; }
.note { background: #FFF8E0; border-left: 4px solid #E69F00; padding: 0.4em 0.8em; }
.lead { font-size: 1.05em; }
.scroll { overflow-x: auto; }
th.num { font-weight: 600; font-size: 0.9em; }
"""

# (metric, label, formatter) of the daily table: HEAD_ROWS, a row per prolonged-sitting threshold
# (bouts_30: "bouts ≥ 30 min", ...), TAIL_ROWS; mats add the dose rows.
HEAD_ROWS = (("sitting_s", "sitting", "duration"), ("wear_s", "worn", "duration"),
             ("bouts", "bouts", "int"))
TAIL_ROWS = (("breaks", "breaks", "int"),
             ("breaks_per_sitting_hour", "breaks per sitting hour", "rate"),
             ("w50_s", "W50", "minutes"), ("lean_left_s", "leaning left", "minutes"),
             ("lean_right_s", "leaning right", "minutes"),
             ("crossed_s", "legs crossed", "minutes"),
             ("gap_s", "data missing while worn", "minutes"))
MAT_ROWS = (("left_dose_ns", "load dose left", "dose"),
            ("right_dose_ns", "load dose right", "dose"),
            ("si_mean", "mean symmetry index (+ = left)", "pct"))


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: float | int | None, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "duration":
        minutes = int(round(value / 60))
        return f"{minutes // 60} h {minutes % 60:02d} min"
    if kind == "minutes":
        return f"{value / 60:.1f} min"
    if kind == "rate":
        return f"{value:.2f}"
    if kind == "dose":
        return f"{value / 1000:.0f} kN s"
    if kind == "pct":
        return f"{value:+.1f} %"
    return str(int(value))


def metric_cell(day: DayMetrics, metric: str, kind: str) -> str:
    value = day.to_json()[metric]
    raw = "" if value is None else repr(float(value))
    shown = fmt(value, kind) if day.measures(metric) else "not measured"
    return (f'<td class="num" id="{esc(day.sensor)}-{esc(day.date)}-{metric}" '
            f'data-sensor="{esc(day.sensor)}" data-date="{esc(day.date)}" '
            f'data-metric="{metric}" data-value="{raw}">{esc(shown)}</td>')


def metrics_table(days: list[DayMetrics], table_id: str) -> str:
    """One row per sensor, one column per metric."""
    prolonged = tuple((p.name, f"bouts ≥ {p.minutes} min", "int") for p in days[0].prolonged)
    mat = MAT_ROWS if any(d.left_dose_ns is not None for d in days) else ()
    rows = HEAD_ROWS + prolonged + TAIL_ROWS + mat
    head = "".join(f'<th class="num">{esc(label)}</th>' for _, label, _ in rows)
    body = "".join(f"<tr><th>{esc(d.sensor)}</th>"
                   + "".join(metric_cell(d, metric, kind) for metric, _, kind in rows) + "</tr>"
                   for d in days)
    return (f'<div class="scroll"><table id="{esc(table_id)}"><tr><th>sensor</th>{head}</tr>'
            f"{body}</table></div>")


def img(data: str, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def local(t: float, tz: ZoneInfo, form: str = "%a %d %b %H:%M") -> str:
    return datetime.fromtimestamp(t, tz).strftime(form)


def render_page(model: ReportModel, exports: Sequence[str], figures: Figures) -> str:
    """The whole page, with a mark where each of its figures goes: they are placed in
    ``figures``, whose ``drawing`` draws them into it."""
    tz = ZoneInfo(model.timezone)
    parts = [_header(model), _summary(model), _days(model, tz, figures),
             _trends(model, figures), _asymmetry(model, figures), _flares(model, tz, figures),
             _prompts(model, tz), _quality(model, tz, figures), _exports(exports)]
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(model.title)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(parts) + _footer(model, tz) + "</body></html>\n")


def _footer(model: ReportModel, tz: ZoneInfo) -> str:
    """What the page was made from; a build time only from SOURCE_DATE_EPOCH, so that the same
    recordings and options give the same bytes."""
    made = source_date_epoch()
    on = "" if made is None else f" on {local(made, tz, '%Y-%m-%d %H:%M %Z')}"
    return (f"<footer><p>Made by sitload {esc(__version__)}{esc(on)} from {_names(model)}; data "
            f"{esc(_period(model))}. Metric definitions: sitload docs/metrics.md and "
            "docs/report.md.</p></footer>")


def _period(model: ReportModel) -> str:
    dates = model.dates
    return f"{dates[0]} to {dates[-1]} ({len(dates)} days with data)" if dates else "no data"


def _names(model: ReportModel) -> str:
    return ", ".join(esc(name) for name in model.recordings)


def _header(model: ReportModel) -> str:
    sensors = ", ".join(esc(s.sensor) for s in model.sections)
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in model.notes)
    nav = "".join(f'<a href="#{a}">{esc(label)}</a>' for a, label in (
        ("summary", "summary"), ("days", "days"), ("trends", "trends"),
        ("asymmetry", "asymmetry"), ("flares", "pain & flares"), ("prompts", "prompts"),
        ("quality", "data quality"), ("exports", "exports")))
    return (f"<header><h1>{esc(model.title)}</h1>"
            f'<p>Period: <span id="period">{esc(_period(model))}</span>. Times are the patient\'s '
            f'local time (<span id="timezone">{esc(model.timezone)}</span>). Recordings: '
            f"{_names(model)}. Sensors: {sensors}.</p>{notes}<nav>{nav}</nav></header>")


def _summary(model: ReportModel) -> str:
    out = ['<section id="summary"><h2>Summary</h2>']
    for s in model.sections:
        t, n = s.total, max(1, len(s.days))
        first, *longer = t.prolonged
        parts = [f"{p.count} of them {_span(p.minutes)} or more" for p in longer]
        of_them = f" ({', '.join(parts)})" if parts else ""
        out.append(
            f'<p class="lead">{esc(s.sensor)}: over {len(s.days)} day(s) the patient sat '
            f"{fmt(t.sitting_s / n, 'duration')} a day on average, of "
            f"{fmt(t.wear_s / n, 'duration')} worn. {first.count} sitting bouts lasted "
            f"{_span(first.minutes)} or more{of_them}; sitting was broken "
            f"{fmt(t.breaks_per_sitting_hour, 'rate')} times per sitting hour, and half of the "
            f"sitting time came in bouts longer than {fmt(t.w50_s, 'minutes')}.</p>")
        out.append(metrics_table([t], f"summary-{s.sensor}"))
    out.append("</section>")
    return "".join(out)


def _days(model: ReportModel, tz: ZoneInfo, figures: Figures) -> str:
    out = ['<section id="days"><h2>Day by day</h2>',
           "<p>Each strip shows the posture minute by minute, the sitting bouts coloured by length "
           f"(minutes written on bouts of {_span(prolonged_minutes(model.prolonged_s[0]))} or "
           "more), lean to the left (up) or right (down), crossed legs, the prompts sent (filled "
           "triangle: acted on in time; open: not) and the pain reports.</p>"]
    dates = model.dates
    hours = plots.strip_hours([s.minutes["t"] for s in model.sections], tz)
    strips = plots.DayStrips(tz, model.prolonged_s, hours)
    for date in dates:
        label = datetime.fromisoformat(date).strftime("%A %d %B %Y")
        out.append(f'<article id="day-{esc(date)}"><h3>{esc(label)}</h3>')
        days = []
        for s in model.sections:
            day = next((d for d in s.days if d.date == date), None)
            if day is None:
                continue
            days.append(day)
            minutes = s.minutes[s.minutes["date"] == date]
            bouts = [b for _, b in s.bouts if _date(b.start, tz) == date]
            prompts = [p for p in model.prompts if _date(p.t, tz) == date]
            diary = None
            if model.diary is not None and len(model.diary):
                diary = model.diary[model.diary["date"] == date]
            out.append(img(figures.place(partial(strips.png, minutes, bouts, prompts, diary),
                                         shared=True),
                           f"{s.sensor} timeline of {date}"))
        out.append(metrics_table(days, f"metrics-{date}") + "</article>")
    out.append("</section>")
    return "".join(out)


def _trends(model: ReportModel, figures: Figures) -> str:
    out = ['<section id="trends"><h2>Trends across days</h2>']
    for s in model.sections:
        if len(s.days) < 2:
            out.append(f"<p>{esc(s.sensor)}: one day only; no trend to show.</p>")
            continue
        out.append(img(figures.place(partial(plots.trends, s.days)),
                       f"{s.sensor} trends across days"))
    out.append("<p>W50: half of the sitting time is accumulated in bouts longer than this; the "
               f"dashed line marks {prolonged_minutes(model.prolonged_s[0])} min. Breaks: bouts "
               "ended by getting up (for at least a minute); leaning and crossed legs count "
               "sitting time only.</p></section>")
    return "".join(out)


def _asymmetry(model: ReportModel, figures: Figures) -> str:
    out = ['<section id="asymmetry"><h2>Left / right asymmetry</h2>']
    for s in model.sections:
        t = s.total
        if t.left_dose_ns is not None:
            total = t.left_dose_ns + t.right_dose_ns
            share = 100 * t.left_dose_ns / total if total else 50.0
            text = (f"Over the period the left buttock carried {share:.0f} % of the sitting load "
                    f"({fmt(t.left_dose_ns, 'dose')} left, {fmt(t.right_dose_ns, 'dose')} right).")
        else:
            leaning = t.lean_left_s + t.lean_right_s
            share = 100 * t.lean_left_s / leaning if leaning else 50.0
            crossed = f"; legs were crossed for {fmt(t.crossed_s, 'minutes')} of sitting" \
                if t.measures("crossed_s") else ""
            text = (f"The patient sat leaning to one side for {fmt(leaning, 'minutes')}: "
                    f"{share:.0f} % of it to the left ({fmt(t.lean_left_s, 'minutes')}), "
                    f"{100 - share:.0f} % to the right ({fmt(t.lean_right_s, 'minutes')})"
                    f"{crossed}.")
        note = limit(s.sensor)
        text += f" {note}" if note else ""
        out.append(f'<p class="lead">{esc(s.sensor)}: {esc(text)}</p>')
        out.append(img(figures.place(partial(plots.asymmetry, s.days, s.cop)),
                       f"{s.sensor} asymmetry"))
        if s.cop is not None:
            out.append("<p>The heat map shows where the centre of pressure lay while sitting, "
                       "seen from above with the front edge of the seat at the top.</p>")
    out.append("</section>")
    return "".join(out)


def _flares(model: ReportModel, tz: ZoneInfo, figures: Figures) -> str:
    out = ['<section id="flares"><h2>Pain reports and flares</h2>']
    diary = model.diary
    if diary is None or not len(diary):
        out.append('<p id="diary-none">No pain reports were recorded.</p></section>')
        return "".join(out)
    for s in model.sections:
        if s.flares is not None:
            out.append(_flare_analysis(s.sensor, s.flares))
    out.append(img(figures.place(partial(plots.pain_over_time, diary, tz)),
                   "pain reports over time"))
    rows = "".join(
        f"<tr><td>{esc(local(r.t, tz))}</td>"
        f'<td class="num" data-metric="pain" data-value="{int(r.pain)}">{int(r.pain)}</td>'
        f"<td>{esc(_text(r.location))}</td><td>{esc(_text(r.side))}</td>"
        f"<td>{esc(_yes_no(r.tingling))}</td><td>{esc(_text(r.note))}</td></tr>"
        for r in diary.itertuples(index=False))
    out.append(f'<table id="diary"><tr><th>time</th><th class="num">pain (0-10)</th>'
               f"<th>where</th><th>side</th><th>tingling</th><th>note</th></tr>{rows}</table>"
               "</section>")
    return "".join(out)


def _flare_analysis(sensor: str, f: FlareAnalysis) -> str:
    """The flare analysis in plain language, with its numbers (docs/flares.md)."""
    sid = esc(sensor)
    out = [f'<p class="lead" id="flares-{sid}-summary" data-status="{esc(f.status)}" '
           f'data-reports="{f.n_reports}" data-used="{f.n_used}" data-flares="{f.n_flares}">'
           f"{sid}: {esc(f.summary)}</p>"]
    if f.status == "not_enough_data":
        out.append(f"<p>{f.n_reports} pain reports, {f.n_used} usable, {f.n_flares} flares: "
                   "the flare analysis needs more reports (docs/flares.md).</p>")
        return "".join(out)
    if f.tolerance_min is not None:
        ci = f.tolerance_ci_min
        interval = f"95 % CI {ci[0]:.0f}-{ci[1]:.0f} min" if ci else "too few for a 95 % CI"
        out.append(f'<p>Personal sitting tolerance: <strong id="flares-{sid}-tolerance" '
                   f'data-value="{f.tolerance_min!r}">{f.tolerance_min:.0f} min</strong> '
                   f"of unbroken sitting before a flare report (median; {interval}).</p>")
    rows = "".join(_exposure_row(e) for e in f.exposures)
    out.append(f'<table id="flares-{sid}-exposures"><tr><th>before each report</th>'
               '<th class="num">before flares</th><th class="num">before others</th>'
               '<th class="num">difference [95 % CI]</th><th class="num">adjusted p</th><th></th>'
               f"</tr>{rows}</table>")
    return "".join(out)


def _exposure_row(e: ExposureEffect) -> str:
    if not e.measured:
        return (f'<tr><td>{esc(e.label)}</td><td class="num">–</td><td class="num">–</td>'
                '<td class="num">not measured</td><td class="num">–</td><td></td></tr>')
    return (f"<tr><td>{esc(e.label)}</td><td class=\"num\">{e.flare_mean:.1f}</td>"
            f"<td class=\"num\">{e.other_mean:.1f}</td>"
            f"<td class=\"num\">{e.diff:+.1f} [{e.diff_ci[0]:+.1f}, {e.diff_ci[1]:+.1f}]</td>"
            f"<td class=\"num\">{'–' if e.p is None else f'{e.p:.3f}'}</td>"
            f"<td>{'linked' if e.linked else ''}</td></tr>")


def _prompts(model: ReportModel, tz: ZoneInfo) -> str:
    window = model.adherence_window_s / 60
    out = ['<section id="prompts"><h2>Prompt adherence</h2>']
    if not model.prompts:
        out.append('<p id="prompts-none">No prompts were recorded with these recordings (prompts '
                   "are stored when sitload runs live with alerts).</p></section>")
        return "".join(out)
    out.append(f"<p>Acted on: the patient did what the prompt asked within {window:g} min (got up, "
               "shifted weight, uncrossed the legs, or answered 'done').</p>")
    kinds = sorted({p.kind for p in model.prompts})
    rows = [_adherence_row(k, [p for p in model.prompts if p.kind == k]) for k in kinds]
    rows.append(_adherence_row("all", model.prompts))
    out.append('<table id="adherence"><tr><th>prompt</th><th class="num">sent</th>'
               '<th class="num">acknowledged</th>'
               f'<th class="num">acted on within {window:g} min</th></tr>{"".join(rows)}</table>')
    listing = "".join(
        f"<tr><td>{esc(local(p.t, tz))}</td><td>{esc(p.kind)}</td><td>{esc(p.message)}</td>"
        f"<td>{esc(_answers(p, tz))}</td>"
        f"<td>{'yes' if p.acted else 'no'}</td></tr>" for p in model.prompts)
    out.append('<details><summary>every prompt</summary><table id="prompt-list"><tr><th>sent'
               "</th><th>kind</th><th>message</th><th>answers</th><th>acted on</th></tr>"
               f"{listing}</table></details></section>")
    return "".join(out)


def _adherence_row(kind: str, prompts: list[PromptRecord]) -> str:
    cells = (("sent", len(prompts)), ("acknowledged", sum(p.acknowledged for p in prompts)),
             ("acted", sum(p.acted for p in prompts)))
    tds = "".join(f'<td class="num" id="prompts-{esc(kind)}-{name}" data-metric="prompts-{name}" '
                  f'data-value="{n}">{n}</td>' for name, n in cells)
    return f"<tr><th>{esc(kind)}</th>{tds}</tr>"


def battery_levels(model: ReportModel) -> list[tuple[str, pd.DataFrame]]:
    """(label, levels) per device over all recordings, in order of first appearance."""
    per_device: dict[str, tuple[str, list[pd.DataFrame]]] = {}
    for s in model.sections:
        for d in s.devices:
            if len(d.battery):
                label = f"{d.name or d.address} ({d.sensor})"
                per_device.setdefault(d.address, (label, []))[1].append(d.battery)
    return [(label, pd.concat(frames).sort_values("host_time", kind="stable"))
            for label, frames in per_device.values()]


def _quality(model: ReportModel, tz: ZoneInfo, figures: Figures) -> str:
    out = ['<section id="quality"><h2>Data quality</h2>',
           "<p>Wear time and data missing while worn are in each day's table.</p>",
           "<table id=\"quality-table\"><tr><th>recording</th><th>sensor</th>"
           '<th class="num">frames decoded</th><th class="num">rejected</th>'
           '<th class="num">duplicates</th><th class="num">lost in transit</th>'
           '<th class="num">gaps (lost / device off)</th><th class="num">disconnects</th>'
           '<th class="num">battery start / end / lowest</th></tr>']
    for s in model.sections:
        for d in s.devices:
            lost = [g for g in d.gaps if g.reason != "stopped"]
            stopped = len(d.gaps) - len(lost)
            lost_s = sum(g.end - g.start for g in lost)
            disconnects = int((d.link_events["event"] == "disconnected").sum())
            b = d.battery["percent"]
            batt = f"{b.iloc[0]} / {b.iloc[-1]} / {b.min()} %" if len(b) else "–"
            out.append(
                f"<tr><td>{esc(d.recording)}</td><td>{esc(d.sensor)}</td>"
                f'<td class="num">{d.decode.frames_ok}</td><td class="num">{d.decode.frames_bad}'
                f'</td><td class="num">{d.decode.duplicates}</td>'
                f'<td class="num">{d.decode.missing_frames} frames</td>'
                f'<td class="num">{len(lost)} ({fmt(lost_s, "minutes")}) / {stopped}</td>'
                f'<td class="num">{disconnects}</td><td class="num">{esc(batt)}</td></tr>')
    out.append("</table>")
    levels = battery_levels(model)
    if levels:
        out.append(img(figures.place(partial(plots.battery, levels, tz)),
                       "battery level over time"))
    out.append("</section>")
    return "".join(out)


def _exports(exports: Sequence[str]) -> str:
    items = "".join(f'<li><a href="{esc(name)}">{esc(name)}</a></li>' for name in exports)
    return (f'<section id="exports"><h2>Exports</h2><p>Beside this page: bouts, per-minute '
            f"series and daily metrics as CSV and Parquet, and the daily metrics as a FHIR R4 "
            f"Bundle.</p><ul>{items}</ul></section>")


def _span(minutes: int) -> str:
    """A prolonged-sitting threshold as the text says it: '30 min', 'an hour', '2 hours'."""
    if minutes % 60:
        return f"{minutes} min"
    return "an hour" if minutes == 60 else f"{minutes // 60} hours"


def _answers(p: PromptRecord, tz: ZoneInfo) -> str:
    return ", ".join(f"{action} {local(t, tz, '%H:%M')}" for t, action in p.acks) or "–"


def _date(t: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(t, tz).date().isoformat()


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _yes_no(value) -> str:
    text = _text(value)
    return "" if text == "" else ("yes" if int(float(text)) else "no")
