"""The examples' hooks (kept in octavia_faults.py, which mypy checks: tests/ has a
conftest module of its own)."""

from octavia_faults import pytest_flowfault_sweep_exc

__all__ = ["pytest_flowfault_sweep_exc"]
