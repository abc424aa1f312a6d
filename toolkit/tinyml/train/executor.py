"""Where `tinyml fit` evaluates its candidates: in this process (`serial`) or as Ray tasks (`ray`).

An executor is a function `(stage, search, candidates) -> results in candidate order`, where `stage` is a
module-level function of `tinyml.train.fit` taking `(Search, Candidate)` and returning a picklable value (a
`Candidate`). Each Ray task runs one stage call in a worker process of its own; the search (its data set included)
is put in Ray's object store once. Results come back in the candidates' order, so the pipeline that follows sees
exactly what the serial run gives it.

Ray: `address` None starts a local Ray on loopback (`num_cpus=2`, no dashboard, usage statistics off, a small object
store) and shuts it down afterwards; `address` joins a running cluster (`ray start --head` on one machine, `ray
start --address HEAD:6379` on the others; every node needs tinyml, its toolchain and TINYML_CACHE's data). A Ray
already initialised in this process (a test session) is used as it is and left running. Workers' output is not
forwarded (stdout stays the command's: `--json` prints one JSON document).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tinyml.errors import BAD_INPUT, DEVICE_FAILURE, TinymlError

EXECUTORS = ("serial", "ray")
LOCAL_CPUS = 2
OBJECT_STORE_BYTES = 256 * 1024 * 1024

Executor = Callable[[Callable[[Any, Any], Any], Any, Sequence[Any]], list[Any]]


def serial(stage: Callable[[Any, Any], Any], search: Any, items: Sequence[Any]) -> list[Any]:
    return [stage(search, item) for item in items]


def ray_map(stage: Callable[[Any, Any], Any], search: Any, items: Sequence[Any]) -> list[Any]:
    """One Ray task per item (one CPU each), results in item order."""
    import ray

    remote = ray.remote(num_cpus=1, max_retries=0)(stage)
    shared = ray.put(search)
    try:
        return ray.get([remote.remote(shared, item) for item in items])
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)   # the exception the task raised: a TinymlError stays one line
        if isinstance(cause, TinymlError):
            raise TinymlError(cause.message, cause.exit_code) from None
        raise


@contextmanager
def executor(kind: str, address: str | None = None) -> Iterator[Executor]:
    """The executor `kind` names, ready to use; Ray is started (or joined) here and stopped when done."""
    if kind not in EXECUTORS:
        raise TinymlError(f"--executor must be one of {', '.join(EXECUTORS)}, got '{kind}'", BAD_INPUT)
    if kind == "serial":
        if address is not None:
            raise TinymlError("--address names a Ray cluster: use it with --executor ray", BAD_INPUT)
        yield serial
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise TinymlError("--executor ray needs Ray: pip install 'tinyml[scale]' (ray==2.60.0)", BAD_INPUT) from None
    started = not ray.is_initialized()
    if started:
        start_ray(ray, address)
    try:
        yield ray_map
    finally:
        if started:
            ray.shutdown()


def start_ray(ray, address: str | None) -> None:
    """`ray.init`: a local Ray on loopback, or the cluster at `address`. Ray gives its raylet a fixed 30 s to
    register, which a loaded machine can miss: a local start is tried twice. A failure is one line."""
    for attempt in range(1 if address else 2):
        try:
            if address is None:
                ray.init(num_cpus=LOCAL_CPUS, include_dashboard=False, _node_ip_address="127.0.0.1",
                         object_store_memory=OBJECT_STORE_BYTES, log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            return
        except Exception as exc:  # noqa: BLE001 - Ray raises bare Exception, ConnectionError, RuntimeError...
            ray.shutdown()
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            if address is not None or attempt == 1:
                raise TinymlError(f"cannot {'join Ray at ' + address if address else 'start a local Ray'}: {first}",
                                  DEVICE_FAILURE) from None
