#!/bin/sh
# The tutorial's example worker, unmodified by wq: it knows nothing about AMQP.
# It reads one work item on stdin, prints it, and takes a moment, like the Kubernetes example's worker.py.
item=$(cat)
echo "Processing $item"
sleep "${WORK_SECONDS:-1}"
