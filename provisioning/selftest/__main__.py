"""``python -m provisioning.selftest``: the self-test without the rest of the tool."""

import sys

from provisioning.selftest.command import main

sys.exit(main())
