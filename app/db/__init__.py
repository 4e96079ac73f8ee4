"""Storage: the typed models, the engine and session factory, and running the migrations."""
