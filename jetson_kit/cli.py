"""The Jetson program's command line: check, build, bench, eval, all (the last three in a row), train-time, stream.

Results go to one output folder (`--out`, default ./jetson-out): `runs.jsonl` (the history's import format), the
evaluation outputs under `eval/`, the engines under `engines/` and a copy of the bundle's manifest and ground truth,
so `python -m core jetson import FOLDER` on the server needs nothing else. Python 3.6 and later.
"""
import argparse
import logging
import os
import shutil
import sys

from jetson_kit.errors import KitError

FIXED_BATCH_CHOICES = ("auto", "yes", "no")
DATASET_TYPES = ("open_images", "voc")
MIN_TRAIN_EPOCHS = 3


def _session(args, need_bundle=True):
    from jetson_kit.session import Session

    return Session(args.bundle, args.out, cuda=args.cuda, fixed_batch=getattr(args, "fixed_batch", "auto"),
                   need_bundle=need_bundle)


def _copy_bundle_facts(session):
    """The manifest and ground truth travel with the results, for the server's import."""
    from jetson_kit.bundle import GROUND_TRUTH, MANIFEST

    for name in (MANIFEST, GROUND_TRUTH):
        shutil.copyfile(session.bundle.path(name), os.path.join(session.out, name))


def _finish(failures, session):
    from jetson_kit.records import RESULTS_ARCHIVE, write_archive

    write_archive(session.out)
    print("results: {} (on the server: python -m core jetson import FOLDER, or the Runs page's import of {})".format(
        session.out, RESULTS_ARCHIVE))
    for failure in failures:
        print("failed: " + failure, file=sys.stderr)
    return 1 if failures else 0


def run_check(args):
    from jetson_kit import check as check_command

    lines = check_command.check_lines(args.cuda, args.bundle if os.path.isdir(args.bundle) else None)
    for _, line in lines:
        print(line)
    return 0 if all(ok for ok, _ in lines) else 1


def _measure(args, steps):
    from jetson_kit import bench as bench_command
    from jetson_kit import build as build_command
    from jetson_kit import evaluation

    session = _session(args)
    try:
        session.bundle.verify()
        _copy_bundle_facts(session)
        targets = session.targets(args.targets)
        failures = []
        if "build" in steps:
            failures += build_command.build(session, targets)
            built = [(name, precision) for name, precision in targets
                     if not any(failure.startswith(name + ":") for failure in failures)]
            targets = built  # a target that did not build is neither benched nor evaluated
        if "bench" in steps:
            bench_command.set_power(args.power_mode, args.jetson_clocks)
            failures += bench_command.bench(session, targets, args.warmup, args.repeats, args.iterations)
        if "eval" in steps:
            failures += evaluation.evaluate(session, targets, args.eval_batch)
        return _finish(failures, session)
    finally:
        session.close()


def run_train_time(args):
    from jetson_kit import train_time

    session = _session(args, need_bundle=False)
    try:
        speed, seconds = train_time.train_time(session, args.ssd_dir, args.data, args.dataset_type, args.epochs,
                                               args.batch_size, args.workers, args.python, args.extra)
    finally:
        session.close()
    print("training: {:.2f} images/sec, {:.1f} s per epoch".format(speed, seconds))
    return _finish([], session)


def run_stream(args):
    from jetson_kit import stream
    from jetson_kit.bundle import MANIFEST
    from jetson_kit.files import read_json

    manifest = read_json(os.path.join(args.bundle, MANIFEST), "bundle manifest")
    return stream.stream(manifest, args.jetpack, args.host, args.port, args.seconds,
                         args.dry_run)


def _measure_options(parser, steps):
    parser.add_argument("--targets", help="comma-separated targets of the bundle (default: all of them)")
    parser.add_argument("--fixed-batch", default="auto", choices=FIXED_BATCH_CHOICES,
                        help="one engine per batch size from the fixed-batch graphs (auto: on TensorRT 7)")
    if "bench" in steps:
        parser.add_argument("--warmup", type=int, default=20, help="untimed calls before timing (default 20)")
        parser.add_argument("--repeats", type=int, default=200, help="timed batch-1 calls (default 200)")
        parser.add_argument("--iterations", type=int, default=50, help="timed calls per batch size (default 50)")
        parser.add_argument("--power-mode", type=int, help="set this nvpmodel mode first (sudo -n)")
        parser.add_argument("--jetson-clocks", action="store_true", help="run jetson_clocks first (sudo -n)")
    if "eval" in steps:
        parser.add_argument("--eval-batch", type=int, help="images per call (default: the largest batch size)")
    parser.set_defaults(func=lambda args: _measure(args, steps))


def _common_options():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bundle", default="bundle", help="the folder `python -m core jetson pack` wrote")
    common.add_argument("--out", default="jetson-out", help="results folder (default jetson-out)")
    common.add_argument("--cuda", default="auto", choices=("auto", "pycuda", "cudart"),
                        help="CUDA through pycuda or libcudart (auto: pycuda when importable)")
    common.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return common


def build_parser():
    parser = argparse.ArgumentParser(prog="jetson.sh", description=__doc__.split("\n\n")[0])
    common = _common_options()
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    commands.add_parser("check", parents=[common], help="what this Jetson has, and what is missing").set_defaults(func=run_check)
    for name, steps, text in (("build", ("build",), "build the engines (FP32, FP16, INT8)"),
                              ("bench", ("bench",), "latency and throughput of the built engines"),
                              ("eval", ("eval",), "raw outputs of every evaluation image"),
                              ("all", ("build", "bench", "eval"), "build, bench and eval")):
        _measure_options(commands.add_parser(name, parents=[common], help=text), steps)
    training = commands.add_parser("train-time", parents=[common], help="time pytorch-ssd's train_ssd.py (Images/sec, Time per epoch)")
    training.add_argument("--data", required=True, help="the dataset folder train_ssd.py reads")
    training.add_argument("--dataset-type", default="open_images", choices=DATASET_TYPES)
    training.add_argument("--ssd-dir", help="folder of train_ssd.py (default: jetson-inference's)")
    training.add_argument("--epochs", type=int, default=MIN_TRAIN_EPOCHS)
    training.add_argument("--batch-size", type=int, default=4)
    training.add_argument("--workers", type=int, default=2)
    training.add_argument("--python", default=sys.executable, help="the Python that runs train_ssd.py")
    training.add_argument("extra", nargs="*", help="more train_ssd.py options, after --")
    training.set_defaults(func=run_train_time)
    sending = commands.add_parser("stream", parents=[common], help="send the camera to the server (RTP H.265)")
    sending.add_argument("--jetpack", type=int, choices=(4, 5), help="4, or 5 for 5.x and later (default: from L4T)")
    sending.add_argument("--host", help="the server's address (default: the one packed into the bundle)")
    sending.add_argument("--port", type=int, help="the server's UDP port (default: the packed one)")
    sending.add_argument("--seconds", type=float, default=0, help="stop after this long (default: until Ctrl-C)")
    sending.add_argument("--dry-run", action="store_true", help="print the command only")
    sending.set_defaults(func=run_stream)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="[jetson] %(message)s")
    try:
        return int(args.func(args) or 0)
    except KitError as error:
        print("error: {}".format(error), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
