"""Command-line helpers shared by ``cli`` (one model) and ``leaderboard.command`` (many), so that
neither imports the other."""


def config_files(values):
    """Accept both ``--config_files a.yaml b.yaml`` and RecBole's
    ``--config_files "a.yaml b.yaml"``."""
    if not values:
        return None
    return [path for value in values for path in value.split() if path]
