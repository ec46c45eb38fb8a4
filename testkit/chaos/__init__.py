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
- postgres_instance.py: a PostgreSQL of the test's own (initdb/pg_ctl on a temp folder and a
  free port): crash (immediate) or clean (fast) stop, start again on the same port.
- proxy.py: a TCP proxy on 127.0.0.1 the test controls: pass, blackhole (accept, forward
  nothing, keep sockets open), heal (or heal with reset).
- claim_audit.py: PostgreSQL triggers noting each claim (when its transaction began, its lease,
  the connection's application_name) and each exit, with exact commit times.
"""
