"""Process-wide default clients behind the module-level functions (placeholder, filled by the core)."""


def reset_default_clients() -> None:
    """Forget the default clients so the next module-level call builds them from the environment."""
