"""The card stack: everything that talks to a smart card through PC/SC. Imports only protocol.

The layers, bottom up: :mod:`hw.pcsc` (a PC/SC connection to one reader),
:mod:`hw.apdu_processor` (APDU framing, GET RESPONSE chaining, typed status
words), card profiles :mod:`hw.piv` and :mod:`hw.siths` (typed sessions), and
:mod:`hw.reader_watcher` (reader and card events). The virtual cards the tests
and the demo serve through vpcd are in :mod:`sim.vcard`, not here.
"""
