"""The plumbing that runs the flow: settings, clock, database, broker, actors, the scheduler
loop and the runtime that ties them together at a process's edge."""
