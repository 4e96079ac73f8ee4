"""The service layer: every write of the API and the CLI, as keyword-only functions."""
