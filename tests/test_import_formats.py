"""`sitload import --format`: files written to each maker's definition (docs/import-formats.md),
built from one known thigh posture sequence, imported and analysed into the expected bouts;
quirks (header variants, decimal commas, time zones, zip exports) and the files refused."""

import zipfile

import numpy as np
import pytest

from sitload.cli import main
from sitload.sensor_ingest.replay import open_recording, replay_batches
from sitload.services.analysis import analyze_recording
from sitload.services.formats import detect

from posture_plan import BERLIN, BOUTS, T0, berlin, excel_days, thigh

G = 9.80665


def java_sci(v: float, comma: bool = False) -> str:
    """A number as phyphox writes it (Java's DecimalFormat 0.000000000E0)."""
    mantissa, exponent = f"{v:.9E}".split("E")
    text = f"{mantissa}E{int(exponent)}"
    return text.replace(".", ",") if comma else text


def write_zip(path, members: dict[str, str]):
    with zipfile.ZipFile(path, "w") as z:
        for name, text in members.items():
            z.writestr(name, text)
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out.strip(), out.err.strip()


def bouts_of(capsys, src, tmp_path, *args) -> list[tuple[float, float]]:
    """Import ``src`` as a thigh sensor with ``args``, analyse it, and return its sitting bouts."""
    rec = tmp_path / f"{src.name}-{len(list(tmp_path.glob('*.sitload')))}.sitload"
    code, out, err = run(capsys, "import", src, "--sensor", "thigh-imu", "-o", rec, *args)
    assert code == 0, err
    assert out.startswith(f"wrote {rec}")
    return [(round(b.start, 1), round(b.duration_s, 1))
            for b in analyze_recording(str(rec)).result.bouts]


def refused(capsys, src, *args) -> str:
    """The one-line error of an import that must fail (exit 1)."""
    code, out, err = run(capsys, "import", src, "-o", src.parent / "out.sitload", *args)
    assert code == 1 and not out
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


# --- ActiGraph raw CSV (ActiLife) ---------------------------------------------------------------

def actilife(path, *, date_format="M/d/yyyy", start_date="3/2/2026", sep=",", comma=False,
             timestamps=False, names=True, epoch="00:00:00", rate=30, line_end="\r\n"):
    t, accel = thigh(rate)
    head = [f"------------ Data File Created By ActiGraph GT3X+ ActiLife v6.13.3 Firmware v3.2.1 "
            f"date format {date_format} at {rate} Hz  Filter Normal -----------",
            "Serial Number: MOS2E12345678", "Start Time 09:00:00", f"Start Date {start_date}",
            f"Epoch Period (hh:mm:ss) {epoch}", "Download Time 12:00:00",
            f"Download Date {start_date}", "Current Memory Address: 0",
            "Current Battery Voltage: 4.22     Mode = 12",
            "--------------------------------------------------"]
    columns = ["Accelerometer X", "Accelerometer Y", "Accelerometer Z"]
    cells = [[f"{v:.3f}".replace(".", "," if comma else ".") for v in row] for row in accel]
    if timestamps:
        py = date_format.replace("yyyy", "%Y").replace("M", "%m").replace("d", "%d")
        columns.insert(0, "Timestamp")
        cells = [[s] + row for s, row in zip(berlin(t, f"{py} %H:%M:%S.%f"), cells)]
    lines = head + ([sep.join(columns)] if names else []) + [sep.join(r) for r in cells]
    path.write_text(line_end.join(lines) + line_end, newline="")
    return path


@pytest.mark.parametrize("variant", [
    {}, {"timestamps": True}, {"names": False},
    {"date_format": "d/M/yyyy", "start_date": "2/3/2026", "sep": ";", "comma": True,
     "timestamps": True},
    {"date_format": "dd.MM.yyyy", "start_date": "02.03.2026", "sep": ";", "comma": True,
     "names": False, "line_end": "\n"},
])
def test_actilife_raw_csv_gives_the_sits_of_the_plan(tmp_path, capsys, variant):
    src = actilife(tmp_path / "subject01RAW.csv", **variant)
    assert detect(src) == "actigraph-csv"
    assert bouts_of(capsys, src, tmp_path, *BERLIN) == BOUTS
    assert bouts_of(capsys, src, tmp_path, "--format", "actigraph-csv", *BERLIN) == BOUTS


def test_units_options_are_refused_for_formats_that_define_their_units(tmp_path, capsys):
    src = actilife(tmp_path / "subject01RAW.csv")
    code, out, err = run(capsys, "import", src, "--units", "ms2", "-o", tmp_path / "u.sitload")
    assert code == 2 and "--units apply to a generic csv; actigraph-csv files carry their own" in err
    assert not (tmp_path / "u.sitload").exists()


