"""The technician's self-test: one command that says what is wrong with a kiosk and how to fix it.

Each check is a small function that looks at one thing (the reader, the card, the
network, the clock, the card service, the broker, the disk, the board, the units, the
screen) and returns a :class:`~provisioning.selftest.results.CheckResult` in plain words,
with a fix a technician can carry out for every failure. The printers in
:mod:`provisioning.selftest.report` are pure; :mod:`provisioning.selftest.command` is the
shell that reads the kiosk's configuration, runs the checks and prints.
"""
