import errno
from pathlib import Path

import pytest

from csrtouch.batch import FAILED, OK, SKIPPED, Job, plan, run_batch
from csrtouch.errors import DecodeError, EncodeError, UsageError


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_plan_mirrors_folders_and_names_files(tmp_path):
    a = _touch(tmp_path / "in" / "a.JPG")
    b = _touch(tmp_path / "in" / "x" / "y" / "b.png")
    _touch(tmp_path / "in" / ".hidden.png")
    _touch(tmp_path / "in" / "a.xmp")
    single = _touch(tmp_path / "other" / "c.tif")
    jobs, failed = plan([tmp_path / "in", single], tmp_path / "out")
    assert failed == []
    assert jobs == [
        Job(a, tmp_path / "out" / "a.JPG"),
        Job(b, tmp_path / "out" / "x" / "y" / "b.png"),
        Job(single, tmp_path / "out" / "c.tif"),
    ]


def test_plan_names_apart_inputs_that_share_a_stem(tmp_path):
    """a.png and a.tif both become a.jpg with --format jpeg; x.cr2 and x.cr3 both become
    x.tif: each keeps its own extension in its name, whatever order they come in; an input
    already in the output format keeps its plain name (IMG_1.JPG beside IMG_1.CR2)."""
    _touch(tmp_path / "in" / "a.png")
    _touch(tmp_path / "in" / "a.tif")
    jobs, failed = plan([tmp_path / "in"], tmp_path / "out", format="jpeg")
    assert failed == [] and [j.output.name for j in jobs] == ["a.png.jpg", "a.tif.jpg"]
    _touch(tmp_path / "raw" / "x.cr2")
    _touch(tmp_path / "raw" / "x.cr3")
    jobs, failed = plan([tmp_path / "raw"], tmp_path / "out2")
    assert failed == [] and [j.output.name for j in jobs] == ["x.cr2.tif", "x.cr3.tif"]
    for jpg in ("IMG_1.JPG", "IMG_1.jpg"):
        cam = tmp_path / f"cam-{jpg}"
        raw, own = _touch(cam / "IMG_1.CR2"), _touch(cam / jpg)
        for inputs in ([cam], [raw, own], [own, raw]):
            jobs, failed = plan(inputs, tmp_path / f"out-{jpg}", format="jpeg")
            assert failed == [] and {j.input.name: j.output.name for j in jobs} == {"IMG_1.CR2": "IMG_1.CR2.jpg", jpg: jpg}


def test_plan_processes_the_same_file_given_twice_once(tmp_path):
    a = _touch(tmp_path / "in" / "a.png")
    jobs, failed = plan([a, a, tmp_path / "in", tmp_path / "in" / ".." / "in" / "a.png"], tmp_path / "out")
    assert failed == [] and jobs == [Job(a, tmp_path / "out" / "a.png")]


def test_plan_on_a_disk_that_ignores_case_fails_the_second_of_two_names_that_differ_in_case(tmp_path, monkeypatch):
    """Two cards, IMG_1.JPG and img_1.jpg: one file on macOS's or Windows' disks, where the
    second would otherwise be reported "already done"; on Linux's, two files."""
    import csrtouch.batch

    a, b = _touch(tmp_path / "cardA" / "IMG_1.JPG"), _touch(tmp_path / "cardB" / "img_1.jpg")
    jobs, failed = plan([a, b], tmp_path / "out")
    assert failed == [] and len(jobs) == 2
    monkeypatch.setattr(csrtouch.batch, "_case_blind", lambda folder: True)
    jobs, failed = plan([a, b], tmp_path / "out")
    assert jobs == [Job(a, tmp_path / "out" / "IMG_1.JPG")]
    assert failed[0].input == b and "is also the output of" in failed[0].error


def test_case_blindness_is_read_off_the_disk(tmp_path):
    from csrtouch.batch import _case_blind

    assert _case_blind(tmp_path / "not" / "yet") is (tmp_path.parent / tmp_path.name.swapcase()).exists()


def test_plan_refuses_output_over_input(tmp_path):
    src = _touch(tmp_path / "a.png")
    jobs, failed = plan([src], tmp_path)
    assert jobs == [] and "would overwrite its input" in failed[0].error
    with pytest.raises(UsageError, match="is inside input folder"):
        plan([tmp_path], tmp_path / "out")


def test_run_batch_records_each_failure_and_goes_on(tmp_path):
    jobs = [Job(tmp_path / f"{i}.png", tmp_path / "out" / f"{i}.png") for i in range(3)]
    _touch(jobs[2].output)

    def process(job: Job) -> None:
        if job.input.name == "0.png":
            raise DecodeError("file is truncated", job.input)
        _touch(job.output)

    seen = []
    results = run_batch(jobs, process, on_result=seen.append)
    assert [r.status for r in results] == [FAILED, OK, SKIPPED] and seen == results
    assert results[0].error.endswith("0.png: file is truncated")
    assert [r.status for r in run_batch(jobs, process, overwrite=True)] == [FAILED, OK, OK]


def test_unexpected_exception_is_recorded_or_reraised(tmp_path):
    jobs = [Job(tmp_path / "a.png", tmp_path / "out" / "a.png")]

    def bug(job: Job) -> None:
        raise ZeroDivisionError("oops")

    (result,) = run_batch(jobs, bug)
    assert result.status == FAILED and "unexpected ZeroDivisionError: oops" in result.error
    with pytest.raises(ZeroDivisionError):
        run_batch(jobs, bug, reraise=True)


def test_disk_full_stops_the_batch(tmp_path):
    jobs = [Job(tmp_path / f"{i}.png", tmp_path / "out" / f"{i}.png") for i in range(3)]

    def full(job: Job) -> None:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as e:
            raise EncodeError("cannot write the file: No space left on device", job.output) from e

    seen = []
    with pytest.raises(EncodeError, match="No space left"):
        run_batch(jobs, full, on_result=seen.append)
    assert len(seen) == 1 and seen[0].status == FAILED


def test_workers_keep_job_order_and_record_failures(tmp_path):
    jobs = [Job(tmp_path / f"{i}.png", tmp_path / "out" / f"{i}.png") for i in range(9)]

    def process(job: Job) -> None:
        if job.input.name == "4.png":
            raise DecodeError("bad", job.input)
        _touch(job.output)

    seen = []
    results = run_batch(jobs, process, workers=3, on_result=seen.append)
    assert [r.input for r in results] == [j.input for j in jobs] and seen == results
    assert [r.status for r in results].count(FAILED) == 1 and results[4].status == FAILED
