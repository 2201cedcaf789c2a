"""Suite-wide test settings."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Property tests check behaviour, never speed: on a loaded 2-core CI box a single
# example can exceed Hypothesis's default 200 ms deadline and fail the build for
# nothing. Tests that set their own settings still inherit these defaults.
settings.register_profile(
    "suite", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("suite")

# `make mutate` runs the suite once per mutant: the same examples every time and no
# example database carried from one mutant to the next, so a mutant's verdict does not
# depend on which mutants ran before it.
settings.register_profile("mutation", parent=settings.get_profile("suite"), derandomize=True, database=None)
