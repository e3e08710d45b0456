"""A stand-in for pytorch-ssd's train_ssd.py: its options, and its log lines at the points it writes them (the
dataset size, a step line per step with --debug-steps 1, a validation line after epoch 0 and the last epoch)."""
import argparse
import logging
import os
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--dataset-type", default="open_images")
parser.add_argument("--data", "--datasets", nargs="+", default=["data"])
parser.add_argument("--model-dir", "--checkpoint-folder", default="models/")
parser.add_argument("--batch-size", type=int, default=4)
parser.add_argument("--workers", "--num-workers", type=int, default=2)
parser.add_argument("--epochs", "--num-epochs", type=int, default=30)
parser.add_argument("--validation-epochs", type=int, default=1)
parser.add_argument("--debug-steps", type=int, default=10)
args = parser.parse_args()
logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s - %(message)s",
                    datefmt="%Y-%m-%d %H:%M:%S")
images = 12
if not os.path.isdir(args.data[0]):
    logging.fatal("no dataset at %s", args.data[0])
    sys.exit(1)
os.makedirs(args.model_dir, exist_ok=True)
logging.info("Train dataset size: %d", images)
logging.info("Start training from epoch 0.")
steps = images // args.batch_size
for epoch in range(args.epochs):
    for step in range(steps):
        time.sleep(0.01)
        if step and step % args.debug_steps == 0:
            logging.info("Epoch: %d, Step: %d/%d, Avg Loss: 3.0, Avg Regression Loss 1.0, Avg Classification Loss: "
                         "2.0", epoch, step, steps)
    if epoch % args.validation_epochs == 0 or epoch == args.epochs - 1:
        logging.info("Epoch: %d, Validation Loss: 2.5, Validation Regression Loss 1.0, Validation Classification "
                     "Loss: 1.5", epoch)
        open(os.path.join(args.model_dir, "mb1-ssd-Epoch-%d-Loss-2.5.pth" % epoch), "w").close()
logging.info("Task done, exiting program.")
