"""``make mutants``: mutation testing of the core with mutmut 3, and what each proof file kills on its own.

1. Copy the tracked files to ``build/mutants/all/`` and delete the ``@cache`` lines of
   ``blocks/core`` there. mutmut 3 does not mutate decorated functions; a cache only saves
   time (the function gives the same result when it runs again), so without them
   ``_locate``, ``state_shapes``, ``_template`` and ``_recipes`` are mutated too.
2. ``mutmut run`` there: the files and tests of ``[tool.mutmut]`` in pyproject.toml.
3. Each proof file on its own: a copy whose test selection is that file alone, and
   ``mutmut run`` of every mutant of canonical.py and transplant.py that step 2 killed.
   A mutant a proof file leaves alive is then put to ``tools/function_oracle.py``, which says,
   apart from every test, whether it changes what a transplanted block or network computes:
   those are the ones every proof file must kill.
4. The mutants mutmut cannot make (``BlockSpec``'s two properties, the ``collector_paused``
   context manager): :data:`HAND_MUTANTS`, each applied to a copy and run against the selection.
5. ``build/mutants/report.md``: the counts, every mutant not killed with its diff, and the
   tables of steps 3 and 4, from which tests/MUTANTS.md is written.

Run from the repository root: ``python tools/mutants.py [--workers 2]``. About an hour on 2 cores.
``--again`` updates the last run in place: mutmut tests again the functions whose code changed,
then every mutant not killed last time (by the tests as they are now). ``--reuse`` runs no mutmut,
only steps 3's oracle, 4 and 5 over the last runs' verdicts.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutants"
MUTMUT = Path(sys.executable).parent / "mutmut"  # `python -m mutmut` re-imports itself; mutmut asks for its script
# The proof files: each replaces [tool.mutmut]'s selection, whose pytest_add_cli_args still apply (the tests
# marked `mutation`, not `mutation_slow`): of test_lockstep.py, the lock-step proofs. "test_networks" is that
# file and the one its checkpoint tests moved to (test_weights.py), as test_networks.py was before.
PROOF_FILES = {
    "test_equivalence": ["tests/core/test_equivalence.py"],
    "test_lockstep": ["tests/training/test_lockstep.py"],
    "test_networks": ["tests/models/test_networks.py", "tests/models/test_weights.py"],
}
PROVEN = ("blocks.core.canonical.", "blocks.core.transplant.")  # the code every proof file must guard alone
# The functions mutmut leaves alone because they are decorated: name -> (file, text, its mutant).
SPEC, COLLECTOR = "blocks/core/spec.py", "blocks/util/collector.py"
HAND_MUTANTS = {
    "grouped_channels: C + d": (SPEC, "self.cardinality * self.width", "self.cardinality + self.width"),
    "grouped_channels: d": (SPEC, "return self.cardinality * self.width", "return self.width"),
    "has_projection: stride == 1": (SPEC, "self.stride != 1 or", "self.stride == 1 or"),
    "has_projection: and": (SPEC, "self.stride != 1 or", "self.stride != 1 and"),
    "has_projection: channels ==": (SPEC, "self.in_channels != self.out", "self.in_channels == self.out"),
    "has_projection: stride only": (SPEC, " or self.in_channels != self.out_channels", ""),
    "collector_paused: no disable": (COLLECTOR, "    gc.disable()\n", ""),
    "collector_paused: enable if not enabled": (COLLECTOR, "        if enabled:\n", "        if not enabled:\n"),
    "collector_paused: never enable": (COLLECTOR, "            gc.enable()\n", "            pass\n"),
}
SELECTION = re.compile(r"^pytest_add_cli_args_test_selection = (\[.*?\])", flags=re.MULTILINE | re.DOTALL)


def run(command: list[str | Path], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in ``cwd`` with one thread per process, its output captured."""
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{command} failed in {cwd}:\n{done.stdout}\n{done.stderr}")
    return done


def copy_project(destination: Path, tests: list[str] | None = None, *, keep: bool = False) -> None:
    """The tracked files in ``destination``, without ``@cache``; with ``tests``, mutmut selects those only.

    With ``keep``, ``destination`` is updated in place and only files that differ are written:
    mutmut keeps the verdict of every function whose code did not change.
    """
    if not keep:
        shutil.rmtree(destination, ignore_errors=True)
    for name in run(["git", "ls-files"], ROOT).stdout.splitlines():
        if not (ROOT / name).is_file():  # a file deleted but not yet committed is listed too
            continue
        text = (ROOT / name).read_text() if name.endswith((".py", ".toml")) else None
        if text is not None and name.startswith("blocks/core/"):
            text = re.sub(r"^@cache\b.*\n", "", text, flags=re.MULTILINE)
        if text is not None and name == "pyproject.toml" and tests is not None:
            text = SELECTION.sub(lambda _: "pytest_add_cli_args_test_selection = " + json.dumps(tests), text)
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            shutil.copy2(ROOT / name, target)
        elif not target.is_file() or target.read_text() != text:
            target.write_text(text)


def statuses(project: Path) -> dict[str, str]:
    """mutmut's verdict on every mutant of ``project``: killed, survived, timeout, …"""
    lines = run([MUTMUT, "results", "--all", "true"], project).stdout.splitlines()
    return dict(line.strip().rsplit(": ", 1) for line in lines if re.match(r"\s+\S+: \w", line))


def mutmut_run(project: Path, workers: int, names: list[str] | None = None) -> dict[str, str]:
    """``mutmut run`` in ``project`` (of ``names`` only, if given); every mutant's verdict."""
    run([MUTMUT, "run", "--max-children", str(workers), *(names or [])], project)
    return statuses(project)


