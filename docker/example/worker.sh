#!/bin/sh
# A stand-in for the tutorial's example worker: it knows nothing about AMQP. It reads one work item
# on stdin, prints it, and takes a moment, like the Kubernetes example's worker.py.
item=$(cat)
echo "Processing $item"
sleep "${WORK_SECONDS:-1}"
