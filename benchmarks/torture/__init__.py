"""The torture script of issue #12: `python -m benchmarks torture`. Kills, corruptions and bad inputs, counted.

Each case sets up a tiny run, breaks it the way a hostile tester would, runs the real command
again and checks the promise: no run lost, stuck, silently restarted or silently corrupted; what
cannot be used is detected (and set aside, never deleted); bad input is one line and exit 2 with
nothing changed on disk. See docs/reliability.md for what each case does and the last counts.
"""