def changes_function(project: Path, name: str) -> str:
    """What :mod:`tools.function_oracle` says of mutant ``name``: "" if the function is unchanged, else why."""
    environment = dict(os.environ, MUTANT_UNDER_TEST=name, PYTHONPATH=str(project / "mutants"), OMP_NUM_THREADS="1")
    oracle = [sys.executable, str(project / "tools" / "function_oracle.py")]
    done = subprocess.run(oracle, cwd=project, env=environment, capture_output=True, text=True, check=False)
    return "" if done.returncode == 0 else (done.stdout.strip() or done.stderr.strip().splitlines()[-1])


def hand_mutant(source: Path, name: str, workers: int) -> str:
    """Apply :data:`HAND_MUTANTS` ``name`` to a copy of ``source``, run the selection: killed or survived."""
    file, text, replacement = HAND_MUTANTS[name]
    project = WORK / "hand"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(source, project, ignore=shutil.ignore_patterns("mutants"))
    path = project / file
    assert path.read_text().count(text) == 1, f"hand mutant {name!r}: {text!r} is not in {file} exactly once"
    path.write_text(path.read_text().replace(text, replacement))
    config = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["mutmut"]
    tests = [*config["pytest_add_cli_args_test_selection"], *config["pytest_add_cli_args"]]  # as mutmut runs them
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-n", str(workers), *tests]
    return "survived" if run(command, project, check=False).returncode == 0 else "killed"


class Clock:
    """Wall time and the CPU time of finished child processes (all of mutmut's workers), step by step."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.wall, self.cpu = time.monotonic(), self._children_cpu()

    @staticmethod
    def _children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def lap(self, step: str) -> None:
        wall, cpu = time.monotonic(), self._children_cpu()
        self.lines.append(f"- {step}: {wall - self.wall:.0f} s wall, {cpu - self.cpu:.0f} s CPU")
        print(self.lines[-1], flush=True)
        self.wall, self.cpu = wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument(
        "--again",
        action="store_true",
        help="update build/mutants/all in place; test what changed since, and every mutant not killed last time",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the verdicts of the last mutmut runs in build/mutants; run the oracle, hand mutants and report",
    )
    args = parser.parse_args()
    workers = args.workers

    clock = Clock()
    everything = WORK / "all"
    if args.reuse:
        verdicts = statuses(everything)
    else:
        copy_project(everything, keep=args.again)
        verdicts = mutmut_run(everything, workers)
        if args.again and (retry := [name for name, verdict in verdicts.items() if verdict != "killed"]):
            verdicts = mutmut_run(everything, workers, retry)  # new tests may kill what the old ones left
    clock.lap(f"mutmut over the core: {dict(collections.Counter(verdicts.values()))}")
    killed = [name for name, verdict in verdicts.items() if verdict == "killed" and name.startswith(PROVEN)]
    alone = {}
    for proof, tests in PROOF_FILES.items():
        if not args.reuse:
            copy_project(WORK / proof, tests)
        found = statuses(WORK / proof) if args.reuse else mutmut_run(WORK / proof, workers, killed)
        alone[proof] = sorted(name for name in killed if found.get(name) != "killed")
        print(f"{proof}: kills {len(killed) - len(alone[proof])} of {len(killed)} alone", flush=True)
    missed = sorted({name for names in alone.values() for name in names})
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        oracle = dict(zip(missed, pool.map(lambda name: changes_function(everything, name), missed)))
    by_hand = {name: hand_mutant(everything, name, workers) for name in HAND_MUTANTS}

    lines = [
        "# mutmut report (build/mutants/report.md)",
        "",
        "| file | " + " | ".join(sorted(set(verdicts.values()))) + " |",
        "|---" * (1 + len(set(verdicts.values()))) + "|",
    ]
    per_file: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for name, verdict in verdicts.items():
        per_file[name.split(".x")[0]][verdict] += 1
    for file, counts in sorted(per_file.items()):
        lines.append(f"| {file} | " + " | ".join(str(counts[v]) for v in sorted(set(verdicts.values()))) + " |")
    lines += ["", "## Not killed", ""]
    for name, verdict in sorted(verdicts.items()):
        if verdict != "killed":
            lines += [
                f"### {name}: {verdict}",
                "```diff",
                run([MUTMUT, "show", name], everything).stdout.strip(),
                "```",
            ]
    lines += ["", "## Each proof file alone, over the killed mutants of canonical.py and transplant.py", ""]
    lines += [
        "A mutant a proof file does not kill alone is put to tools/function_oracle.py: does it change what a",
        "transplanted block or network computes? Those that do are the file's failures (target: none).",
        "",
    ]
    for proof, names in alone.items():
        changing = [name for name in names if oracle[name]]
        lines.append(
            f"- {proof}: kills {len(killed) - len(names)} of {len(killed)}; of the {len(names)} it leaves,"
            f" {len(changing)} change the function: {', '.join(changing) or '-'}"
        )
    lines += ["", "What the oracle says of each mutant some proof file leaves:", ""]
    lines += [f"- {name}: {oracle[name] or 'the function is unchanged'}" for name in missed]
    lines += ["", "## Hand-written mutants of decorated functions", ""]
    lines += [f"- {name}: {verdict}" for name, verdict in by_hand.items()]
    clock.lap("each proof file alone, and the hand-written mutants")
    lines += ["", "## Time (2 cores)", "", *clock.lines]
    (WORK / "report.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {WORK / 'report.md'}")


if __name__ == "__main__":
    main()
