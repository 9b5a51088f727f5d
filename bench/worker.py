#!/usr/bin/python3 -S
# A realistic short worker for the bench: a Python interpreter start (without site: ~10-17 ms here),
# then the item from stdin, a little work, one line out.
import sys
item = sys.stdin.buffer.read()
sys.stdout.buffer.write(item.upper())
