"""The exceptions Octavia's retry controllers retry, for sweeps of the flows in amphora.py."""

from __future__ import annotations

import pytest
from amphora import AmpConnectionRetry, ComputeWaitTimeoutException

#: ComputeRetry retries the compute wait's timeout, AmpRetry the amphora agent's
#: connection error; they answer REVERT_ALL to anything else, InjectedFault included.
RETRIED = {
    "*-octavia-compute-wait": ComputeWaitTimeoutException,
    "*-octavia-amp-compute-connectivity-wait": AmpConnectionRetry,
}


def pytest_flowfault_sweep_exc(item: pytest.Item) -> object:
    """What --flowfault-sweep's faults raise in the Octavia-shaped tests: the exceptions
    Octavia's retry controllers retry (anything else makes them revert at once)."""
    module = getattr(item, "module", None)  # a test function's module (pytest.Function)
    return RETRIED if getattr(module, "__name__", "") == "test_amphora_resilience" else None
