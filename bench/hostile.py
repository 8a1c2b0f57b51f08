"""The hostile set of issue 14 against the installed ``csrtouch`` command, as a user would
run it: every case of ``tests/hostile.py``, with a table of cases tried and held per class.

Usage::

    python bench/hostile.py [--jobs 2] [--only SUBSTRING] [--markdown]

``CSRTOUCH_COMMAND="python -m csrtouch"`` (with ``PYTHONPATH`` at another checkout) runs the
set against another version, to compare. Exit status 1 when any case did not hold.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile import CASES, CLASSES, Case, Skip, command  # noqa: E402

HELD, FAILED, SKIPPED = "held", "FAILED", "skipped"


def run(case: Case) -> tuple[str, str, float]:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="csrtouch-hostile-") as tmp:
        try:
            case.run(Path(tmp))
            verdict, why = HELD, ""
        except Skip as e:
            verdict, why = SKIPPED, str(e)
        except Exception as e:  # an AssertionError says what did not hold; anything else too
            verdict, why = FAILED, f"{type(e).__name__}: {e}".splitlines()[0][:300]
            if not isinstance(e, AssertionError):
                why += " | " + traceback.format_exc().splitlines()[-2].strip()
    return verdict, why, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once (signal cases are timing-sensitive: 2 at most on 2 cores)")
    parser.add_argument("--only", default="", help="run only the cases whose id contains this")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown, for the README")
    args = parser.parse_args(argv)
    cases = [c for c in CASES if args.only in c.id]
    print(f"{len(cases)} cases against {' '.join(command())}", file=sys.stderr)
    start = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(run, cases))
    wall = time.perf_counter() - start
    for case, (verdict, why, seconds) in zip(cases, results):
        if verdict != HELD:
            print(f"  {verdict:<7} {case.id}: {why}", file=sys.stderr)
    tried, held, skipped = Counter(), Counter(), Counter()
    for case, (verdict, _, _) in zip(cases, results):
        if verdict == SKIPPED:
            skipped[case.cls] += 1
        else:
            tried[case.cls] += 1
            held[case.cls] += verdict == HELD
    rows = [(f"{cls}. {CLASSES[cls]}", tried[cls], held[cls], skipped[cls]) for cls in sorted(CLASSES) if tried[cls] or skipped[cls]]
    rows.append(("total", sum(tried.values()), sum(held.values()), sum(skipped.values())))
    if args.markdown:
        print("| class | cases tried | held | skipped here |\n|---|---:|---:|---:|")
        for name, t, h, s in rows:
            print(f"| {name} | {t} | {h} | {s or ''} |")
    else:
        print(f"{'class':<40} {'tried':>5} {'held':>5} {'skipped':>7}")
        for name, t, h, s in rows:
            print(f"{name:<40} {t:>5} {h:>5} {s:>7}")
    print(f"{sum(held.values())} of {sum(tried.values())} held ({sum(skipped.values())} skipped) in {wall:.0f} s")
    return 0 if sum(held.values()) == sum(tried.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
