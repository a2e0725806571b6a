"""Pure domain core: no framework imports here (enforced by tests/unit/domain/test_purity.py)."""