def test_actilife_imu_file_brings_its_gyroscope(tmp_path, capsys):
    src = actilife(tmp_path / "imu.csv", timestamps=True)
    lines = src.read_text().splitlines()
    lines[10] += ",Temperature,Gyroscope X,Gyroscope Y,Gyroscope Z"
    lines[11:] = [row + ",25.5,1.25,-0.5,0.0" for row in lines[11:]]
    src.write_text("\n".join(lines) + "\n")
    assert bouts_of(capsys, src, tmp_path, *BERLIN) == BOUTS
    with open_recording(tmp_path / "imu.csv-0.sitload") as rec:
        first = next(iter(replay_batches(rec)))
    assert np.allclose(first.gyro[0], [1.25, -0.5, 0.0], atol=0.1)


def test_actilife_start_is_the_device_wall_clock_in_tz(tmp_path, capsys):
    src = actilife(tmp_path / "raw.csv")
    assert bouts_of(capsys, src, tmp_path) == [(s + 3600, d) for s, d in BOUTS]  # read as UTC


def test_actilife_epoch_files_and_broken_headers_are_refused_naming_the_line(tmp_path, capsys):
    err = refused(capsys, actilife(tmp_path / "epochs.csv", epoch="00:01:00"))
    assert "epochs.csv line 5: epoch period 00:01:00" in err and "RAW" in err
    src = actilife(tmp_path / "bad.csv", timestamps=True)
    lines = src.read_text().splitlines()
    lines[20] = "3/2/2026 09:00:00.300,0.1x,0.0,0.9"
    src.write_text("\n".join(lines) + "\n")
    assert "bad.csv line 21: bad value in ax" in refused(capsys, src, "--format", "actigraph-csv")
    lines[20] = "13/44/2026 09:00:00.300,0.1,0.0,0.9"
    src.write_text("\n".join(lines) + "\n")
    err = refused(capsys, src, "--format", "actigraph-csv")
    assert "bad.csv line 21: bad time '13/44/2026 09:00:00.300'" in err and "M/d/yyyy" in err
    plain = tmp_path / "plain.csv"
    plain.write_text("time,ax,ay,az\n1,0,0,1\n")
    assert "plain.csv line 1: not an ActiLife CSV" in refused(capsys, plain, "--format",
                                                              "actigraph-csv")


# --- Axivity (OMGUI / cwa-convert) --------------------------------------------------------------

