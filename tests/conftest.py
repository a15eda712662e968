"""Suite-wide settings.

Under CI (``CI`` set in the environment, as ``.ci/run`` runs) hypothesis is
derandomized: each property test runs a fixed set of examples, so a CI result is
reproducible and a red build points at a change, not at a newly drawn example.
Local runs keep hypothesis's random exploration (and its example database), which
is where new counterexamples are found and then kept as named regressions.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
