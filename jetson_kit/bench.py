"""`bench`: latency p50/p95/p99 at batch 1 and throughput per batch size of each engine, on the bundle's images.

Each timed call copies a batch to the GPU, executes the engine and copies the outputs back, then waits for the stream
(`EngineRunner.run` synchronizes), after `warmup` untimed calls. The power mode and clocks in force are recorded with
the run; nothing is changed unless asked (`--power-mode`, `--jetson-clocks`, run through `sudo -n`). Python 3.6+.
"""
import logging
import time

import numpy as np

from jetson_kit import device
from jetson_kit.errors import KitError

log = logging.getLogger(__name__)
PERCENTILES = (50, 95, 99)


def set_power(power_mode=None, max_clocks=False):
    """Apply the asked power mode and/or maximum clocks before measuring (root through `sudo -n`)."""
    commands = []
    if power_mode is not None:
        commands.append(["nvpmodel", "-m", str(int(power_mode))])
    if max_clocks:
        commands.append(["jetson_clocks"])
    for command in commands:
        if device.run_tool(device.as_root(command), timeout=60) is None:
            raise KitError("`{}` failed: it needs root (run `sudo -v` first; this never prompts) on a "
                           "Jetson".format(" ".join(command)))


def inputs(bundle, batch):
    """A float32 batch of real evaluation images (repeated when the bundle has fewer)."""
    images = bundle.images("evaluation")
    return bundle.normalized(images[np.arange(batch) % len(images)])


def latency_ms(runner, batch, warmup, repeats):
    """Milliseconds of each of `repeats` synchronized calls, after `warmup` calls."""
    for _ in range(warmup):
        runner.run(batch)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        runner.run(batch)
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def images_per_sec(runner, batch, warmup, iterations):
    for _ in range(warmup):
        runner.run(batch)
    started = time.perf_counter()
    for _ in range(iterations):
        runner.run(batch)
    return len(batch) * iterations / (time.perf_counter() - started)


def runner_for(session, plans, batch):
    """A runner of the plan whose profile takes `batch`."""
    for plan in plans:
        if min(plan.batch_sizes) <= batch <= max(plan.batch_sizes):
            return session.runner(plan)
    raise KitError("no engine takes batch {}".format(batch))


def bench(session, targets, warmup, repeats, iterations):
    if warmup < 0 or repeats < 1 or iterations < 1:
        raise KitError("--warmup must be >= 0, --repeats and --iterations >= 1")
    bundle = session.bundle

    def step(record, target, precision):
        plans = session.plans(target, precision)
        runs = session.runs
        smallest = min(bundle.batch_sizes)
        runner = runner_for(session, plans, smallest)
        try:
            samples = latency_ms(runner, inputs(bundle, smallest), warmup, repeats)
        finally:
            runner.close()
        for percentile in PERCENTILES:
            runs.metric(record, "latency_p{}_ms".format(percentile), float(np.percentile(samples, percentile)),
                        unit="ms")
        runs.metric(record, "latency_samples", len(samples))
        runs.metric(record, "latency_batch", smallest)
        for batch in sorted(bundle.batch_sizes):
            runner = runner_for(session, plans, batch)
            try:
                speed = images_per_sec(runner, inputs(bundle, batch), warmup, iterations)
            finally:
                runner.close()
            runs.metric(record, "throughput_b{}".format(batch), speed, unit="img/s")
            log.info("%s batch %d: %.1f img/s", target, batch, speed)
        record["params"]["bench"] = {"warmup": warmup, "repeats": repeats, "iterations": iterations,
                                     "timed": "host-to-device copy, execute, device-to-host copy, stream synchronized"}

    return session.each_target(targets, step, "bench")