def axivity(path, times: list[str], gyro=False, rate=50):
    t, accel = thigh(rate)
    extra = [",0.000000,0.000000,0.000000"] * len(t) if gyro else [""] * len(t)
    rows = [f"{s},{x:f},{y:f},{z:f}{e}" for s, (x, y, z), e in zip(times(t), accel, extra)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("times, args", [
    (lambda t: berlin(t, "%Y-%m-%d %H:%M:%S.%f"), ()),
    (lambda t: [f"{d:.12f}" for d in excel_days(t)], ("--format", "axivity-csv")),
    (lambda t: [f"{d + 693960:.12f}" for d in excel_days(t)], ("--format", "axivity-csv")),
    (lambda t: [f"{(d - 25569) * 86400:.4f}" for d in excel_days(t)], ("--format", "axivity-csv")),
    (lambda t: [f"{s - T0:.4f}" for s in t],
     ("--format", "axivity-csv", "--start", "2026-03-02T09:00:00")),
])
def test_axivity_export_times_are_the_device_clock_in_tz(tmp_path, capsys, times, args):
    """Formatted, Excel days, Matlab days, Unix seconds of the device's local clock, and seconds
    from the start: all give the plan's sits when the clock's zone is given."""
    src = axivity(tmp_path / "ax3.csv", times)
    assert bouts_of(capsys, src, tmp_path, *BERLIN, *args) == BOUTS


def test_axivity_ax6_with_gyroscope_columns_and_detection(tmp_path, capsys):
    src = axivity(tmp_path / "ax6.csv", lambda t: berlin(t, "%Y-%m-%d %H:%M:%S.%f"), gyro=True)
    assert detect(src) == "axivity-csv"
    assert bouts_of(capsys, src, tmp_path, *BERLIN) == BOUTS


def test_axivity_relative_seconds_need_start_and_raw_units_are_refused(tmp_path, capsys):
    src = axivity(tmp_path / "rel.csv", lambda t: [f"{s - T0:.4f}" for s in t])
    code, out, err = run(capsys, "import", src, "--format", "axivity-csv", "-o", tmp_path / "r")
    assert code == 2 and "seconds from the start" in err and "--start" in err
    code, out, err = run(capsys, "import", src, "--format", "axivity-csv", "--start", "noon",
                         "-o", tmp_path / "r")
    assert code == 2 and "--start 'noon' is not an ISO 8601 time" in err
    adc = tmp_path / "adc.csv"
    adc.write_text("".join(f"2026-03-02 09:00:{i / 50:06.3f},2,3,5\n" for i in range(500)))
    err = refused(capsys, adc, "--format", "axivity-csv")
    assert "adc.csv: median acceleration" in err and "export in g" in err


# --- Sensor Logger ------------------------------------------------------------------------------

def sensor_logger_csv(t, values_ms2) -> str:
    """A Sensor Logger CSV: time (ns), seconds_elapsed, z, y, x (m/s^2)."""
    rows = ["time,seconds_elapsed,z,y,x"]
    rows += [f"{int(round(s * 1e9))},{s - T0:.6f},{float(z)!r},{float(y)!r},{float(x)!r}"
             for s, (x, y, z) in zip(t, values_ms2)]
    return "\n".join(rows) + "\n"


def sensor_logger_parts(rate=50):
    t, accel = thigh(rate)
    gravity = accel.copy()
    gravity[:, 0] = np.where(np.abs(accel[:, 2]) > 0.5, 0.0, 1.0)     # the still orientation
    gravity[:, 1], gravity[:, 2] = 0.0, np.where(np.abs(accel[:, 2]) > 0.5, 1.0, 0.0)
    return t, accel * G, gravity * G, (accel - gravity) * G


def test_sensor_logger_android_zip_uses_total_acceleration(tmp_path, capsys):
    t, total, gravity, user = sensor_logger_parts()
    src = write_zip(tmp_path / "2026-03-02_09-00-00.zip", {
        "TotalAcceleration.csv": sensor_logger_csv(t, total),
        "Accelerometer.csv": sensor_logger_csv(t, user),
        "Gravity.csv": sensor_logger_csv(t, gravity),
        "Metadata.csv": "version,device name,recording time,platform\n3,Pixel,x,android\n"})
    assert detect(src) == "sensor-logger"
    assert bouts_of(capsys, src, tmp_path) == BOUTS


def test_sensor_logger_at_a_phones_fastest_rate_is_averaged_to_100_hz(tmp_path, capsys):
    t, total, gravity, user = sensor_logger_parts(rate=400)
    src = tmp_path / "TotalAcceleration.csv"
    src.write_text(sensor_logger_csv(t, total))
    assert bouts_of(capsys, src, tmp_path) == BOUTS
    assert "at 100 Hz" in run(capsys, "import", src, "-o", tmp_path / "fast.sitload")[1]


def test_sensor_logger_ios_zip_adds_accelerometer_and_gravity(tmp_path, capsys):
    t, total, gravity, user = sensor_logger_parts()
    src = write_zip(tmp_path / "ios.zip", {
        "Accelerometer.csv": sensor_logger_csv(t[::2], user[::2]),  # other times than gravity's
        "Gravity.csv": sensor_logger_csv(t, gravity)})
    assert bouts_of(capsys, src, tmp_path, "--format", "sensor-logger") == BOUTS


def test_sensor_logger_loose_csvs(tmp_path, capsys, caplog):
    t, total, gravity, user = sensor_logger_parts()
    src = tmp_path / "TotalAcceleration.csv"
    src.write_text(sensor_logger_csv(t, total))
    assert detect(src) == "sensor-logger"
    assert bouts_of(capsys, src, tmp_path) == BOUTS
    alone = tmp_path / "Gravity.csv"
    alone.write_text(sensor_logger_csv(t, gravity))
    rec = tmp_path / "gravity.sitload"
    code, _, err = run(capsys, "import", alone, "-o", rec)
    assert code == 0 and "Gravity.csv: gravity alone" in caplog.text   # imported, with a warning


def test_sensor_logger_without_gravity_is_refused(tmp_path, capsys):
    t, total, gravity, user = sensor_logger_parts()
    src = tmp_path / "Accelerometer.csv"
    src.write_text(sensor_logger_csv(t, user))
    assert "acceleration without gravity" in refused(capsys, src)
    renamed = tmp_path / "phone.csv"
    renamed.write_text(sensor_logger_csv(t, user))
    err = refused(capsys, renamed)
    assert "median acceleration" in err and "without gravity" in err
    only = write_zip(tmp_path / "only.zip", {"Accelerometer.csv": sensor_logger_csv(t, user)})
    assert "no TotalAcceleration.csv or Gravity.csv" in refused(capsys, only)


# --- phyphox ------------------------------------------------------------------------------------

def phyphox_csv(t, accel_ms2, *, sep=",", comma=False, linear=False, time="Time (s)",
                prefix="Acceleration") -> str:
    prefix = "Linear Acceleration" if linear else prefix
    names = [time, *(f"{prefix} {a} (m/s^2)" for a in "xyz"), "Absolute acceleration (m/s^2)"]
    rows = [sep.join(f'"{n}"' for n in names)]
    rows += [sep.join(java_sci(v, comma) for v in (s - T0, *a, np.linalg.norm(a)))
             for s, a in zip(t, accel_ms2)]
    return "\n".join(rows) + "\n"


def phyphox_time(start_s: float, *, sep=",", comma=False, pause_at=None) -> str:
    def system(s):
        text = f"{s:.3f}"
        return text.replace(".", ",") if comma else text
    rows = [sep.join(['"event"', '"experiment time"', '"system time"', '"system time text"'])]
    rows.append(sep.join(['"START"', java_sci(0.0, comma), system(start_s),
                          '"2026-03-02 09:00:00.000 UTC+01:00"']))
    if pause_at is not None:   # paused at pause_at s, resumed 100 s later
        rows.append(sep.join(['"PAUSE"', java_sci(pause_at, comma), system(start_s + pause_at),
                              '"-"']))
        rows.append(sep.join(['"START"', java_sci(pause_at, comma),
                              system(start_s + pause_at + 100), '"-"']))
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("sep, comma", [(",", False), ("\t", False), (";", True), ("\t", True)])
def test_phyphox_zip_takes_its_start_from_meta_time(tmp_path, capsys, sep, comma):
    t, accel = thigh(50)
    src = write_zip(tmp_path / "Acceleration with g 2026-03-02 09-00-00.zip", {
        "Raw Data.csv": phyphox_csv(t, accel * G, sep=sep, comma=comma),
        "meta/device.csv": '"property","value"\n"model","Pixel"\n',
        "meta/time.csv": phyphox_time(T0, sep=sep, comma=comma)})
    assert detect(src) == "phyphox"
    assert bouts_of(capsys, src, tmp_path) == BOUTS


def test_phyphox_in_german_reads_by_the_units_of_its_names(tmp_path, capsys):
    t, accel = thigh(50)
    src = write_zip(tmp_path / "Beschleunigung mit g.zip", {
        "Rohdaten.csv": phyphox_csv(t, accel * G, sep=";", comma=True, time="Zeit (s)",
                                    prefix="Beschleunigung"),
        "meta/time.csv": phyphox_time(T0, sep=";", comma=True)})
    assert bouts_of(capsys, src, tmp_path) == BOUTS


def test_phyphox_paused_runs_continue_at_their_system_time(tmp_path, capsys):
    t, accel = thigh(50)
    src = write_zip(tmp_path / "paused.zip", {
        "Raw Data.csv": phyphox_csv(t, accel * G),
        "meta/time.csv": phyphox_time(T0, pause_at=400.0)})
    assert bouts_of(capsys, src, tmp_path) == [BOUTS[0], (BOUTS[1][0] + 100, BOUTS[1][1])]


def test_phyphox_single_csv_needs_start(tmp_path, capsys):
    t, accel = thigh(50)
    src = tmp_path / "Raw Data.csv"
    src.write_text(phyphox_csv(t, accel * G, sep=";", comma=True))
    assert detect(src) == "phyphox"
    code, out, err = run(capsys, "import", src, "-o", tmp_path / "p.sitload")
    assert code == 2 and "no meta/time.csv" in err and "--start" in err
    assert bouts_of(capsys, src, tmp_path, "--start", "2026-03-02T09:00:00", *BERLIN) == BOUTS
    assert bouts_of(capsys, src, tmp_path, "--start", "2026-03-02T08:00:00Z") == BOUTS


def test_phyphox_linear_acceleration_is_refused(tmp_path, capsys):
    t, accel = thigh(50)
    src = write_zip(tmp_path / "linear.zip", {
        "Raw Data.csv": phyphox_csv(t, (accel - [1, 0, 0]) * G, linear=True),
        "meta/time.csv": phyphox_time(T0)})
    err = refused(capsys, src, "--format", "phyphox")
    assert "linear.zip:Raw Data.csv line 1: a Linear Acceleration export, without g" in err


def test_phyphox_bad_cell_names_member_and_line(tmp_path, capsys):
    t, accel = thigh(50)
    text = phyphox_csv(t, accel * G).splitlines()
    text[7] = text[7].replace("E", "x", 1)
    src = write_zip(tmp_path / "bad.zip", {"Raw Data.csv": "\n".join(text) + "\n",
                                           "meta/time.csv": phyphox_time(T0)})
    err = refused(capsys, src)
    assert "bad.zip:Raw Data.csv line 8: bad" in err
