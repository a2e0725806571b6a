"""Dash pages (registered by Dash from this folder; layouts only, no callbacks)."""
