"""Everything that touches smart-card hardware.

The layers, bottom up: :mod:`hw.pcsc` (a PC/SC connection to one reader),
:mod:`hw.apdu_processor` (APDU framing, GET RESPONSE chaining, typed status
words), card profiles such as :mod:`hw.piv` (typed sessions), and
:mod:`hw.reader_watcher` (reader and card events). :mod:`sim.vcard` holds the
virtual cards that the demo and the tests serve to the real pcscd via vpcd.
"""
