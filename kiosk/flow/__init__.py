"""The unlock flow: a pure state machine (no I/O, no Kivy, no pyscard).

``transition(state, event, now, config)`` returns the next state and the effects
to run; :mod:`kiosk.controller` runs them and feeds their results back as
events. See docs/kiosk-flow.md for the diagram.
"""
