"""`sitload score --labels EVENTS.csv --labels-format activpal-events`: the PAL software's events
files (plain and extended, comma or semicolon with decimal commas) as reference labels, compared
with sitload's sitting on the same known posture sequence (docs/import-formats.md)."""

import json

import numpy as np
import pandas as pd
import pytest

from sitload.cli import main
from sitload.services.formats import read_reference
from sitload.services.importers import import_csv
from posture_plan import BERLIN, PLAN, T0, excel_days, thigh

CODES = {"walk": "2", "sit": "0", "stand": "1"}
PLAIN = ["Time", "DataCount (samples)", "Interval (s)",
         "ActivityCode (0=sedentary 1=standing 2=stepping)", "CumulativeStepCount",
         "Activity Score (MET.h)"]
EXTENDED = ["Time", "Time(approx)", "Data Count", "Event Type", "Duration (s)", "Waking Day",
            "Cumulative Step Count", "Activity Score (MET.h)"]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """The plan's thigh recording, imported from a generic CSV."""
    tmp = tmp_path_factory.mktemp("activpal")
    t, accel = thigh(25)
    pd.DataFrame({"time": t, "ax": accel[:, 0], "ay": accel[:, 1], "az": accel[:, 2]}).to_csv(
        tmp / "thigh.csv", index=False)
    import_csv(tmp / "thigh.csv", tmp / "thigh.sitload")
    return tmp / "thigh.sitload"


def events(path, plan=PLAN, codes=CODES, *, extended=False, sep=",", comma=False,
           hashes=False, sep_line=False):
    """An events file of ``plan`` as the PAL software writes it: one row per event, its time
    as an Excel day number in Europe/Berlin."""
    starts = T0 + np.cumsum([0] + [d for _, d in plan])[:-1]
    rows = []
    for i, ((kind, seconds), day) in enumerate(zip(plan, excel_days(starts))):
        time = f"{day:.10f}"
        time = f"#{time}#" if hashes else time
        if extended:
            cells = [time, "2026-03-02 09:00:00", str(i * 200), codes[kind], f"{seconds:.1f}",
                     "1", str(i * 10), "0.0125"]
        else:
            cells = [time, str(i * 200), f"{seconds:.1f}", codes[kind], str(i * 10), "0.0125"]
        rows.append([c.replace(".", ",") if comma else c for c in cells])
    names = EXTENDED if extended else PLAIN
    lines = (["sep=;"] if sep_line else []) + [sep.join(f'"{n}"' for n in names)]
    lines += [sep.join(r) for r in rows]
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


def score(capsys, recording, labels, *args) -> dict:
    assert main(["score", str(recording), "--labels", str(labels), "--json", *BERLIN,
                 *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("variant", [
    {}, {"extended": True}, {"sep": ";", "comma": True, "sep_line": True, "hashes": True},
])
def test_activpal_events_agree_with_sitloads_sitting(recording, tmp_path, capsys, variant):
    labels = events(tmp_path / "subject01Events.csv", **variant)
    scores = score(capsys, recording, labels, "--labels-format", "activpal-events")
    assert scores["sitting_s_labelled"] == 480
    assert scores["seconds"] == 630
    assert scores["sitting_kappa"] > 0.95
    assert score(capsys, recording, labels) == scores    # told by its header


def test_lying_is_not_sitting_non_wear_unscored_seated_transport_sitting(tmp_path):
    plan = (("walk", 30), ("lie", 300), ("off", 30), ("car", 60), ("sit", 180), ("walk", 30))
    codes = {"walk": "2", "lie": "3.1", "off": "4", "car": "5", "sit": "0"}
    labels = read_reference(events(tmp_path / "e.csv", plan, codes), "activpal-events",
                            "Europe/Berlin")
    seconds = labels.seconds.set_index("sec")["sitting"]
    assert labels.skipped_unlabelled == 30                  # non-wear
    assert len(seconds) == 600 and seconds.sum() == 240     # transport 60 + sedentary 180
    assert not seconds.loc[int(T0) + 30:int(T0) + 329].any()          # lying
    assert seconds.loc[int(T0) + 360:int(T0) + 599].all()


def test_bad_rows_and_headers_name_file_and_line(tmp_path, capsys, recording):
    src = events(tmp_path / "bad.csv", codes={**CODES, "stand": "7"})
    code = main(["score", str(recording), "--labels", str(src), "--labels-format",
                 "activpal-events"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "bad.csv line 5: bad activity code" in err and "3.1" in err
    lines = events(tmp_path / "time.csv").read_text().splitlines()
    lines[2] = "soon" + lines[2][lines[2].index(","):]
    (tmp_path / "time.csv").write_text("\n".join(lines) + "\n")
    assert main(["score", str(recording), "--labels", str(tmp_path / "time.csv"),
                 "--labels-format", "activpal-events"]) == 1
    assert "time.csv line 3: bad time (need an Excel day number)" in capsys.readouterr().err
    plain = tmp_path / "labels.csv"
    plain.write_text("time,label\n1,sitting\n")
    assert main(["score", str(recording), "--labels", str(plain), "--labels-format",
                 "activpal-events"]) == 1
    err = capsys.readouterr().err
    assert "labels.csv line 1: header lacks the event's length" in err
