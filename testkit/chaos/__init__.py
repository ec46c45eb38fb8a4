"""The fault suite's harness (issue 9): real processes, a programmable SMTP sink, a checker.

- sink_plan.py: what the sink answers (250 / 451 / 421 + disconnect / 550 at RCPT / delay /
  late answer / hang), decided per (Message-ID, attempt) from a seed: pure, unit-tested.
- sink_server.py: that sink as its own process (`python -m testkit.chaos.sink_server`); it
  re-reads its plan file at runtime and journals every attempt as one JSON line.
- sink.py: ChaosSink, the test's handle on that process (start, set_plan, journal, stop).
- redis_process.py: a redis-server of the test's own on a free port (SHUTDOWN NOSAVE, start
  again on the same port).
- cluster.py: a Cluster of real `followup scheduler` / `followup worker` subprocesses on one
  database, Redis and sink, with kill -9 / SIGTERM / restart and fast seeding of due touches.
- facts.py: reads what the database and the sink journal say into the checker's inputs.
- checker.py: Jepsen-style verdict (expected, delivered, lost, duplicated, unexpected,
  ambiguous, recovery, latency, attempts/s), one line per scenario: pure, unit-tested.
"""
