"""``python -m benchmarks [--full | --quick | --smoke]``: every benchmark figure in one table.

* **1 polling**: polls per generation of the adaptive schedule against fixed polling at the
  same p95 detection latency, on log-normal renders (virtual clock, :mod:`benchmarks.polling`);
* **2 the trigger at the client's limit**: 200 generations polled every second on a real
  ``airflow triggerer``; CPU per poll of its trigger-runner process and of its supervisor,
  beside bare clients in their own process and N no-op triggers (:mod:`benchmarks.triggerer`);
* **3 scale**: 1,000 and 3,000 generations polled every 10 s on one triggerer: blocked-loop
  warnings, memory per generation, detection latency, cost per poll;
* **4 the worker's share**: ``execute`` and ``execute_complete`` per video on a real Airflow,
  beside a no-op deferring operator (:mod:`benchmarks.worker`);
* **5 batch or mapped**: the same images as one ``ImageToVideoBatchOperator`` task
  and as mapped ``ImageToVideoOperator`` tasks, one after the other on one real Airflow:
  machine CPU, worker-slot seconds and wall time per video.

``--full`` (the default, what ``make bench`` runs; about 58 minutes on 2 cores) and
``--quick`` (about 15) start real Airflow components; ``--smoke`` (seconds, what the test
suite runs so the table cannot rot) replaces them with in-process stand-ins, so its
figures are only the table's shape. Work files (logs, py-spy profiles, the table) go to
``--work`` (default ``.artifacts/bench``). benchmarks/README.md explains every row.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from benchmarks import polling
from benchmarks.table import Table

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@dataclass(frozen=True)
class Plan:
    name: str
    generations: int  # virtual-clock generations per polling scenario
    real: bool  # real Airflow components (else in-process stand-ins)
    n_fast: int  # generations polled every second
    window_fast: float
    scale: tuple[tuple[int, float], ...]  # (generations, window) polled every `scale_interval`
    scale_interval: float
    worker_n: int
    worker_render: float
    batch_n: int  # images in section 5, mapped and batched


PLANS = {
    "full": Plan("full", 2000, True, 200, 60, ((1000, 300), (3000, 120)), 10.0, 40, 10.0, 1000),
    "quick": Plan("quick", 600, True, 200, 30, ((1000, 60), (3000, 40)), 10.0, 10, 5.0, 40),
    "smoke": Plan("smoke", 60, False, 5, 1.0, ((10, 1.0),), 0.5, 1, 0.3, 3),
}


NA = "n/a (smoke)"


def _ms(seconds: float) -> str:
    return f"{seconds:.3f} ms"


# ------------------------------------------------------------------------------- section 1


def polling_rows(table: Table, plan: Plan) -> None:
    table.section(
        "1",
        f"1. Polls that follow the render: virtual clock, the simulator's render model, {plan.generations} "
        f"log-normal renders (median {polling.MEDIAN:.0f} s, p95 {polling.P95:.0f} s) per case, "
        f"poll_interval {polling.POLL_INTERVAL:.0f} s, max_poll_interval {polling.MAX_POLL_INTERVAL:.0f} s",
    )
    keys = {"progress reported (fine)": "fine", "progress coarse (10 % steps)": "coarse"}
    keys |= {"progress after a queue (20 %)": "queue", "no progress": "none"}
    for scenario in polling.SCENARIOS:
        c = polling.compare(scenario, plan.generations)
        a, f, m = c.adaptive, c.fixed, c.matched
        table.add(
            f"1.{keys[scenario.name]}",
            f"polls/gen, {scenario.name}",
            f"{a.polls_per_generation:.2f} = {c.ratio_same_p95:.2f}x (p95 {a.latency(0.95):.1f} s)",
            "<= 0.30x fixed",
            f"fixed {c.matched_interval:.1f} s: {m.polls_per_generation:.1f} polls, "
            f"p95 {m.latency(0.95):.1f} s",
            c.ratio_same_p95 <= 0.30,
        )
        table.add(
            f"1.{keys[scenario.name]}.p",
            "  same poll_interval: ratio; noticed within it",
            f"{c.ratio_same_interval:.2f}x; {100 * a.within(polling.POLL_INTERVAL):.1f} %",
            "-",
            f"fixed 10 s: {f.polls_per_generation:.1f} polls, p95 {f.latency(0.95):.1f} s",
        )
    from airflow_provider_i2v.generation.schedule import _EARLY_QUANTILE

    others = polling.alternatives(plan.generations)
    table.add(
        "1.alt",
        f"no progress, other rules (shipped: edge q{_EARLY_QUANTILE:.2f})",
        "; ".join(f"{name} {c.ratio_same_p95:.2f}x" for name, c in others),
        "-",
        "x fixed at the same p95, as above",
    )


# ------------------------------------------------------------------------------- sections 2, 3


def trigger_rows(table: Table, plan: Plan, work: Path) -> None:
    from benchmarks.triggerer import Phase, Simulator, Triggerer, run_bare

    where = "real `airflow triggerer`" if plan.real else "SMOKE: in-process stand-ins, no Airflow"
    table.section(
        "2",
        f"2. The trigger at the client's limit: {plan.n_fast} generations polled every 1 s, {where}, "
        f"{plan.window_fast:g} s windows",
    )
    table.section(
        "3",
        f"3. Scale: {', '.join(f'{n} generations ({w:g} s window)' for n, w in plan.scale)} polled every "
        f"{plan.scale_interval:g} s, {where}",
    )
    simulator = Simulator(work).start()
    capacity = max(n for n, _ in plan.scale) + 10
    triggerer = Triggerer(work, simulator, capacity=capacity) if plan.real else None
    try:
        if triggerer is not None:
            triggerer.start()

        def phase(kind: str, n: int, interval: float, window: float, **kwargs: object) -> Phase:
            if triggerer is not None:
                return triggerer.run_phase(kind, n, interval, window, **kwargs)  # type: ignore[arg-type]
            variant = {"provider": "trigger", "noop": "sleep"}[kind]
            return run_bare(simulator, work, variant, n, interval, window, warmup=warm)

        n, window = plan.n_fast, plan.window_fast
        warm = 3.0 if plan.real else 0.2
        bare = [run_bare(simulator, work, "httpx", n, 1.0, window, warmup=warm)]
        floor = phase("noop", n, 1.0, window)
        spy = work / "profile-provider-200.txt"
        provider = phase("provider", n, 1.0, window, **({"py_spy": spy} if plan.real else {}))
        if plan.real:  # once more after the triggers: the anchor is the mean of both
            bare.append(run_bare(simulator, work, "httpx", n, 1.0, window, warmup=warm))
        core = run_bare(simulator, work, "httpcore", n, 1.0, window, warmup=warm)
        stream = run_bare(simulator, work, "stream", n, 1.0, window, warmup=warm)
        bare_ms = statistics.fmean(b.per_poll_ms("runner") for b in bare)
        runner = provider.per_poll_ms("runner")
        share = (runner - floor.per_poll_ms("runner")) / bare_ms
        table.add(
            "2.runner",
            "trigger-runner CPU per poll",
            f"{_ms(runner)} = {runner / bare_ms:.2f}x bare",
            "<= 1.2x bare httpx",
            f"bare httpx {_ms(bare_ms)}/poll ({' / '.join(_ms(b.per_poll_ms('runner')) for b in bare)})",
            runner / bare_ms <= 1.2 if plan.real else None,
        )
        table.add(
            "2.share",
            "provider's share over Airflow's floor",
            f"{_ms(runner - floor.per_poll_ms('runner'))} = {share:.2f}x bare",
            "<= 1.1x bare httpx",
            f"floor: {n} no-op triggers, {_ms(floor.per_poll_ms('runner'))}/wake",
            share <= 1.1 if plan.real else None,
        )
        table.add(
            "2.super",
            "supervisor CPU per poll",
            _ms(provider.per_poll_ms("supervisor")) if plan.real else NA,
            "-",
            f"floor: {_ms(floor.per_poll_ms('supervisor'))}/wake" if plan.real else "-",
        )
        table.add(
            "2.blocked",
            "'async thread was blocked' in the window",
            f"{len(provider.blocked_window)}" if plan.real else NA,
            "0",
            f"floor: {len(floor.blocked_window)}" if plan.real else "-",
            not provider.blocked_window if plan.real else None,
        )
        table.add(
            "2.httpcore",
            "bare httpcore (same pool bound), per poll",
            f"{_ms(core.per_poll_ms('runner'))} = {core.per_poll_ms('runner') / bare_ms:.2f}x bare",
            "-",
            "what httpx itself adds on top of it",
        )
        table.add(
            "2.stream",
            "raw asyncio stream, per poll",
            f"{_ms(stream.per_poll_ms('runner'))} = {stream.per_poll_ms('runner') / bare_ms:.2f}x bare",
            "-",
            "the event loop's own floor for a poll",
        )
        table.add(
            "2.sim",
            "simulator CPU per poll (its own process)",
            _ms(provider.per_poll_ms("simulator")) if "simulator" in provider.cpu else "n/a",
            "-",
            "the gateway side, not counted above",
        )
        growth: list[str] = [f"{n}: {_ms(runner)} ({runner / bare_ms:.2f}x)"]
        for count, window in plan.scale:
            interval = plan.scale_interval
            if triggerer is not None:
                triggerer.restart()  # an idle triggerer: a fresh runner process
            big = phase("provider", count, interval, window, completing=0.2)
            big_floor = phase("noop", count, interval, window)
            big_bare = run_bare(simulator, work, "httpx", count, interval, window, warmup=warm)
            ms, bare_big = big.per_poll_ms("runner"), big_bare.per_poll_ms("runner")
            growth.append(f"{count}: {_ms(ms)} ({ms / bare_big:.2f}x)")
            k = f"3.{count}"
            real = plan.real
            table.add(
                f"{k}.blocked",
                f"{count}: blocked-loop warnings, steady window",
                f"{len(big.blocked_window)}" + _worst(big.blocked_window) if real else NA,
                "0",
                f"floor: {len(big_floor.blocked_window)}" + _worst(big_floor.blocked_window) if real else "-",
                not big.blocked_window if real else None,
            )
            table.add(
                f"{k}.startup",
                f"{count}: blocked-loop warnings, start-up ramp",
                f"{len(big.blocked_startup)}" + _worst(big.blocked_startup) if real else NA,
                "<= floor",
                f"floor: {len(big_floor.blocked_startup)}" + _worst(big_floor.blocked_startup)
                if real
                else "-",
                len(big.blocked_startup) <= len(big_floor.blocked_startup) if real else None,
            )
            table.add(
                f"{k}.rss",
                f"{count}: RSS per live generation over idle",
                f"{big.rss_per_trigger / 1024:.1f} KB" if real else NA,
                "<= 100 KB",
                f"floor: {big_floor.rss_per_trigger / 1024:.1f} KB per no-op trigger" if real else "-",
                big.rss_per_trigger <= 100 * 1024 if real else None,
            )
            worst = max(big.latencies) if big.latencies else None
            table.add(
                f"{k}.latency",
                f"{count}: worst detection latency",
                f"{worst:.1f} s ({big.completions} completions)" if worst is not None else NA,
                f"<= {interval + 2:g} s",
                "poll_interval + 2 s",
                worst <= interval + 2 if worst is not None else None,
            )
            table.add(
                f"{k}.cpu",
                f"{count}: trigger-runner CPU per poll",
                f"{_ms(ms)} = {ms / bare_big:.2f}x bare",
                "-",
                f"bare httpx {_ms(bare_big)}; floor {_ms(big_floor.per_poll_ms('runner'))}/wake",
            )
            table.add(
                f"{k}.super",
                f"{count}: supervisor CPU per poll",
                _ms(big.per_poll_ms("supervisor")) if real else NA,
                "-",
                f"floor: {_ms(big_floor.per_poll_ms('supervisor'))}/wake" if real else "-",
            )
            gc2 = big.probe["gc"]["2"] if big.probe else None
            table.add(
                f"{k}.gc",
                f"{count}: full collections in the runner",
                f"{gc2['count']}, worst {1000 * gc2['max_s']:.0f} ms" if gc2 else NA,
                "-",
                f"{big.probe['gc_frozen_objects']} frozen, {big.probe['gc_tracked_objects']} tracked objects"
                if big.probe
                else "-",
            )
        table.add("3.growth", "runner CPU per poll as generations grow", "; ".join(growth), "-", "x bare")
    finally:
        if triggerer is not None:
            triggerer.stop()
        simulator.stop()


def _worst(blocked: list[float]) -> str:
    return f" (worst {max(blocked):.2f} s)" if blocked else ""


# ------------------------------------------------------------------------------- section 4


def worker_rows(table: Table, plan: Plan, work: Path) -> None:
    from benchmarks import worker
    from benchmarks.triggerer import Simulator

    where = "real Airflow (LocalExecutor)" if plan.real else "SMOKE: in-process, no Airflow"
    table.section(
        "4",
        f"4. The worker's share: {plan.worker_n} mapped videos and as many no-op deferring tasks, {where}; "
        "CPU of the task process, median per video",
    )
    simulator = Simulator(work).start()
    try:
        if plan.real:
            result = worker.run(work, simulator, plan.worker_n, plan.worker_render)
        else:
            result = worker.run_inline(work, simulator, plan.worker_n, plan.worker_render)
    finally:
        simulator.stop()
    ours, noop = result.calls["provider"], result.calls["noop"]
    med = worker.Calls.median
    for key, figure, attr in (
        ("start", "task start before execute (DAG file incl.)", "before_execute"),
        ("execute", "execute: validate, submit, defer", "execute"),
        ("resume", "task start before execute_complete", "before_complete"),
        ("complete", "execute_complete", "execute_complete"),
    ):
        mine, base = med(getattr(ours, attr)), med(getattr(noop, attr))
        measured = plan.real or not attr.startswith("before")  # in-process: no task start
        table.add(
            f"4.{key}",
            figure,
            f"{1000 * mine:.1f} ms (provider's part {1000 * (mine - base):+.1f} ms)" if measured else NA,
            "-",
            f"no-op deferring operator: {1000 * base:.1f} ms" if measured else "-",
        )
    per = {k: sum(v.values()) / result.n for k, v in result.machine.items()}
    trig = {k: v.get("triggerer", 0.0) / result.n for k, v in result.machine.items()}
    table.add(
        "4.machine",
        "machine CPU per video, whole Airflow",
        f"{per['provider']:.2f} core-s (triggerer {trig['provider']:.2f})" if per else NA,
        "-",
        f"no-op task: {per['noop']:.2f} core-s (triggerer {trig['noop']:.2f})" if per else "-",
    )
    parts = "-"
    if result.machine:
        mine, base = result.machine["provider"], result.machine["noop"]
        parts = ", ".join(
            f"{name} {(mine.get(name, 0.0) - base.get(name, 0.0)) / result.n:+.2f}"
            for name in sorted(set(mine) | set(base))
        )
    table.add(
        "4.parts",
        "  provider - no-op, per video, by component",
        parts if result.machine else NA,
        "-",
        "core-s; 'scheduler' includes the workers' task processes",
    )


# ------------------------------------------------------------------------------- section 5


def batch_rows(table: Table, plan: Plan, work: Path) -> None:
    from benchmarks import worker
    from benchmarks.triggerer import Simulator

    n, render = plan.batch_n, plan.worker_render
    where = "real Airflow (LocalExecutor, 4 slots)" if plan.real else "SMOKE: in-process, no Airflow"
    table.section(
        "5",
        f"5. Batch or mapped: {n} images, {render:g} s renders, polled every 1 s, as one batch task "
        f"and as {n} mapped tasks, {where}",
    )
    simulator = Simulator(work).start()
    try:
        if plan.real:
            kinds = ("batch", "provider")
            result = worker.run(work, simulator, n, render, kinds=kinds, tag="batch", parallelism=4)
        else:
            result = worker.run_inline(work, simulator, n, render)
    finally:
        simulator.stop()
    cpu = {k: sum(v.values()) / n for k, v in result.machine.items()}
    real = bool(cpu)
    batch, mapped = cpu.get("batch", 0.0), cpu.get("provider", 0.0)
    table.add(
        "5.cpu",
        "batch: machine CPU per video, whole Airflow",
        f"{batch:.3f} core-s" if real else NA,
        "<= 0.05 core-s",
        f"mapped: {mapped:.3f} core-s" if real else "-",
        batch <= 0.05 if real else None,
    )
    table.add(
        "5.ratio",
        "mapped / batch, machine CPU per video",
        f"{mapped / batch:.1f}x" if real and batch > 0 else NA,
        ">= 10x",
        "the same images, one run",
        mapped >= 10 * batch if real else None,
    )
    if real:
        parts = {
            kind: ", ".join(
                f"{name} {seconds / n:.3f}" for name, seconds in sorted(result.machine[kind].items())
            )
            for kind in ("batch", "provider")
        }
    table.add(
        "5.parts",
        "  batch per video, by component",
        parts["batch"] if real else NA,
        "-",
        f"mapped: {parts['provider']}" if real else "core-s; 'scheduler' includes the task processes",
    )
    slots = {k: sum(c.slots) / n for k, c in result.calls.items()}
    table.add(
        "5.slot",
        "batch: worker-slot seconds per video",
        f"{slots['batch']:.3f} s" if real else NA,
        "-",
        f"mapped: {slots['provider']:.3f} s" if real else "-",
    )
    table.add(
        "5.wall",
        "batch: wall time (trigger to success)",
        f"{result.wall['batch']:.0f} s" if real else NA,
        "-",
        f"mapped: {result.wall['provider']:.0f} s" if real else "-",
    )


# ------------------------------------------------------------------------------- main


def expected_keys(plan: Plan) -> list[str]:
    """Every row the table of ``plan`` has, in order (the smoke test holds the table to it)."""
    keys = [f"1.{c}{p}" for c in ("fine", "coarse", "queue", "none") for p in ("", ".p")] + ["1.alt"]
    keys += ["2.runner", "2.share", "2.super", "2.blocked", "2.httpcore", "2.stream", "2.sim"]
    for count, _ in plan.scale:
        keys += [f"3.{count}.{k}" for k in ("blocked", "startup", "rss", "latency", "cpu", "super", "gc")]
    keys += ["3.growth", "4.start", "4.execute", "4.resume", "4.complete", "4.machine", "4.parts"]
    keys += ["5.cpu", "5.ratio", "5.parts", "5.slot", "5.wall"]
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    for name in PLANS:
        mode.add_argument(f"--{name}", dest="plan", action="store_const", const=name)
    parser.add_argument("--work", type=Path, default=REPO / ".artifacts" / "bench")
    parser.add_argument("--only", default="12345", help="sections to run, e.g. --only 12 (default: all)")
    args = parser.parse_args(argv)
    plan = PLANS[args.plan or "full"]
    work: Path = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.monotonic()
    table = Table(f"airflow-provider-i2v benchmarks ({plan.name} run)")
    failed = False
    for sections, run in (
        ("1", lambda: polling_rows(table, plan)),
        ("23", lambda: trigger_rows(table, plan, work)),
        ("4", lambda: worker_rows(table, plan, work)),
        ("5", lambda: batch_rows(table, plan, work)),
    ):
        if not set(sections) & set(args.only):
            continue
        try:
            run()
        except Exception:  # a failed section still leaves the table of the others
            failed = True
            (work / "errors.txt").open("a").write(traceback.format_exc() + "\n")
            table.notes.append(f"section {sections} FAILED: see {work / 'errors.txt'}")
    have = {row.key for row in table.rows}
    for key in expected_keys(plan):
        if key not in have and key[0] in args.only:
            table.add(key, "(not measured: its section failed)", "ERROR", "-", "-", False)
    minutes = (time.monotonic() - started) / 60
    table.notes.append(f"{minutes:.1f} minutes; logs and py-spy profiles in {work}")
    text = table.render()
    (work / "table.txt").write_text(text + "\n")
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
