"""Shared fixtures: float64 by default where asked, and a guard that tests write no file."""

from __future__ import annotations

import os

import pytest
import torch


def pytest_configure(config):
    # tiny tensors: intra-op threads only add overhead, and they thrash on a loaded machine
    torch.set_num_threads(1)


@pytest.fixture
def float64():
    """Run the test with float64 as torch's default dtype."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture
def no_files_written(tmp_path, monkeypatch):
    """Run in an empty temporary folder and fail if anything appears in it."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert os.listdir(tmp_path) == [], f"files were written: {os.listdir(tmp_path)}"
