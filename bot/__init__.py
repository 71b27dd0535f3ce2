"""The application shell: settings, wiring, database, audit log, scheduler and executor loop."""
