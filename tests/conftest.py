"""Shared test settings."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "poolpipe",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.load_profile("poolpipe")
