"""Fixtures of the source unit tests."""

from __future__ import annotations

import pytest

from etl.sources.base import Context
from etl.vocab import Vocabulary

from .builders import SEEDS


@pytest.fixture(scope="module")
def ctx(request) -> Context:
    """Context with the seed vocabularies, and the test module's ORGS (organisations to match) if it has them."""
    return Context(Vocabulary.load(SEEDS), getattr(request.module, "ORGS", None))
