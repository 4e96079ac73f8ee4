"""Turning what plants send into series the forecaster can train on."""
